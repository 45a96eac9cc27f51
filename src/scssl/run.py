"""``scssl run``: the whole chain on one machine, in the output layout Nextflow publishes.

Layout under ``outdir`` (mirrors the pipeline's publishDir rules)::

    ingest/<sample>.h5ad
    qc/<sample>.h5ad  qc/<sample>_qc_summary.{tsv,json}  qc/<sample>_qc_mqc.tsv  qc/<sample>_qc.png
    merge/merged.h5ad
    preprocess/preprocessed.h5ad  preprocess/preprocessed_hvg.h5ad
    pretrain/<family>/{model.safetensors,config.json,history.tsv,loss.png}
    embed/embedded.h5ad           obsm['X_scssl_<family>'] added
    pipeline_info/params.json  pipeline_info/samplesheet.valid.csv  pipeline_info/versions.yml
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml
from tqdm.auto import tqdm

from . import __version__, steps
from ._atomic import write_json, write_text
from ._errors import InputError
from ._log import logger
from .io.samplesheet import METADATA_COLUMNS, QC_OVERRIDE_COLUMNS, read_samplesheet
from .pp.preprocess import PreprocessParams
from .pp.qc import QCParams
from .pp.qc_filter import QCThresholds
from .train.config import TrainConfig

MERGE_PARAMS = {"batch_key": "batch", "join": "inner", "min_cells_gene": 3}
TRAIN_PARAMS = ("max_epochs", "batch_size", "lr", "patience", "device")
SSL_PARAMS = {"family": "mae", "model": {}, "min_overlap": 0.5}


def _field_names(cls) -> set[str]:
    return {f.name for f in fields(cls)}


def load_params(path: str | Path | None) -> dict[str, Any]:
    """Read a flat YAML/JSON params file; unknown keys are an error naming the key."""
    if path is None:
        return {}
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: params file not found.")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as err:
        raise InputError(f"{p}: not valid YAML/JSON ({err}).") from None
    if not isinstance(data, dict):
        raise InputError(f"{p}: expected a mapping of option: value.")
    data = {str(k).replace("-", "_"): v for k, v in data.items()}
    known = (
        _field_names(QCThresholds)
        | _field_names(QCParams)
        | _field_names(PreprocessParams)
        | set(MERGE_PARAMS)
        | set(TRAIN_PARAMS)
        | set(SSL_PARAMS)
        | {"filter_mode", "keep_doublets", "raw", "seed"}
    ) - {"thresholds", "extra", "mode", "remove_doublets"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InputError(f"{p}: unknown option(s) {unknown}; known: {sorted(known)}.")
    return data


def build_params(opts: dict[str, Any], seed: int) -> tuple[QCParams, PreprocessParams, dict]:
    """Split flat options into the QC, preprocess and merge settings."""
    opts = {**opts, "seed": opts.get("seed", seed)}
    t_kw = {k: v for k, v in opts.items() if k in _field_names(QCThresholds)}
    if "filter_mode" in opts:
        t_kw["mode"] = opts["filter_mode"]
    q_kw = {k: v for k, v in opts.items() if k in _field_names(QCParams) and k != "thresholds"}
    if "keep_doublets" in opts:
        q_kw["remove_doublets"] = not opts["keep_doublets"]
    pre_kw = {k: v for k, v in opts.items() if k in _field_names(PreprocessParams)}
    merge_kw = {k: opts.get(k, v) for k, v in MERGE_PARAMS.items()}
    pre_kw.setdefault("batch_key", merge_kw["batch_key"])
    return QCParams(thresholds=QCThresholds(**t_kw), **q_kw), PreprocessParams(**pre_kw), merge_kw


def _versions() -> str:
    from importlib.metadata import version

    pkgs = ("anndata", "scanpy", "numpy", "scipy", "pandas", "torch")
    return yaml.safe_dump(
        {"SCSSL_RUN": {"scssl": __version__, **{p: version(p) for p in pkgs}}}, sort_keys=False
    )


def run_pipeline(
    samplesheet: str | Path,
    outdir: str | Path,
    *,
    params_file: str | Path | None = None,
    seed: int = 0,
) -> Path:
    """Validate the samplesheet and run ingest -> qc -> merge -> preprocess -> pretrain ->
    embed into ``outdir``."""
    sheet = read_samplesheet(samplesheet)
    opts = load_params(params_file)
    qc_params, pre_params, merge_kw = build_params(opts, seed)
    out = Path(outdir)
    info = out / "pipeline_info"
    write_text(info / "samplesheet.valid.csv", sheet.to_csv())
    write_json(
        info / "params.json",
        {"samplesheet": str(Path(samplesheet).resolve()), "seed": seed, **opts},
    )
    qc_files = []
    for sample, row in tqdm(list(sheet.iterrows()), desc="ingest + qc", unit="sample"):
        meta = {k: row[k] for k in (*METADATA_COLUMNS, *QC_OVERRIDE_COLUMNS) if k in row}
        meta = {
            k: (v.item() if hasattr(v, "item") else v) for k, v in meta.items() if not _missing(v)
        }
        ing = steps.ingest(
            row["path"],
            out / "ingest" / f"{sample}.h5ad",
            sample=str(sample),
            meta=meta,
            raw=bool(opts.get("raw", False)),
        )
        qc_out = out / "qc" / f"{sample}.h5ad"
        steps.qc(ing, qc_out, params=qc_params)
        qc_files.append(qc_out)
    merged = steps.merge(qc_files, out / "merge" / "merged.h5ad", **merge_kw)
    final = steps.preprocess(
        merged,
        out / "preprocess" / "preprocessed.h5ad",
        params=pre_params,
        hvg_output=out / "preprocess" / "preprocessed_hvg.h5ad",
    )
    family = opts.get("family", SSL_PARAMS["family"])
    train = {k: opts[k] for k in TRAIN_PARAMS if k in opts}
    train["seed"] = opts.get("seed", seed)
    train["device"] = TrainConfig(device=train.get("device", "auto")).resolved_device()
    ckpt = steps.pretrain(
        final,
        out / "pretrain" / family,
        family=family,
        model_config=opts.get("model", {}),
        train_overrides=train,
        batch_key=merge_kw["batch_key"],
    )
    final = steps.embed(
        final,
        ckpt,
        out / "embed" / "embedded.h5ad",
        min_overlap=opts.get("min_overlap", SSL_PARAMS["min_overlap"]),
        device=train["device"],
    )
    write_text(info / "versions.yml", _versions())
    logger.info("scssl run finished: %s", json.dumps(str(final)))
    return final


def _missing(v: Any) -> bool:
    try:
        import pandas as pd

        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False
