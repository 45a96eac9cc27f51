process SCSSL_MERGE {
    tag "${meta.id}"
    label 'process_medium'

    conda "${projectDir}/environment.yml"
    container "${params.scssl_container}"

    input:
    tuple val(meta), path(h5ads, stageAs: 'input/*')

    output:
    tuple val(meta), path("merged.h5ad"), emit: h5ad
    tuple val("${task.process}"), val('scssl'), eval('scssl --version | sed "s/^scssl, version //"'), emit: versions_scssl, topic: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    def inputs = h5ads.collect { "--input ${it}" }.join(' ')
    """
    scssl merge \\
        ${inputs} \\
        --output merged.h5ad \\
        ${args}
    """

    stub:
    """
    touch merged.h5ad
    """
}
