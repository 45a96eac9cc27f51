/*
    Federated pretraining: every site (samplesheet column site, else each sample) merges and
    preprocesses its own samples; the shared gene list is --fed_genes or the union of the
    sites' HVG names; --fed_rounds rounds of (SCSSL_FED_LOCAL_TRAIN at every site in
    parallel -> SCSSL_FED_AGGREGATE, FedAvg) run by workflow recursion; the final global model
    then feeds EMBED -> CLUSTER -> ANNOTATE -> EVALUATE at every site and REPORT per sample.
    Only the site folders of SCSSL_FED_LOCAL_TRAIN (weights, config, cell count, losses)
    reach the coordinator's processes (SCSSL_FED_INIT, SCSSL_FED_AGGREGATE).
*/

include { SCSSL_MERGE           } from '../../../modules/local/scssl/merge'
include { SCSSL_PREPROCESS      } from '../../../modules/local/scssl/preprocess'
include { SCSSL_FED_GENES       } from '../../../modules/local/scssl/fed_genes'
include { SCSSL_FED_INIT        } from '../../../modules/local/scssl/fed_init'
include { SCSSL_FED_LOCAL_TRAIN } from '../../../modules/local/scssl/fed_local_train'
include { SCSSL_FED_AGGREGATE   } from '../../../modules/local/scssl/fed_aggregate'
include { SCSSL_EMBED           } from '../../../modules/local/scssl/embed'
include { SCSSL_REPORT          } from '../../../modules/local/scssl/report'
include { SCSSL_MULTIQC         } from '../../../modules/local/scssl/multiqc'
include { ANNOTATE              } from '../annotate'

/*
    One round; recursed with .recurse(...).times(params.fed_rounds): the inputs and outputs
    match, the global model is fed back and the sites pass through unchanged.
*/
workflow FED_ROUND {

    take:
    ch_global   // value channel: path(global model folder the sites start from)
    ch_sites    // value channel: [ [ val(meta), path(preprocessed h5ad) ], ... ] every site

    main:
    SCSSL_FED_LOCAL_TRAIN ( ch_sites.flatMap { sites -> sites }, ch_global )
    SCSSL_FED_AGGREGATE (
        SCSSL_FED_LOCAL_TRAIN.out.site.map { meta, folder -> folder }.collect(sort: { a, b -> a.name <=> b.name }),
        ch_global
    )

    emit:
    global = SCSSL_FED_AGGREGATE.out.global   // channel: path(next round's global model)
    sites  = ch_sites                         // channel: unchanged
}

workflow FEDERATED {

    take:
    ch_h5ad       // channel: [ val(meta), path(QC'd h5ad) ] per sample
    ch_qc_files   // channel: [ val(meta), [ qc summary json, qc cells tsv, ... ] ] per sample
    ch_multiqc    // channel: path(*_mqc files of the per-sample steps)

    main:
    // at every site: its own samples, merged and preprocessed
    ch_site_h5ads = ch_h5ad
        .map { meta, h5ad -> [ meta.site ?: meta.id, h5ad ] }
        .groupTuple(sort: true)
        .map { site, files -> [ [ id: site, site: site ], files ] }
    SCSSL_MERGE ( ch_site_h5ads )
    SCSSL_PREPROCESS ( SCSSL_MERGE.out.h5ad )
    ch_pre = SCSSL_PREPROCESS.out.h5ad   // [ val(meta), path(h5ad) ] per site

    // the shared gene list: given, or the union of the sites' HVG names (sites by name)
    if (params.fed_genes) {
        ch_genes = channel.value(file(params.fed_genes, checkIfExists: true))
    } else {
        SCSSL_FED_GENES ( ch_pre )
        ch_genes = SCSSL_FED_GENES.out.genes.collect(sort: { a, b -> a.name <=> b.name })
    }
    SCSSL_FED_INIT ( ch_genes )

    // --fed_rounds rounds: local training at every site, then FedAvg
    FED_ROUND
        .recurse( SCSSL_FED_INIT.out.global, ch_pre.toSortedList { a, b -> a[0].id <=> b[0].id } )
        .times( params.fed_rounds )
    ch_global = FED_ROUND.out.global.last()   // the last round's global model

    // at every site: the usual chain with the federated encoder
    SCSSL_EMBED ( ch_pre, ch_global )
    ANNOTATE ( SCSSL_EMBED.out.h5ad, ch_global )

    // per sample: a report on its site's cells
    ch_site_results = ANNOTATE.out.h5ad
        .join( ANNOTATE.out.metrics )
        .map { meta, h5ad, metrics -> [ meta.site, h5ad, metrics ] }
    ch_report = ch_qc_files
        .map { meta, files -> [ meta.site ?: meta.id, meta + [ site: meta.site ?: meta.id ], files ] }
        .combine( ch_site_results, by: 0 )
        .multiMap { site, meta, files, h5ad, metrics ->
            qc:      [ meta, files ]
            h5ad:    h5ad
            metrics: metrics
        }
    SCSSL_REPORT ( ch_report.qc, ch_report.h5ad, ch_global, ch_report.metrics )

    ch_config = channel.value(file("${projectDir}/assets/multiqc_config.yml", checkIfExists: true))
    ch_extra  = params.multiqc_config
        ? channel.value(file(params.multiqc_config, checkIfExists: true))
        : channel.value([])
    SCSSL_MULTIQC (
        ch_multiqc
            .mix(ANNOTATE.out.multiqc)
            .mix(SCSSL_REPORT.out.multiqc.map { meta, files -> files }.flatten())
            .mix(ch_global.map { global -> global.resolve('scssl_fedloss_mqc.json') })
            .collect(),
        ch_config,
        ch_extra
    )

    emit:
    annotated  = ANNOTATE.out.h5ad            // channel: [ val(meta), path(annotated h5ad) ] per site
    checkpoint = ch_global                    // channel: path(final global model)
    multiqc    = SCSSL_MULTIQC.out.report     // channel: path(multiqc_report.html)
}
