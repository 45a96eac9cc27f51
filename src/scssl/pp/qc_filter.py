"""Cell filters: median-absolute-deviation outliers (default) and fixed thresholds."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import anndata as ad
import numpy as np
import pandas as pd

from .._errors import InputError


@dataclass
class CellFilter:
    """One filter's bounds and how many cells it flagged."""

    name: str
    metric: str
    low: float | None = None
    high: float | None = None
    n_failed: int = 0

    def fails(self, values: np.ndarray) -> np.ndarray:
        bad = np.zeros(len(values), bool)
        if self.low is not None:
            bad |= values < self.low
        if self.high is not None:
            bad |= values > self.high
        return bad


@dataclass
class QCThresholds:
    """Filter settings; ``None`` switches a fixed bound off. Per-sample overrides win."""

    mode: str = "mad"
    n_mads: float = 5.0
    n_mads_mt: float = 3.0
    min_genes: int | None = 200
    max_genes: int | None = None
    min_counts: int | None = None
    max_counts: int | None = None
    max_pct_mt: float | None = 20.0
    max_pct_ribo: float | None = None
    max_pct_hb: float | None = None
    extra: dict = field(default_factory=dict)

    def with_overrides(self, overrides: dict[str, float]) -> QCThresholds:
        """A copy with the samplesheet's per-sample values applied."""
        known = {k for k in asdict(self) if k not in ("mode", "extra")}
        unknown = set(overrides) - known - {"expected_doublet_rate"}
        if unknown:
            raise InputError(f"unknown QC override(s) {sorted(unknown)}; known: {sorted(known)}")
        values = {k: v for k, v in overrides.items() if k in known}
        for k in ("min_genes", "max_genes", "min_counts", "max_counts"):
            if k in values:
                values[k] = int(values[k])
        return QCThresholds(**{**asdict(self), **values})


def mad_bounds(values: np.ndarray, n_mads: float) -> tuple[float, float] | None:
    """``median ± n_mads × MAD`` (raw MAD, as in Germain et al. 2020); None when MAD is 0."""
    med = float(np.median(values))
    mad = float(np.median(np.abs(values - med)))
    if mad == 0:
        return None
    return med - n_mads * mad, med + n_mads * mad


def build_filters(obs: pd.DataFrame, t: QCThresholds) -> list[CellFilter]:
    """The list of filters to apply for ``t`` on the metrics in ``obs``."""
    if t.mode not in ("mad", "fixed"):
        raise InputError(f"--filter-mode must be 'mad' or 'fixed', not {t.mode!r}.")
    filters: list[CellFilter] = []
    if t.mode == "mad":
        for metric in ("qc_log1p_total_counts", "qc_log1p_n_genes"):
            b = mad_bounds(obs[metric].to_numpy(), t.n_mads)
            if b is not None:
                filters.append(CellFilter(f"mad_{metric[9:]}", metric, *b))
        b = mad_bounds(obs["qc_pct_mt"].to_numpy(), t.n_mads_mt)
        if b is not None:
            filters.append(CellFilter("mad_pct_mt", "qc_pct_mt", None, b[1]))
    fixed = [
        ("min_genes", "qc_n_genes", t.min_genes, None),
        ("max_genes", "qc_n_genes", None, t.max_genes),
        ("min_counts", "qc_total_counts", t.min_counts, None),
        ("max_counts", "qc_total_counts", None, t.max_counts),
        ("max_pct_mt", "qc_pct_mt", None, t.max_pct_mt),
        ("max_pct_ribo", "qc_pct_ribo", None, t.max_pct_ribo),
        ("max_pct_hb", "qc_pct_hb", None, t.max_pct_hb),
    ]
    filters += [CellFilter(n, m, lo, hi) for n, m, lo, hi in fixed if (lo, hi) != (None, None)]
    return filters


def apply_filters(adata: ad.AnnData, filters: list[CellFilter]) -> np.ndarray:
    """Write ``obs['qc_fail']`` (first failing filter, '' if none); return the pass mask."""
    reason = np.full(adata.n_obs, "", dtype=object)
    for f in filters:
        bad = f.fails(adata.obs[f.metric].to_numpy())
        f.n_failed = int(bad.sum())
        reason[bad & (reason == "")] = f.name
    adata.obs["qc_fail"] = pd.Categorical(reason)
    return reason == ""
