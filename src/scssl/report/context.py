"""Everything a run's reports share, read once: cells, keys, models, metrics, markers, versions."""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from .. import __version__
from .._log import logger, step
from .checks import ReportThresholds
from .facts import Keys, composition, find_keys
from .load import ModelRun, RunData, read_json, read_model, read_run, read_versions
from .markers import quick_markers, read_markers, top_markers, uns_markers

PACKAGES = ("anndata", "scanpy", "numpy", "scipy", "pandas", "matplotlib", "torch")


@dataclass
class ReportContext:
    """Run-level inputs of the per-sample reports and of summary.json."""

    run: RunData
    keys: Keys
    compositions: dict[str, pd.DataFrame]
    models: list[ModelRun]
    metrics: dict[str, Any] | None
    metrics_path: str | None
    markers: dict[str, list[str]] | None
    markers_note: str
    versions: dict[str, dict[str, str]]
    thresholds: ReportThresholds
    qc_dir: Path | None
    run_name: str
    max_points: int
    seed: int
    generated: str = field(default_factory=lambda: generated_at())


def generated_at() -> str:
    """UTC time of generation, or ``$SOURCE_DATE_EPOCH`` for reproducible output."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = (
        _dt.datetime.fromtimestamp(int(epoch), _dt.timezone.utc)
        if epoch and epoch.isdigit()
        else _dt.datetime.now(_dt.timezone.utc)
    )
    return when.strftime("%Y-%m-%d %H:%M UTC")


def runtime_versions() -> dict[str, str]:
    """scssl and the packages the report step ran with."""
    out = {"scssl": __version__}
    for pkg in PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return out


def _markers(
    run: RunData, keys: Keys, path: Path | None, n_top: int
) -> tuple[dict[str, list[str]] | None, str]:
    if n_top <= 0:
        return None, "not requested"
    if path is not None:
        return top_markers(read_markers(path), n_top), f"from {path.name}"
    if keys.cluster is None:
        return None, "no clusters in the input"
    table = uns_markers(run.uns, keys.cluster)
    if table is not None:
        return top_markers(table, n_top), "from uns['rank_genes_groups'] of the input"
    with step("report markers"):
        table = quick_markers(run.path, run.obs[keys.cluster], n_top)
    note = (
        "computed by the report: genes detected in at least 25% of the cluster's cells, ranked "
        "by mean log-normalized expression in the cluster minus that of all other cells"
    )
    return top_markers(table, n_top), note


@dataclass(frozen=True)
class ReportInputs:
    """The optional inputs and settings of :func:`build_context` (each may be absent)."""

    qc_dir: str | Path | None = None
    checkpoints: Sequence[str | Path] = ()
    metrics: str | Path | None = None
    markers: str | Path | None = None
    versions: Sequence[str | Path] = ()
    cluster_key: str | None = None
    label_key: str | None = None
    score_key: str | None = None
    thresholds: ReportThresholds | None = None
    run_name: str | None = None
    n_markers: int = 8
    max_points: int = 50_000
    seed: int = 0


def build_context(input: str | Path, inputs: ReportInputs | None = None) -> ReportContext:
    """Read the run's inputs once; every optional input may be absent."""
    o = inputs or ReportInputs()
    with step("report read inputs"):
        run = read_run(input)
    keys = find_keys(run, cluster_key=o.cluster_key, label_key=o.label_key, score_key=o.score_key)
    logger.info(
        "report inputs: %d cells; clusters %s, labels %s, score %s, umap %s, protein %s",
        run.obs.shape[0],
        keys.cluster,
        keys.label,
        keys.score,
        keys.umap,
        keys.protein,
    )
    comps = {k: composition(run.obs, k) for k in (keys.cluster, keys.label) if k}
    models = [read_model(c) for c in o.checkpoints]
    metrics_data = read_json(o.metrics, "a metrics JSON") if o.metrics is not None else None
    marker_path = Path(o.markers) if o.markers else None
    marker_table, marker_note = _markers(run, keys, marker_path, o.n_markers)
    vers = {"scssl report": runtime_versions(), **read_versions([Path(v) for v in o.versions])}
    return ReportContext(
        run=run,
        keys=keys,
        compositions=comps,
        models=models,
        metrics=metrics_data,
        metrics_path=str(o.metrics) if o.metrics is not None else None,
        markers=marker_table,
        markers_note=marker_note,
        versions=vers,
        thresholds=o.thresholds or ReportThresholds(),
        qc_dir=Path(o.qc_dir) if o.qc_dir is not None else None,
        run_name=o.run_name or Path(input).stem,
        max_points=o.max_points,
        seed=o.seed,
    )
