process MULTIQC {
    label 'process_single'

    conda "${projectDir}/environment.yml"
    container "${params.scssl_container}"

    input:
    path(multiqc_files, stageAs: 'input/?/*')
    path(multiqc_config)
    path(extra_multiqc_config)

    output:
    path("multiqc_report.html"), emit: report
    path("multiqc_data"),        emit: data
    tuple val("${task.process}"), val('multiqc'), eval('multiqc --version | sed "s/.*version //"'), emit: versions_multiqc, topic: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    def config = multiqc_config ? "--config ${multiqc_config}" : ''
    def extra_config = extra_multiqc_config ? "--config ${extra_multiqc_config}" : ''
    """
    multiqc \\
        --force \\
        --no-version-check \\
        ${config} \\
        ${extra_config} \\
        ${args} \\
        input
    """

    stub:
    """
    mkdir multiqc_data
    touch multiqc_report.html
    """
}
