process SCSSL_PRETRAIN {
    label 'process_gpu'

    conda "${projectDir}/environment.yml"
    container "${params.scssl_container}"

    input:
    path(h5ad, stageAs: 'input/*')
    path(gmt)

    output:
    path("${family}"),             emit: checkpoint
    path("${family}/history.tsv"), emit: history
    tuple val("${task.process}"), val('scssl'), eval('scssl --version | sed "s/^scssl, version //"'), emit: versions_scssl, topic: versions
    tuple val("${task.process}"), val('torch'), eval('python -c "import torch; print(torch.__version__)"'), emit: versions_torch, topic: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    family = task.ext.family ?: params.family
    def gmt_arg = gmt ? "--gmt ${gmt}" : ''
    """
    scssl pretrain \\
        --input ${h5ad} \\
        --output ${family} \\
        --family ${family} \\
        ${gmt_arg} \\
        --threads ${task.cpus} \\
        ${args}
    """

    stub:
    family = task.ext.family ?: params.family
    """
    mkdir -p ${family}
    touch ${family}/model.safetensors ${family}/config.json ${family}/history.tsv
    """
}
