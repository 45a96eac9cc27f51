"""The numbers of one sample, shared by the HTML page, the MultiQC files and summary.json."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .._errors import InputError
from .load import RunData

METADATA = ("batch", "condition", "expected_cells")
SPECIFIC_SHARE = 0.9  # a cluster is specific to a sample when it holds >= 90% of its cells
UNASSIGNED = frozenset({"", "?", "nan", "na", "none", "unknown", "unassigned"})
_LEIDEN = re.compile(r"^leiden(_[0-9.]+)?$")
_SCORE_SUFFIXES = ("_score", "_probability", "_prob", "_confidence", "_conf")


@dataclass(frozen=True)
class Keys:
    """Which obs/obsm slots hold clusters, labels, label confidence, UMAP and proteins."""

    cluster: str | None
    label: str | None
    score: str | None
    umap: str | None
    protein: str | None


def _pick_cluster(obs: pd.DataFrame, uns: dict[str, Any]) -> str | None:
    record = uns.get("scssl_cluster")  # written by `scssl cluster`: its first clustering
    key = record.get("key") if isinstance(record, dict) else None
    if isinstance(key, str) and key in obs:
        return key
    leiden = sorted((c for c in obs.columns if _LEIDEN.match(str(c))), key=_resolution_order)
    if leiden:
        return leiden[0]
    return next((c for c in ("kmeans", "louvain", "cluster", "clusters") if c in obs), None)


def _resolution_order(col: str) -> tuple[float, str]:
    """Leiden columns ordered by distance of their resolution from 1.0."""
    try:
        res = float(col.split("_", 1)[1])
    except (IndexError, ValueError):
        res = 1.0
    return (abs(res - 1.0), col)


def find_keys(
    run: RunData,
    *,
    cluster_key: str | None = None,
    label_key: str | None = None,
    score_key: str | None = None,
) -> Keys:
    """Keys given explicitly must exist (InputError names them); others are found by name."""
    obs = run.obs
    for flag, key in (
        ("--cluster-key", cluster_key),
        ("--label-key", label_key),
        ("--score-key", score_key),
    ):
        if key and key not in obs:
            cols = ", ".join(map(str, obs.columns))
            raise InputError(f"{run.path}: {flag} {key!r} is not an obs column ({cols}).")
    cluster = cluster_key or _pick_cluster(obs, run.uns)
    label = label_key or next((c for c in ("scssl_label", "cell_type") if c in obs), None)
    score = score_key
    if score is None and label is not None:
        names = [label + s for s in _SCORE_SUFFIXES] + ["scssl_label_score", "scssl_confidence"]
        score = next((c for c in names if c in obs and _numeric(obs[c])), None)
    umap = "X_umap" if "X_umap" in run.obsm else None
    protein = next((k for k in ("protein_clr", "protein_counts") if k in run.obsm), None)
    return Keys(cluster, label, score, umap, protein)


def _numeric(col: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if np.isfinite(f) else None


def qc_facts(summary: dict[str, Any]) -> dict[str, Any]:
    """The QC table of a sample from its ``scssl qc`` summary (numbers copied, not recomputed)."""
    after = summary.get("median_after", {})
    before = summary.get("median_before", {})
    dbl = summary.get("doublets", {}) or {}
    return {
        "n_cells_input": int(summary["n_cells_input"]),
        "n_cells_pass": int(summary["n_cells_pass"]),
        "pct_cells_pass": _num(summary.get("pct_cells_pass")),
        "n_cells_removed": int(summary["n_cells_input"]) - int(summary["n_cells_pass"]),
        "removed_by": {k: int(v) for k, v in summary["removed_by"].items()},
        "median_genes": _num(after.get("n_genes")),
        "median_counts": _num(after.get("total_counts")),
        "median_pct_mt": _num(after.get("pct_mt")),
        "median_pct_mt_input": _num(before.get("pct_mt")),
        "doublet_method": dbl.get("method", "none"),
        "n_doublets": int(dbl["n_doublets"]) if "n_doublets" in dbl else None,
        "doublet_rate": _num(dbl.get("doublet_rate")),
        "expected_doublet_rate": _num(dbl.get("expected_rate")),
        "doublet_threshold": _num(dbl.get("threshold")),
        "filter_mode": summary.get("filter_mode"),
    }


def composition(obs: pd.DataFrame, key: str) -> pd.DataFrame:
    """Cells per sample (rows) and ``obs[key]`` value (columns), in category order."""
    values = obs[key]
    if not isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype("category")
    table = pd.crosstab(obs["sample"].astype(str), values.astype(str))
    order = [str(c) for c in values.cat.categories if str(c) in table.columns]
    if all(_num(c) is not None for c in order):  # cluster numbers: 0, 1, 2, ..., 10
        order.sort(key=float)
    return table[order]


def sample_specific_fraction(table: pd.DataFrame, sample: str) -> float | None:
    """Share of ``sample``'s cells in clusters where it holds >= 90% of the cells.

    None with one sample, or when the sample alone is >= 90% of all cells (no contrast).
    """
    if table.shape[0] < 2 or sample not in table.index:
        return None
    totals = table.sum(axis=0)
    if table.loc[sample].sum() >= SPECIFIC_SHARE * totals.sum():
        return None
    share = table.loc[sample] / totals.where(totals > 0, 1)
    own = table.loc[sample]
    return float(own[share >= SPECIFIC_SHARE].sum() / max(own.sum(), 1))


def sample_facts(
    run: RunData,
    rows: np.ndarray,
    sample: str,
    keys: Keys,
    qc: dict[str, Any] | None,
    compositions: dict[str, pd.DataFrame],
) -> dict[str, Any]:
    """Metadata, QC table, clusters and annotation of one sample (JSON types only)."""
    obs = run.obs.iloc[rows]
    meta = {}
    for col in METADATA:
        if col in obs and obs[col].notna().any():
            v = obs[col].dropna().iloc[0]
            meta[col] = v.item() if isinstance(v, np.generic) else str(v)
    out: dict[str, Any] = {
        "sample": sample,
        "metadata": meta,
        "n_cells": int(rows.size),
        "qc": qc_facts(qc) if qc else None,
        "clusters": None,
        "annotation": None,
    }
    if keys.cluster:
        counts = compositions[keys.cluster].loc[sample]
        out["clusters"] = {
            "key": keys.cluster,
            "n_clusters": int((counts > 0).sum()),
            "n_clusters_run": int(compositions[keys.cluster].shape[1]),
            "counts": {str(k): int(v) for k, v in counts.items() if v > 0},
            "sample_specific_fraction": sample_specific_fraction(
                compositions[keys.cluster], sample
            ),
        }
    if keys.label:
        labels = obs[keys.label].astype(object).where(obs[keys.label].notna(), "").astype(str)
        unassigned = labels.str.strip().str.lower().isin(UNASSIGNED)
        ann = {
            "key": keys.label,
            "score_key": keys.score,
            "counts": {str(k): int(v) for k, v in labels.value_counts().items()},
            "pct_unassigned": float(100 * unassigned.mean()),
            "median_score": None,
        }
        if keys.score:
            scores = obs[keys.score].to_numpy(float)
            ok = np.isfinite(scores)
            ann["median_score"] = float(np.median(scores[ok])) if ok.any() else None
        out["annotation"] = ann
    return out
