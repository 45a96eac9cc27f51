process SCSSL_FED_INIT {
    label 'process_single'

    conda "${projectDir}/environment.yml"
    container "${params.scssl_container}"

    input:
    path(genes, stageAs: 'genes/*')

    output:
    path("global"), emit: global
    tuple val("${task.process}"), val('scssl'), eval('scssl --version | sed "s/^scssl, version //"'), emit: versions_scssl, topic: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    def genes_args = [genes].flatten().collect { "--genes ${it}" }.join(' ')
    // at the coordinator: the seeded, untrained round-0 global model on the shared genes
    """
    scssl federate init \\
        ${genes_args} \\
        --output global \\
        ${args}
    """

    stub:
    """
    mkdir -p global
    touch global/model.safetensors global/config.json global/history.tsv
    """
}
