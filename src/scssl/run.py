"""``scssl run``: the whole chain on one machine, in the output layout Nextflow publishes.

The same steps, the same params (``run_params``, i.e. ``nextflow_schema.json``) and the same
folders as the pipeline's publishDir rules (``conf/modules.config``)::

    ingest/<sample>.h5ad
    qc/<sample>.h5ad  qc/<sample>_qc_summary.{tsv,json}  qc/<sample>_qc_cells.tsv.gz
    qc/<sample>_qc_mqc.tsv  qc/<sample>_qc.png
    merge/merged.h5ad
    preprocess/preprocessed.h5ad  preprocess/preprocessed_hvg.h5ad
    pretrain/<family>/            model.safetensors, config.json, history.tsv, loss.png
    embed/embedded.h5ad           obsm['X_scssl_<family>']
    cluster/clustered.h5ad        + clustered_{markers.tsv,clusters.json,clusters_mqc.tsv,umap.png}
    finetune/classifier/          with --reference
    annotate/annotated.h5ad       + annotated_{annotation.json,annotation_clusters.tsv,...}
    evaluate/metrics.json         + metrics_mqc.tsv (+ confusion files with --truth_key)
    report/<sample>.report.html   + <sample>_scssl_*_mqc.tsv
    multiqc/multiqc_report.html   multiqc/multiqc_report_data/
    pipeline_info/                summary.json, scssl_loss_mqc.json, scssl_mqc_versions.yml,
                                  scssl_software_versions.yml, params.json, samplesheet.valid.csv,
                                  scssl_run_trace.tsv (wall time and peak RSS of each step)
"""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import yaml
from tqdm.auto import tqdm

from . import __version__, steps, steps_annotate, steps_report
from ._atomic import write_json, write_text
from ._errors import InputError
from ._log import logger
from ._trace import Trace
from .io.samplesheet import METADATA_COLUMNS, QC_OVERRIDE_COLUMNS, read_samplesheet
from .pp.preprocess import PreprocessParams
from .pp.qc import QCParams
from .pp.qc_filter import QCThresholds
from .run_params import load_params
from .train.config import TrainConfig

_THRESHOLDS = ("n_mads", "n_mads_mt", "min_genes", "max_genes", "min_counts", "max_counts")
_THRESHOLDS += ("max_pct_mt", "max_pct_ribo", "max_pct_hb")
_DOUBLETS = ("doublet_method", "expected_doublet_rate", "doublet_threshold")
_DOUBLETS += ("doublet_sim_ratio", "doublet_n_pcs", "min_cells_pass")
_TRAIN = ("max_epochs", "min_steps", "batch_size", "lr", "patience")


def _timed(trace: Trace | None, name: str):
    """``trace.step(name)``, or nothing without a trace."""
    return trace.step(name) if trace is not None else nullcontext()


def qc_params(p: dict[str, Any]) -> QCParams:
    """The QC settings of the params (per-sample overrides come with each sample)."""
    thresholds = QCThresholds(mode=p["filter_mode"], **{k: p[k] for k in _THRESHOLDS})
    extra = {k: p[k] for k in _DOUBLETS if p[k] is not None}
    return QCParams(
        thresholds=thresholds, remove_doublets=not p["keep_doublets"], seed=p["seed"], **extra
    )


def preprocess_params(p: dict[str, Any]) -> PreprocessParams:
    return PreprocessParams(
        n_top_genes=p["n_top_genes"],
        batch_key=p["batch_key"] or None,
        target_sum=p["target_sum"],
        pearson_residuals=p["pearson_residuals"],
        n_pcs=p["n_pcs"],
        scale_pca=p["scale_pca"],
        seed=p["seed"],
    )


