process SCSSL_EMBED {
    tag "${meta.id}"
    label 'process_gpu'

    conda "${projectDir}/environment.yml"
    container "${params.scssl_container}"

    input:
    tuple val(meta), path(h5ad, stageAs: 'input/*')
    path(checkpoint, stageAs: 'checkpoint/*')

    output:
    tuple val(meta), path("embedded.h5ad"), emit: h5ad
    tuple val("${task.process}"), val('scssl'), eval('scssl --version | sed "s/^scssl, version //"'), emit: versions_scssl, topic: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    """
    scssl embed \\
        --input ${h5ad} \\
        --checkpoint ${checkpoint} \\
        --output embedded.h5ad \\
        --threads ${task.cpus} \\
        ${args}
    """

    stub:
    """
    touch embedded.h5ad
    """
}
