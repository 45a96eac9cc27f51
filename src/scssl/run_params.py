"""The params of a run: one flat namespace shared by ``scssl run`` and the Nextflow pipeline.

Names, types, defaults and help are those of ``nextflow_schema.json`` (packaged here, linked
from the pipeline's root), so the same ``-params-file`` drives ``nextflow run`` and
``scssl run``. Params that only the pipeline reads (containers, executors, publishing) are
accepted and ignored here.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ._errors import InputError
from ._log import logger

# read by the Nextflow pipeline only: containers, executors, publishing, help and logging
PIPELINE_ONLY = frozenset(
    {
        "publish_dir_mode",
        "scssl_container",
        "use_gpu",
        "queue",
        "cluster_account",
        "awsbatch_region",
        "awsbatch_cli_path",
        "google_project",
        "google_location",
        "k8s_namespace",
        "k8s_storage_claim",
        "k8s_storage_mount",
        "help",
        "version",
        "validate_params",
        "monochrome_logs",
        "trace_report_suffix",
        "config_profile_name",
        "config_profile_description",
    }
)
# params whose value is a path: relative ones are taken from the working directory, as
# Nextflow takes them from its launch directory
PATH_PARAMS = ("input", "outdir", "gmt", "pretrained_model", "reference", "multiqc_config")
PATH_PARAMS += ("fed_genes",)


@cache
def schema() -> dict[str, Any]:
    """The pipeline's parameter schema (``nextflow_schema.json``)."""
    text = resources.files("scssl").joinpath("assets/nextflow_schema.json").read_text()
    return json.loads(text)


def schema_properties() -> dict[str, dict[str, Any]]:
    """Every param's schema entry, groups flattened."""
    props: dict[str, dict[str, Any]] = {}
    for group in schema()["$defs"].values():
        props.update(group["properties"])
    return props


def defaults() -> dict[str, Any]:
    """Every param's default (None where the schema gives none)."""
    return {k: v.get("default") for k, v in schema_properties().items()}


def load_params(path: str | Path | None, **given: Any) -> dict[str, Any]:
    """Defaults, overlaid with a YAML/JSON params file, overlaid with ``given`` (CLI values
    that are not None); validated against the schema. Errors name the file and the param."""
    values = defaults()
    where = "command line"
    if path is not None:
        p = Path(path)
        where = str(p)
        if not p.is_file():
            raise InputError(f"{p}: params file not found.")
        try:
            data = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as err:
            raise InputError(f"{p}: not valid YAML/JSON ({err}).") from None
        if not isinstance(data, dict):
            raise InputError(f"{p}: expected a mapping of param: value.")
        data = {str(k).replace("-", "_"): v for k, v in data.items()}
        unknown = sorted(set(data) - set(values))
        if unknown:
            raise InputError(
                f"{p}: unknown param(s) {unknown}; every param is listed in docs/usage.md "
                "(nextflow_schema.json)."
            )
        ignored = sorted(set(data) & PIPELINE_ONLY)
        if ignored:
            logger.info("params %s are for the Nextflow pipeline; scssl run ignores them", ignored)
        values.update(data)
    values.update(
        {k: str(v) if isinstance(v, Path) else v for k, v in given.items() if v is not None}
    )
    _validate(values, where)
    for key in PATH_PARAMS:
        if values.get(key) not in (None, ""):
            values[key] = str(Path(str(values[key])).expanduser().resolve())
    return values


def _validate(values: dict[str, Any], where: str) -> None:
    import jsonschema

    set_values = {k: v for k, v in values.items() if v is not None}
    validator = jsonschema.Draft202012Validator(schema())
    problems = sorted(
        f"'{'.'.join(map(str, e.absolute_path)) or e.validator_value}': {e.message}"
        for e in validator.iter_errors(set_values)
        if e.validator != "required"
    )
    if problems:
        raise InputError(f"{where}: invalid param(s):\n  " + "\n  ".join(problems))