def cluster_params(p: dict[str, Any]) -> steps_annotate.ClusterParams:
    return steps_annotate.ClusterParams(
        resolutions=tuple(float(r) for r in str(p["resolution"]).split(",")),
        n_clusters=p["n_clusters"],
        n_neighbors=p["n_neighbors"],
        umap=not p["skip_umap"],
        n_marker_genes=p["n_marker_genes"],
        marker_method=p["marker_method"],
        batch_key=p["batch_key"] or None,
        seed=p["seed"],
    )


def annotate_params(p: dict[str, Any]) -> steps_annotate.AnnotateParams:
    return steps_annotate.AnnotateParams(
        min_confidence=p["min_confidence"],
        min_score=p["min_score"],
        smooth=p["smooth"],
        min_overlap=p["min_overlap"],
    )


def _versions() -> str:
    from importlib.metadata import version

    pkgs = ("anndata", "scanpy", "numpy", "scipy", "pandas", "torch")
    return yaml.safe_dump(
        {"SCSSL_RUN": {"scssl": __version__, **{p: version(p) for p in pkgs}}}, sort_keys=False
    )


def run_pipeline(
    samplesheet: str | Path | None = None,
    outdir: str | Path | None = None,
    *,
    params_file: str | Path | None = None,
    seed: int | None = None,
) -> Path:
    """Validate the samplesheet and params, then run every step into ``outdir``.

    ``samplesheet``/``outdir``/``seed`` default to the params file's ``input``/``outdir``/
    ``seed``. Returns the annotated h5ad.
    """
    p = load_params(params_file, input=samplesheet, outdir=outdir, seed=seed)
    if not p["input"] or not p["outdir"]:
        raise InputError("give --samplesheet and --outdir (or input: and outdir: in the params).")
    sheet = read_samplesheet(p["input"])
    out = Path(p["outdir"])
    info = out / "pipeline_info"
    write_text(info / "samplesheet.valid.csv", sheet.to_csv())
    write_json(info / "params.json", {k: v for k, v in p.items() if v is not None})
    device = TrainConfig(device=p["device"]).resolved_device()
    trace = Trace()

    qc_files = ingest_qc(p, sheet, out, trace=trace)
    if p["federated"]:
        from .run_fed import run_federated

        return run_federated(p, sheet, qc_files, out, device)
    with _timed(trace, "merge"):
        merged = steps.merge(
            list(qc_files.values()),
            out / "merge" / "merged.h5ad",
            batch_key=p["batch_key"],
            join=p["join"],
            min_cells_gene=p["min_cells_gene"],
        )
    with _timed(trace, "preprocess"):
        pre = steps.preprocess(
            merged,
            out / "preprocess" / "preprocessed.h5ad",
            params=preprocess_params(p),
            hvg_output=out / "preprocess" / "preprocessed_hvg.h5ad",
        )
    with _timed(trace, "pretrain"):
        ckpt = _checkpoint(p, pre, out, device)
    versions = write_text(info / "scssl_software_versions.yml", _versions())
    annotated = downstream(
        p, pre, ckpt, out, qc_dir=out / "qc", versions=versions, device=device, trace=trace
    )
    with _timed(trace, "multiqc"):
        multiqc(p, out, [out / d for d in _MQC_FOLDERS])
    trace.write(info / "scssl_run_trace.tsv")
    logger.info("scssl run finished: %s", json.dumps(str(annotated)))
    return annotated


_MQC_FOLDERS = ("qc", "cluster", "finetune", "annotate", "evaluate", "report", "pipeline_info")


def ingest_qc(
    p: dict[str, Any], sheet: Any, out: Path, *, trace: Trace | None = None
) -> dict[str, Path]:
    """Ingest and QC every sample of the samplesheet; sample -> QC'd .h5ad."""
    qc_files = {}
    for sample, row in tqdm(list(sheet.iterrows()), desc="ingest + qc", unit="sample"):
        meta = {k: row[k] for k in (*METADATA_COLUMNS, *QC_OVERRIDE_COLUMNS) if k in row}
        meta = {
            k: (v.item() if hasattr(v, "item") else v) for k, v in meta.items() if not _missing(v)
        }
        with _timed(trace, f"ingest {sample}"):
            ing = steps.ingest(
                row["path"],
                out / "ingest" / f"{sample}.h5ad",
                sample=str(sample),
                meta=meta,
                raw=p["raw"],
            )
        qc_out = out / "qc" / f"{sample}.h5ad"
        with _timed(trace, f"qc {sample}"):
            steps.qc(ing, qc_out, params=qc_params(p))
        qc_files[str(sample)] = qc_out
    return qc_files


