/*
    Reports: one self-contained HTML REPORT per sample, the run's SUMMARY (summary.json for
    a LIMS, loss curve and versions for MultiQC), and the MULTIQC run report.
*/

include { SCSSL_REPORT  } from '../../../modules/local/scssl/report'
include { SCSSL_SUMMARY } from '../../../modules/local/scssl/summary'
include { SCSSL_MULTIQC } from '../../../modules/local/scssl/multiqc'

workflow REPORT {

    take:
    ch_qc_files      // channel: [ val(meta), [ qc summary json, qc cells tsv, ... ] ] per sample
    ch_annotated     // channel: path(annotated h5ad)
    ch_checkpoint    // channel: path(checkpoint folder), or [] with none
    ch_metrics       // channel: path(metrics.json)
    ch_versions      // channel: path(software versions YAML)
    ch_multiqc       // channel: path(*_mqc files of every step)

    main:
    SCSSL_REPORT ( ch_qc_files, ch_annotated, ch_checkpoint, ch_metrics )

    SCSSL_SUMMARY (
        ch_qc_files.map { meta, files -> files }.flatten().collect(),
        ch_annotated,
        ch_checkpoint,
        ch_metrics,
        ch_versions
    )

    ch_config = channel.value(file("${projectDir}/assets/multiqc_config.yml", checkIfExists: true))
    ch_extra  = params.multiqc_config
        ? channel.value(file(params.multiqc_config, checkIfExists: true))
        : channel.value([])
    SCSSL_MULTIQC (
        ch_multiqc
            .mix(SCSSL_REPORT.out.multiqc.map { meta, files -> files }.flatten())
            .mix(SCSSL_SUMMARY.out.loss, SCSSL_SUMMARY.out.versions_mqc)
            .collect(),
        ch_config,
        ch_extra
    )

    emit:
    html    = SCSSL_REPORT.out.html      // channel: [ val(meta), path(html) ]
    summary = SCSSL_SUMMARY.out.json     // channel: path(summary.json)
    multiqc = SCSSL_MULTIQC.out.report   // channel: path(multiqc_report.html)
}
