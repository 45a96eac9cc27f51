/*
========================================================================================
    SCSSL: the DAG
========================================================================================
    per sample INGEST -> QC; MERGE -> PREPROCESS -> PRETRAIN (or --pretrained_model) ->
    EMBED -> CLUSTER -> [FINETUNE on --reference] -> ANNOTATE -> EVALUATE; per sample
    REPORT; SUMMARY and MULTIQC over every step.
----------------------------------------------------------------------------------------
*/

include { INGEST_QC          } from '../subworkflows/local/ingest_qc'
include { SSL                } from '../subworkflows/local/ssl'
include { ANNOTATE           } from '../subworkflows/local/annotate'
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

    // all samples: one AnnData, normalized, HVGs, PCA
    SCSSL_MERGE ( INGEST_QC.out.h5ad.map { meta, h5ad -> h5ad }.collect() )
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
        INGEST_QC.out.summary.join(INGEST_QC.out.cells).map { meta, summary, cells -> [ meta, [ summary, cells ].flatten() ] },
        ANNOTATE.out.h5ad,
        SSL.out.checkpoint,
        ANNOTATE.out.metrics,
        ch_versions,
        INGEST_QC.out.multiqc.map { meta, file -> file }.mix(ANNOTATE.out.multiqc)
    )

    emit:
    annotated      = ANNOTATE.out.h5ad
    checkpoint     = SSL.out.checkpoint
    summary        = REPORT.out.summary
    multiqc_report = REPORT.out.multiqc
}
