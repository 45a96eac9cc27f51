/*
    Cell types: CLUSTER the embedded cells (neighbours, Leiden, UMAP, markers); with
    --reference, FINETUNE a classifier on the pretrained encoder and ANNOTATE with it,
    else ANNOTATE from the --markers table; EVALUATE (silhouette, batch mixing, and
    ARI/NMI/F1 against --truth_key when the cells carry known labels).
*/

include { SCSSL_CLUSTER  } from '../../../modules/local/scssl/cluster'
include { SCSSL_FINETUNE } from '../../../modules/local/scssl/finetune'
include { SCSSL_ANNOTATE } from '../../../modules/local/scssl/annotate'
include { SCSSL_EVALUATE } from '../../../modules/local/scssl/evaluate'

workflow ANNOTATE {

    take:
    ch_embedded     // channel: [ val(meta), path(embedded h5ad) ]
    ch_checkpoint   // channel: path(checkpoint folder)

    main:
    ch_multiqc = channel.empty()

    SCSSL_CLUSTER ( ch_embedded )
    ch_multiqc = ch_multiqc.mix(SCSSL_CLUSTER.out.multiqc)

    if (params.reference) {
        ch_reference = channel.value(file(params.reference, checkIfExists: true))
        SCSSL_FINETUNE ( ch_reference, ch_checkpoint )
        ch_classifier = SCSSL_FINETUNE.out.classifier
        ch_multiqc = ch_multiqc.mix(SCSSL_FINETUNE.out.multiqc)
    } else {
        ch_classifier = channel.value([])
    }
    SCSSL_ANNOTATE ( SCSSL_CLUSTER.out.h5ad, ch_classifier )
    ch_multiqc = ch_multiqc.mix(SCSSL_ANNOTATE.out.multiqc)

    SCSSL_EVALUATE ( SCSSL_ANNOTATE.out.h5ad )
    ch_multiqc = ch_multiqc.mix(SCSSL_EVALUATE.out.multiqc)

    emit:
    h5ad    = SCSSL_ANNOTATE.out.h5ad   // channel: [ val(meta), path(annotated h5ad) ]
    metrics = SCSSL_EVALUATE.out.json   // channel: [ val(meta), path(metrics.json) ]
    multiqc = ch_multiqc                // channel: path(*_mqc files)
}
