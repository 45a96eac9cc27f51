/*
========================================================================================
    SCSSL: the DAG
========================================================================================
    per sample INGEST -> QC; MERGE -> PREPROCESS -> PRETRAIN (or --pretrained_model) ->
    EMBED -> CLUSTER -> [FINETUNE on --reference] -> ANNOTATE -> EVALUATE; per sample
    REPORT; SUMMARY and MULTIQC over every step. With --federated: per site MERGE ->
    PREPROCESS, --fed_rounds rounds of FED_LOCAL_TRAIN (every site) -> FED_AGGREGATE, then
    per site EMBED -> CLUSTER -> ANNOTATE -> EVALUATE and per sample REPORT; MULTIQC.
----------------------------------------------------------------------------------------
*/

include { INGEST_QC          } from '../subworkflows/local/ingest_qc'
include { SSL                } from '../subworkflows/local/ssl'
include { ANNOTATE           } from '../subworkflows/local/annotate'
include { FEDERATED          } from '../subworkflows/local/federated'
include { REPORT             } from '../subworkflows/local/report'
include { SCSSL_MERGE        } from '../modules/local/scssl/merge'
include { SCSSL_PREPROCESS   } from '../modules/local/scssl/preprocess'
include { versionsToYaml     } from '../subworkflows/local/utils_scssl'

workflow SCSSL {

    take:
    ch_samplesheet   // channel: [ val(meta), path(counts) ]

    main:
    // per sample: counts -> h5ad -> QC-filtered h5ad
    INGEST_QC ( ch_samplesheet )
    ch_qc_files = INGEST_QC.out.summary.join(INGEST_QC.out.cells).map { meta, summary, cells -> [ meta, [ summary, cells ].flatten() ] }

    if (params.federated) {
        // every site trains on its own cells; only weights and cell counts travel
        FEDERATED (
            INGEST_QC.out.h5ad,
            ch_qc_files,
            INGEST_QC.out.multiqc.map { meta, file -> file }
        )
        ch_annotated      = FEDERATED.out.annotated
        ch_checkpoint     = FEDERATED.out.checkpoint
        ch_summary        = channel.empty()
        ch_multiqc_report = FEDERATED.out.multiqc
    } else {
        // all samples: one AnnData, normalized, HVGs, PCA
        SCSSL_MERGE ( INGEST_QC.out.h5ad.map { meta, h5ad -> h5ad }.collect().map { files -> [ [id: 'all'], files ] } )
        SCSSL_PREPROCESS ( SCSSL_MERGE.out.h5ad )

        // self-supervised pretraining (or a checkpoint from an earlier run) and embedding
        SSL ( SCSSL_PREPROCESS.out.h5ad )

        // clusters, cell types, metrics
        ANNOTATE ( SSL.out.h5ad, SSL.out.checkpoint )

        // software versions of every process, as one YAML (pipeline_info/ and the reports)
        ch_versions = channel.topic('versions')
            .unique()
            .toList()
            .map { rows -> versionsToYaml(rows) }
            .collectFile(
                name: 'scssl_software_versions.yml',
                storeDir: "${params.outdir}/pipeline_info",
                newLine: false
            )

        REPORT (
            ch_qc_files,
            ANNOTATE.out.h5ad.map { meta, h5ad -> h5ad },
            SSL.out.checkpoint,
            ANNOTATE.out.metrics.map { meta, json -> json },
            ch_versions,
            INGEST_QC.out.multiqc.map { meta, file -> file }.mix(ANNOTATE.out.multiqc)
        )
        ch_annotated      = ANNOTATE.out.h5ad
        ch_checkpoint     = SSL.out.checkpoint
        ch_summary        = REPORT.out.summary
        ch_multiqc_report = REPORT.out.multiqc
    }

    emit:
    annotated      = ch_annotated        // channel: [ val(meta), path(annotated h5ad) ] (per site with --federated)
    checkpoint     = ch_checkpoint       // channel: path(checkpoint folder; the global model with --federated)
    summary        = ch_summary          // channel: path(summary.json); empty with --federated
    multiqc_report = ch_multiqc_report   // channel: path(multiqc_report.html)
}
