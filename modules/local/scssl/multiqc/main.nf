process SCSSL_MULTIQC {
    label 'process_single'

    conda "${projectDir}/environment.yml"
    container "${params.scssl_container}"

    input:
    path(multiqc_files, stageAs: 'input/?/*')
    path(multiqc_config)
    path(extra_multiqc_config)

    output:
    path("multiqc/multiqc_report.html"),  emit: report
    path("multiqc/multiqc_report_data"),  emit: data
    // not on the versions topic: its inputs include the collected topic (a cycle otherwise)
    tuple val("${task.process}"), val('scssl'), eval('scssl --version | sed "s/^scssl, version //"'), emit: versions_scssl
    tuple val("${task.process}"), val('multiqc'), eval('multiqc --version | sed "s/.*version //"'), emit: versions_multiqc

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    def extra = extra_multiqc_config ? "--config ${extra_multiqc_config}" : ''
    """
    scssl multiqc \\
        --input input \\
        --output multiqc \\
        --config ${multiqc_config} \\
        ${extra} \\
        ${args}
    """

    stub:
    """
    mkdir -p multiqc/multiqc_report_data
    touch multiqc/multiqc_report.html
    """
}
