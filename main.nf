#!/usr/bin/env nextflow
/*
========================================================================================
    scssl: self-supervised deep learning for single-cell RNA-seq and CITE-seq
========================================================================================
    Docs: docs/usage.md (params, profiles, executors), docs/output.md (every output file)
----------------------------------------------------------------------------------------
*/

nextflow.enable.dsl = 2
// --federated unrolls its rounds with workflow recursion (.recurse(...).times(n))
nextflow.preview.recursion = true

include { SCSSL                    } from './workflows/scssl'
include { PIPELINE_INITIALISATION  } from './subworkflows/local/utils_scssl'
include { PIPELINE_COMPLETION      } from './subworkflows/local/utils_scssl'

workflow {

    // validate params and the samplesheet; one channel item per sample
    PIPELINE_INITIALISATION (
        params.version,
        params.validate_params,
        params.input,
        params.outdir
    )

    SCSSL (
        PIPELINE_INITIALISATION.out.samplesheet
    )

    PIPELINE_COMPLETION (
        params.outdir,
        SCSSL.out.multiqc_report
    )
}
