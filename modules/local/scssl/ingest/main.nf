process SCSSL_INGEST {
    tag "${meta.id}"
    label 'process_low'

    conda "${projectDir}/environment.yml"
    container "${params.scssl_container}"

    input:
    tuple val(meta), path(counts, stageAs: 'input/*')

    output:
    tuple val(meta), path("${prefix}.h5ad"), emit: h5ad
    tuple val("${task.process}"), val('scssl'), eval('scssl --version | sed "s/^scssl, version //"'), emit: versions_scssl, topic: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    prefix = task.ext.prefix ?: "${meta.id}"
    // samplesheet metadata and per-sample QC overrides travel inside the h5ad
    def meta_args = meta
        .findAll { key, value -> key != 'id' && value != null && value != '' }
        .collect { key, value -> "--meta '${key}=${value}'" }
        .join(' ')
    """
    scssl ingest \\
        --input ${counts} \\
        --output ${prefix}.h5ad \\
        --sample ${meta.id} \\
        ${meta_args} \\
        ${args}
    """

    stub:
    prefix = task.ext.prefix ?: "${meta.id}"
    """
    touch ${prefix}.h5ad
    """
}
