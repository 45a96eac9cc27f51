/*
========================================================================================
    SCSSL: the DAG
========================================================================================
    per sample INGEST -> QC; MERGE -> PREPROCESS -> PRETRAIN (or --pretrained_model) ->
    EMBED; MULTIQC over every step's *_mqc files and the software versions.
----------------------------------------------------------------------------------------
*/

include { INGEST_QC          } from '../subworkflows/local/ingest_qc'
include { SSL                } from '../subworkflows/local/ssl'
include { SCSSL_MERGE        } from '../modules/local/scssl/merge'
include { SCSSL_PREPROCESS   } from '../modules/local/scssl/preprocess'
include { MULTIQC            } from '../modules/local/multiqc'
include { versionsToYaml     } from '../subworkflows/local/utils_scssl'

workflow SCSSL {

    take:
    ch_samplesheet   // channel: [ val(meta), path(counts) ]

    main:
    ch_multiqc_files = channel.empty()

    // per sample: counts -> h5ad -> QC-filtered h5ad
    INGEST_QC ( ch_samplesheet )
    ch_multiqc_files = ch_multiqc_files.mix(INGEST_QC.out.multiqc.map { meta, file -> file })

    // all samples: one AnnData, normalized, HVGs, PCA
    SCSSL_MERGE ( INGEST_QC.out.h5ad.map { meta, h5ad -> h5ad }.collect() )
    SCSSL_PREPROCESS ( SCSSL_MERGE.out.h5ad )

    // self-supervised pretraining (or a checkpoint from an earlier run) and embedding
    SSL ( SCSSL_PREPROCESS.out.h5ad )

    // software versions from every process, as one YAML for MultiQC and pipeline_info/
    ch_versions_yaml = channel.topic('versions')
        .toList()
        .map { rows -> versionsToYaml(rows) }
        .collectFile(
            name: 'scssl_software_mqc_versions.yml',
            storeDir: "${params.outdir}/pipeline_info",
            newLine: false
        )

    ch_multiqc_config = channel.value(file("${projectDir}/assets/multiqc_config.yml", checkIfExists: true))
    ch_multiqc_extra  = params.multiqc_config
        ? channel.value(file(params.multiqc_config, checkIfExists: true))
        : channel.value([])
    MULTIQC (
        ch_multiqc_files.mix(ch_versions_yaml).collect(),
        ch_multiqc_config,
        ch_multiqc_extra
    )

    emit:
    embedded       = SSL.out.h5ad
    checkpoint     = SSL.out.checkpoint
    multiqc_report = MULTIQC.out.report
}
