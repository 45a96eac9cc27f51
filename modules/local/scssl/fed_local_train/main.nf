process SCSSL_FED_LOCAL_TRAIN {
    tag "${meta.id}"
    label 'process_gpu'

    conda "${projectDir}/environment.yml"
    container "${params.scssl_container}"

    input:
    tuple val(meta), path(h5ad, stageAs: 'input/*')
    path(global, stageAs: 'global/*')

    output:
    tuple val(meta), path("${meta.id}"), emit: site
    tuple val("${task.process}"), val('scssl'), eval('scssl --version | sed "s/^scssl, version //"'), emit: versions_scssl, topic: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    // at the site: train this round's global model on the site's cells; the output folder
    // (weights, config, cell count, losses) is all that leaves the site
    """
    scssl federate local-train \\
        --input ${h5ad} \\
        --global ${global} \\
        --output ${meta.id} \\
        --site ${meta.id} \\
        --threads ${task.cpus} \\
        ${args}
    """

    stub:
    """
    mkdir -p ${meta.id}
    touch ${meta.id}/model.safetensors ${meta.id}/config.json ${meta.id}/site.json ${meta.id}/history.tsv
    """
}
