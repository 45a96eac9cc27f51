"""QC of one sample: metrics, MAD or fixed filters, doublets, gene filter and a summary."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import anndata as ad
import numpy as np
import pandas as pd

from .._errors import InputError, QCError
from .._log import step
from ._sparse import col_nnz, subset_csr
from .doublets import detect_doublets
from .qc_filter import CellFilter, QCThresholds, apply_filters, build_filters
from .qc_metrics import qc_metrics

SUMMARY_METRICS = ("qc_n_genes", "qc_total_counts", "qc_pct_mt", "qc_pct_ribo", "qc_pct_hb")


@dataclass
class QCParams:
    """Everything ``scssl qc`` decides with; thresholds may be overridden per sample."""

    thresholds: QCThresholds = field(default_factory=QCThresholds)
    doublet_method: str = "scrublet"
    remove_doublets: bool = True
    expected_doublet_rate: float | None = None
    doublet_threshold: float | None = None
    doublet_sim_ratio: float = 2.0
    doublet_n_pcs: int = 30
    min_cells_pass: int = 50
    seed: int = 0


def _medians(adata: ad.AnnData, mask: np.ndarray) -> dict[str, float]:
    return {
        m[3:]: float(np.median(adata.obs[m].to_numpy()[mask])) if mask.any() else float("nan")
        for m in SUMMARY_METRICS
    }


@dataclass
class QCResult:
    """The filtered data, the summary, and every input cell's metrics (for plots)."""

    adata: ad.AnnData
    summary: dict
    obs_all: pd.DataFrame
    filters: list[CellFilter]


def run_qc(adata: ad.AnnData, params: QCParams, *, sample: str | None = None) -> QCResult:
    """Compute metrics, flag and remove failing cells and doublets; count cells per gene.

    Genes are not removed here: a gene rare in one sample may be common in another, so the
    min-cells gene filter runs after merging (:func:`scssl.pp.merge_samples`).

    Per-sample overrides from ``uns['scssl']['qc_overrides']`` (the samplesheet) take
    precedence over ``params``.

    Returns
    -------
    A :class:`QCResult`: the filtered AnnData (raw counts in ``X`` and ``layers['counts']``,
    metrics in ``obs``, settings and counts in ``uns['scssl_qc']``), the summary dict, the
    metrics of all input cells and the filters applied.

    Raises
    ------
    QCError
        When fewer than ``params.min_cells_pass`` cells survive; the message lists how many
        cells each filter removed.
    """
    if params.doublet_method not in ("scrublet", "none"):
        raise InputError(
            f"--doublet-method must be 'scrublet' or 'none', not {params.doublet_method!r}."
        )
    meta = adata.uns.get("scssl", {})
    sample = (
        sample
        or meta.get("sample")
        or (str(adata.obs["sample"].iloc[0]) if "sample" in adata.obs else "sample")
    )
    overrides = dict(meta.get("qc_overrides", {}))
    thresholds = params.thresholds.with_overrides(overrides)
    with step(f"qc {sample}") as added:
        qc_metrics(adata)
        filters = build_filters(adata.obs, thresholds)
        passed = apply_filters(adata, filters)
        removed = {f.name: int((adata.obs["qc_fail"] == f.name).sum()) for f in filters}
        doublets: dict = {"method": "none"}
        adata.obs["qc_doublet_score"] = np.nan
        adata.obs["qc_doublet"] = False
        if params.doublet_method == "scrublet" and passed.sum() >= 30:
            rate = overrides.get("expected_doublet_rate", params.expected_doublet_rate)
            sub = ad.AnnData(X=adata.layers["counts"][np.flatnonzero(passed)])
            doublets = detect_doublets(
                sub,
                layer=None,
                expected_rate=rate,
                sim_ratio=params.doublet_sim_ratio,
                n_pcs=params.doublet_n_pcs,
                threshold=params.doublet_threshold,
                seed=params.seed,
            )
            adata.obs.loc[passed, "qc_doublet_score"] = sub.obs["qc_doublet_score"].to_numpy()
            adata.obs.loc[passed, "qc_doublet"] = sub.obs["qc_doublet"].to_numpy()
            if params.remove_doublets:
                is_dbl = adata.obs["qc_doublet"].to_numpy(bool)
                reason = adata.obs["qc_fail"].astype(str).to_numpy()
                reason[is_dbl & passed] = "doublet"
                adata.obs["qc_fail"] = reason
                adata.obs["qc_fail"] = adata.obs["qc_fail"].astype("category")
                passed = passed & ~is_dbl
            removed["doublet"] = int((adata.obs["qc_fail"] == "doublet").sum())
        n_pass = int(passed.sum())
        summary = {
            "sample": sample,
            "n_cells_input": int(adata.n_obs),
            "n_cells_pass": n_pass,
            "pct_cells_pass": 100.0 * n_pass / max(adata.n_obs, 1),
            "filter_mode": thresholds.mode,
            "thresholds": {k: v for k, v in asdict(thresholds).items() if k != "extra"},
            "overrides": overrides,
            "filters": {
                f.name: {k: v for k, v in asdict(f).items() if k != "name"} for f in filters
            },
            "removed_by": removed,
            "doublets": doublets,
            "median_before": _medians(adata, np.ones(adata.n_obs, bool)),
            "median_after": _medians(adata, passed),
        }
        if n_pass < params.min_cells_pass:
            flagged = {f.name: f.n_failed for f in filters}
            if "doublet" in removed:
                flagged["doublet"] = removed["doublet"]
            detail = (
                "; ".join(
                    f"{k} flagged {flagged.get(k, v)} (first failing filter for {v})"
                    for k, v in removed.items()
                )
                or "no filter"
            )
            raise QCError(
                f"sample {sample}: only {n_pass} of {adata.n_obs} cells passed QC (minimum "
                f"{params.min_cells_pass}): {detail}. Loosen the thresholds, set per-sample "
                "overrides in the samplesheet, or lower --min-cells-pass."
            )
        counts = adata.layers["counts"]
        keep_rows = np.flatnonzero(passed)
        all_genes = np.ones(adata.n_vars, bool)
        X = subset_csr(counts, passed, all_genes) if n_pass < adata.n_obs else counts
        out = ad.AnnData(
            X=X, obs=adata.obs.iloc[keep_rows].copy(), var=adata.var.copy(), uns=dict(adata.uns)
        )
        out.var["qc_n_cells"] = col_nnz(X)
        out.layers["counts"] = out.X
        for key, val in adata.obsm.items():
            out.obsm[key] = val.iloc[keep_rows] if hasattr(val, "iloc") else val[keep_rows]
        summary["n_genes_input"] = int(adata.n_vars)
        summary["n_genes_detected"] = int((out.var["qc_n_cells"] > 0).sum())
        out.uns["scssl_qc"] = _plain({**summary, "params": asdict(params)})
        added += ["obs['qc_*']", "uns['scssl_qc']"]
    return QCResult(out, summary, adata.obs.copy(), filters)


def _plain(d: dict) -> dict:
    """Drop ``None`` values (h5ad cannot store them; in lists they become NaN) and flatten
    nested dataclass dicts."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out[k] = _plain(v)
        elif isinstance(v, list | tuple) and any(x is None for x in v):
            out[k] = [float("nan") if x is None else x for x in v]
        elif v is not None:
            out[k] = v
    return out
