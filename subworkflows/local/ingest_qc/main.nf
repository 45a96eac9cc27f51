/*
    Per sample: Cell Ranger counts (RNA + Antibody Capture) -> h5ad -> QC-filtered h5ad.
*/

include { SCSSL_INGEST } from '../../../modules/local/scssl/ingest'
include { SCSSL_QC     } from '../../../modules/local/scssl/qc'

workflow INGEST_QC {

    take:
    ch_samples   // channel: [ val(meta), path(counts) ]

    main:
    SCSSL_INGEST ( ch_samples )
    SCSSL_QC ( SCSSL_INGEST.out.h5ad )

    emit:
    h5ad    = SCSSL_QC.out.h5ad      // channel: [ val(meta), path(h5ad) ]
    summary = SCSSL_QC.out.summary   // channel: [ val(meta), [ tsv, json ] ]
    cells   = SCSSL_QC.out.cells     // channel: [ val(meta), path(qc_cells.tsv.gz) ]
    multiqc = SCSSL_QC.out.multiqc   // channel: [ val(meta), path(mqc.tsv) ]
}
