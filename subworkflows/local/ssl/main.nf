/*
    Self-supervised model: PRETRAIN on the preprocessed cells (or take --pretrained_model,
    a checkpoint folder from an earlier run), then EMBED every cell with it.
*/

include { SCSSL_PRETRAIN } from '../../../modules/local/scssl/pretrain'
include { SCSSL_EMBED    } from '../../../modules/local/scssl/embed'

workflow SSL {

    take:
    ch_h5ad   // channel: [ val(meta), path(preprocessed h5ad) ]

    main:
    if (params.pretrained_model) {
        ch_checkpoint = channel.value(file(params.pretrained_model, checkIfExists: true))
        ch_history    = channel.empty()
    } else {
        ch_gmt = params.gmt ? channel.value(file(params.gmt, checkIfExists: true)) : channel.value([])
        SCSSL_PRETRAIN ( ch_h5ad.map { meta, h5ad -> h5ad }, ch_gmt )
        ch_checkpoint = SCSSL_PRETRAIN.out.checkpoint
        ch_history    = SCSSL_PRETRAIN.out.history
    }
    SCSSL_EMBED ( ch_h5ad, ch_checkpoint )

    emit:
    h5ad       = SCSSL_EMBED.out.h5ad   // channel: [ val(meta), path(h5ad with obsm['X_scssl_<family>']) ]
    checkpoint = ch_checkpoint          // channel: path(checkpoint folder)
    history    = ch_history             // channel: path(history.tsv)
}
