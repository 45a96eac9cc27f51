process SCSSL_FINETUNE {
    label 'process_gpu'

    conda "${projectDir}/environment.yml"
    container "${params.scssl_container}"

    input:
    path(reference, stageAs: 'reference/*')
    path(checkpoint, stageAs: 'checkpoint/*')

    output:
    path("classifier"),                          emit: classifier
    path("classifier/validation_mqc.tsv"),       emit: multiqc
    tuple val("${task.process}"), val('scssl'), eval('scssl --version | sed "s/^scssl, version //"'), emit: versions_scssl, topic: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    """
    scssl finetune \\
        --reference ${reference} \\
        --checkpoint ${checkpoint} \\
        --output classifier \\
        --label-key ${params.label_key} \\
        --threads ${task.cpus} \\
        ${args}
    """

    stub:
    """
    mkdir -p classifier
    touch classifier/model.safetensors classifier/config.json classifier/summary.json classifier/validation_mqc.tsv
    """
}
