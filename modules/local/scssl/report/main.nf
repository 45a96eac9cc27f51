process SCSSL_REPORT {
    tag "${meta.id}"
    label 'process_low'

    conda "${projectDir}/environment.yml"
    container "${params.scssl_container}"

    input:
    tuple val(meta), path(qc_files, stageAs: 'qc/*')
    path(h5ad, stageAs: 'input/*')
    path(checkpoint, stageAs: 'checkpoint/*')
    path(metrics, stageAs: 'metrics/*')

    output:
    tuple val(meta), path("${meta.id}.report.html"), emit: html
    tuple val(meta), path("${meta.id}_scssl_*_mqc.tsv"), emit: multiqc, optional: true
    tuple val("${task.process}"), val('scssl'), eval('scssl --version | sed "s/^scssl, version //"'), emit: versions_scssl, topic: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    def checkpoint_arg = checkpoint ? "--checkpoint ${checkpoint}" : ''
    def metrics_arg = metrics ? "--metrics ${metrics}" : ''
    """
    scssl report \\
        --input ${h5ad} \\
        --output . \\
        --sample ${meta.id} \\
        --qc-dir qc \\
        ${checkpoint_arg} \\
        ${metrics_arg} \\
        --seed ${params.seed} \\
        ${args}
    """

    stub:
    """
    touch ${meta.id}.report.html
    """
}
