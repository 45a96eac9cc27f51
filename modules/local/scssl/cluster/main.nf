process SCSSL_CLUSTER {
    tag "${meta.id}"
    label 'process_medium'

    conda "${projectDir}/environment.yml"
    container "${params.scssl_container}"

    input:
    tuple val(meta), path(h5ad, stageAs: 'input/*')

    output:
    tuple val(meta), path("clustered.h5ad"), emit: h5ad
    path("clustered_markers.tsv"),       emit: markers, optional: true
    path("clustered_clusters.json"),     emit: json
    path("clustered_clusters_mqc.tsv"),  emit: multiqc
    path("clustered_umap.png"),          emit: umap, optional: true
    tuple val("${task.process}"), val('scssl'), eval('scssl --version | sed "s/^scssl, version //"'), emit: versions_scssl, topic: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    """
    scssl cluster \\
        --input ${h5ad} \\
        --output clustered.h5ad \\
        --report-dir . \\
        --threads ${task.cpus} \\
        ${args}
    """

    stub:
    """
    touch clustered.h5ad clustered_markers.tsv clustered_clusters.json clustered_clusters_mqc.tsv clustered_umap.png
    """
}
