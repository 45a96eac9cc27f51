process SCSSL_EVALUATE {
    tag "${meta.id}"
    label 'process_medium'

    conda "${projectDir}/environment.yml"
    container "${params.scssl_container}"

    input:
    tuple val(meta), path(h5ad, stageAs: 'input/*')

    output:
    tuple val(meta), path("metrics.json"), emit: json
    path("metrics_mqc.tsv"),         emit: multiqc
    path("metrics_confusion*"),      emit: confusion, optional: true
    tuple val("${task.process}"), val('scssl'), eval('scssl --version | sed "s/^scssl, version //"'), emit: versions_scssl, topic: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    """
    scssl evaluate \\
        --input ${h5ad} \\
        --output metrics.json \\
        --threads ${task.cpus} \\
        ${args}
    """

    stub:
    """
    touch metrics.json metrics_mqc.tsv
    """
}
