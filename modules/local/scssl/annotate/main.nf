process SCSSL_ANNOTATE {
    tag "${meta.id}"
    label 'process_medium'

    conda "${projectDir}/environment.yml"
    container "${params.scssl_container}"

    input:
    tuple val(meta), path(h5ad, stageAs: 'input/*')
    path(classifier, stageAs: 'classifier/*')

    output:
    tuple val(meta), path("annotated.h5ad"),     emit: h5ad
    path("annotated_annotation.json"),           emit: json
    path("annotated_annotation_clusters.tsv"),   emit: clusters
    path("annotated_labels_mqc.tsv"),            emit: multiqc
    path("annotated_labels_umap.png"),           emit: umap, optional: true
    tuple val("${task.process}"), val('scssl'), eval('scssl --version | sed "s/^scssl, version //"'), emit: versions_scssl, topic: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    // a fine-tuned classifier when --reference was given, else the marker table
    def source = classifier ? "--classifier ${classifier}" : "--markers ${params.markers}"
    """
    scssl annotate \\
        --input ${h5ad} \\
        --output annotated.h5ad \\
        ${source} \\
        --report-dir . \\
        --threads ${task.cpus} \\
        ${args}
    """

    stub:
    """
    touch annotated.h5ad annotated_annotation.json annotated_annotation_clusters.tsv annotated_labels_mqc.tsv annotated_labels_umap.png
    """
}
