process SCSSL_QC {
    tag "${meta.id}"
    label 'process_medium'

    conda "${projectDir}/environment.yml"
    container "${params.scssl_container}"

    input:
    tuple val(meta), path(h5ad, stageAs: 'input/*')

    output:
    tuple val(meta), path("${prefix}.h5ad"),                 emit: h5ad
    tuple val(meta), path("${prefix}_qc_summary.{tsv,json}"), emit: summary
    tuple val(meta), path("${prefix}_qc_cells.tsv.gz"),      emit: cells
    tuple val(meta), path("${prefix}_qc_mqc.tsv"),           emit: multiqc
    tuple val(meta), path("${prefix}_qc.png"),               emit: plot
    tuple val("${task.process}"), val('scssl'), eval('scssl --version | sed "s/^scssl, version //"'), emit: versions_scssl, topic: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    prefix = task.ext.prefix ?: "${meta.id}"
    """
    scssl qc \\
        --input ${h5ad} \\
        --output ${prefix}.h5ad \\
        --report-dir . \\
        --threads ${task.cpus} \\
        ${args}
    """

    stub:
    prefix = task.ext.prefix ?: "${meta.id}"
    """
    touch ${prefix}.h5ad ${prefix}_qc_summary.tsv ${prefix}_qc_summary.json ${prefix}_qc_mqc.tsv ${prefix}_qc.png
    echo | gzip > ${prefix}_qc_cells.tsv.gz
    """
}