def downstream(
    p: dict[str, Any],
    pre: Path,
    ckpt: Path,
    out: Path,
    *,
    qc_dir: Path,
    versions: Path,
    device: str,
    trace: Trace | None = None,
) -> Path:
    """Embed, cluster, [finetune], annotate, evaluate, report and summarise ``pre`` with
    ``ckpt`` into ``out/<step>/`` (``out/pipeline_info/summary.json``); the annotated h5ad."""
    with _timed(trace, "embed"):
        emb = steps.embed(
            pre,
            ckpt,
            out / "embed" / "embedded.h5ad",
            min_overlap=p["min_overlap"],
            device=device,
            smooth_k=p["smooth_k"],
            seed=p["seed"],
        )
    clustered = out / "cluster" / "clustered.h5ad"
    with _timed(trace, "cluster"):
        steps_annotate.cluster(emb, clustered, params=cluster_params(p))
    classifier = None
    if p["reference"]:
        with _timed(trace, "finetune"):
            classifier = steps_annotate.finetune(
                p["reference"],
                ckpt,
                out / "finetune" / "classifier",
                label_key=p["label_key"],
                config={"mode": p["finetune_mode"]},
                train_overrides={"seed": p["seed"]},
                min_overlap=p["min_overlap"],
                device=device,
            )
    annotated = out / "annotate" / "annotated.h5ad"
    with _timed(trace, "annotate"):
        steps_annotate.annotate(
            clustered,
            annotated,
            classifier=classifier,
            markers=None if classifier else p["markers"],
            params=annotate_params(p),
            device=device,
        )
    metrics = out / "evaluate" / "metrics.json"
    with _timed(trace, "evaluate"):
        steps_annotate.evaluate(
            annotated, metrics, label_key=p["truth_key"], batch_key=p["batch_key"], seed=p["seed"]
        )
    run_files = {
        "qc_dir": qc_dir,
        "checkpoints": [ckpt],
        "metrics": metrics,
        "versions": [versions],
    }
    with _timed(trace, "report"):
        steps_report.report(annotated, out / "report", seed=p["seed"], **run_files)
    with _timed(trace, "summary"):
        steps_report.summary(annotated, out / "pipeline_info" / "summary.json", **run_files)
    return annotated


def multiqc(p: dict[str, Any], out: Path, folders: list[Path]) -> Path:
    """The MultiQC run report over the ``folders`` that exist."""
    extra = [p["multiqc_config"]] if p["multiqc_config"] else []
    return steps_report.multiqc(
        [d for d in folders if d.is_dir()],
        out / "multiqc",
        configs=extra,
        title=p["multiqc_title"],
    )


def _checkpoint(p: dict[str, Any], pre: Path, out: Path, device: str) -> Path:
    """``--pretrained_model`` when given, else a model pretrained on ``pre``."""
    if p["pretrained_model"]:
        return Path(p["pretrained_model"])
    model = p["model"] or {}
    if p["gmt"]:
        model = {**model, "gmt": p["gmt"]}
    train = {k: p[k] for k in _TRAIN if p[k] is not None}
    train.update(seed=p["seed"], device=device, resident=p["resident"])
    return steps.pretrain(
        pre,
        out / "pretrain" / p["family"],
        family=p["family"],
        model_config=model,
        train_overrides=train,
        batch_key=p["batch_key"],
        devices=p["pretrain_devices"],
    )


def _missing(v: Any) -> bool:
    try:
        import pandas as pd

        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False
