process SCSSL_SUMMARY {
    label 'process_single'

    conda "${projectDir}/environment.yml"
    container "${params.scssl_container}"

    input:
    path(qc_files, stageAs: 'qc/*')
    path(h5ad, stageAs: 'input/*')
    path(checkpoint, stageAs: 'checkpoint/*')
    path(metrics, stageAs: 'metrics/*')
    path(versions, stageAs: 'versions/*')

    output:
    path("summary.json"),               emit: json
    path("scssl_loss_mqc.json"),        emit: loss, optional: true
    path("scssl_mqc_versions.yml"),     emit: versions_mqc
    // not on the versions topic: this process consumes the collected topic (a cycle otherwise)
    tuple val("${task.process}"), val('scssl'), eval('scssl --version | sed "s/^scssl, version //"'), emit: versions_scssl

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    def checkpoint_arg = checkpoint ? "--checkpoint ${checkpoint}" : ''
    def metrics_arg = metrics ? "--metrics ${metrics}" : ''
    def versions_arg = [versions].flatten().findAll { it }.collect { "--versions ${it}" }.join(' ')
    """
    scssl summary \\
        --input ${h5ad} \\
        --output summary.json \\
        --qc-dir qc \\
        ${checkpoint_arg} \\
        ${metrics_arg} \\
        ${versions_arg} \\
        ${args}
    """

    stub:
    """
    touch summary.json scssl_mqc_versions.yml
    """
}
