process SCSSL_FED_GENES {
    tag "${meta.id}"
    label 'process_single'

    conda "${projectDir}/environment.yml"
    container "${params.scssl_container}"

    input:
    tuple val(meta), path(h5ad, stageAs: 'input/*')

    output:
    path("${meta.id}.txt"), emit: genes
    tuple val("${task.process}"), val('scssl'), eval('scssl --version | sed "s/^scssl, version //"'), emit: versions_scssl, topic: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    // at the site: its highly variable gene names (names only, no values)
    """
    scssl federate genes \\
        --input ${h5ad} \\
        --output ${meta.id}.txt \\
        ${args}
    """

    stub:
    """
    touch ${meta.id}.txt
    """
}
