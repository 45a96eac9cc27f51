process SCSSL_FED_AGGREGATE {
    label 'process_single'

    conda "${projectDir}/environment.yml"
    container "${params.scssl_container}"

    input:
    path(sites, stageAs: 'sites/*')
    path(previous, stageAs: 'previous/*')

    output:
    path("global"),                              emit: global
    path("global/scssl_fedloss_mqc.json"),       emit: multiqc
    tuple val("${task.process}"), val('scssl'), eval('scssl --version | sed "s/^scssl, version //"'), emit: versions_scssl, topic: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    def site_args = [sites].flatten().collect { "--input ${it}" }.join(' ')
    // at the coordinator: FedAvg of the site folders (weights + cell counts only)
    """
    scssl federate aggregate \\
        ${site_args} \\
        --global ${previous} \\
        --output global \\
        ${args}
    """

    stub:
    """
    mkdir -p global
    touch global/model.safetensors global/config.json global/history.tsv global/scssl_fedloss_mqc.json
    """
}
