/*
    Initialisation (params + samplesheet validation with nf-schema) and completion
    (summary line, software versions) of the scssl pipeline.
*/

include { validateParameters; paramsSummaryLog; samplesheetToList } from 'plugin/nf-schema'

workflow PIPELINE_INITIALISATION {

    take:
    version           // boolean: print the version and exit
    validate_params   // boolean: validate params against nextflow_schema.json
    input             // string: path to the samplesheet
    outdir            // string: results folder

    main:
    if (version) {
        log.info "${workflow.manifest.name} ${workflow.manifest.version}"
        System.exit(0)
    }
    if (validate_params) {
        validateParameters()
    }
    log.info paramsSummaryLog(workflow)
    dumpParameters(outdir)

    def sheet = file(input, checkIfExists: true)
    ch_samplesheet = channel
        .fromList(samplesheetToList(input, "${projectDir}/assets/schema_input.json"))
        .map { row -> [ row[0], resolveSamplePath(row[1].toString(), sheet) ] }

    emit:
    samplesheet = ch_samplesheet   // channel: [ val(meta), path(counts) ]
}

workflow PIPELINE_COMPLETION {

    take:
    outdir           // string: results folder
    multiqc_report   // channel: the MultiQC HTML report

    main:
    workflow.onComplete {
        if (workflow.success) {
            log.info "scssl finished: results in ${outdir}"
        } else {
            log.error "scssl failed: see the .nextflow.log and ${outdir}/pipeline_info"
        }
    }
}

/*
    A samplesheet `path` relative to the samplesheet's own folder (the rule `scssl run` uses,
    see assets/schema_input.json 'x-path'); absolute paths and URLs are kept.
*/
def resolveSamplePath(String value, sheet) {
    def absolute = value.startsWith('/') || value ==~ /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/.*/
    return file(absolute ? value : "${sheet.parent}/${value}", checkIfExists: true)
}

/*
    The params of this run as JSON in pipeline_info/ (what `scssl run` writes as params.json).
*/
def dumpParameters(outdir) {
    def info = file("${outdir}/pipeline_info")
    info.mkdirs()
    def json = groovy.json.JsonOutput.prettyPrint(groovy.json.JsonOutput.toJson(params))
    file("${info}/params_${params.trace_report_suffix}.json").text = json
}

/*
    The versions topic as YAML: { process: { tool: version } }, one entry per process.
*/
def versionsToYaml(List rows) {
    def byProcess = [:].withDefault { [:] }
    rows.each { process, tool, ver -> byProcess[process.tokenize(':')[-1]][tool] = ver }
    return byProcess.collect { process, tools ->
        "${process}:\n" + tools.collect { tool, ver -> "    ${tool}: ${ver}" }.join('\n')
    }.join('\n') + '\n'
}
