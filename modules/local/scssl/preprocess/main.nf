process SCSSL_PREPROCESS {
    tag "${meta.id}"
    label 'process_medium'

    conda "${projectDir}/environment.yml"
    container "${params.scssl_container}"

    input:
    tuple val(meta), path(h5ad, stageAs: 'input/*')

    output:
    tuple val(meta), path("preprocessed.h5ad"),     emit: h5ad
    tuple val(meta), path("preprocessed_hvg.h5ad"), emit: hvg
    tuple val("${task.process}"), val('scssl'), eval('scssl --version | sed "s/^scssl, version //"'), emit: versions_scssl, topic: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    """
    scssl preprocess \\
        --input ${h5ad} \\
        --output preprocessed.h5ad \\
        --hvg-output preprocessed_hvg.h5ad \\
        --threads ${task.cpus} \\
        ${args}
    """

    stub:
    """
    touch preprocessed.h5ad preprocessed_hvg.h5ad
    """
}
