"""QC figure for one sample: metric distributions with the thresholds that were applied."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .._atomic import atomic_path
from .qc_filter import CellFilter


def plot_qc(
    obs: pd.DataFrame,
    filters: list[CellFilter],
    path: str | Path,
    title: str,
    doublet_threshold: float | None = None,
) -> Path:
    """Write a PNG with counts, genes, % mito, % ribo histograms, counts-vs-genes and doublets."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    passed = (obs["qc_fail"].astype(str) == "").to_numpy()
    fig, axes = plt.subplots(2, 3, figsize=(13, 7.5), constrained_layout=True)
    panels = [
        ("qc_log1p_total_counts", "log1p(total counts)"),
        ("qc_log1p_n_genes", "log1p(genes detected)"),
        ("qc_pct_mt", "% mitochondrial counts"),
        ("qc_pct_ribo", "% ribosomal counts"),
    ]
    for ax, (metric, label) in zip(axes.flat[:4], panels, strict=True):
        vals = obs[metric].to_numpy(dtype=float)
        bins = np.histogram_bin_edges(vals[np.isfinite(vals)], bins=60)
        ax.hist(vals, bins=bins, color="#9aa7b8", label="removed")
        ax.hist(vals[passed], bins=bins, color="#2b6cb0", label="kept")
        for f in filters:
            for bound in (f.low, f.high):
                if bound is None:
                    continue
                if f.metric == metric:
                    ax.axvline(bound, color="#c53030", ls="--", lw=1)
                elif metric == f"qc_log1p_{f.metric[3:]}" and bound > 0:
                    ax.axvline(np.log1p(bound), color="#dd6b20", ls=":", lw=1)
        ax.set_xlabel(label)
        ax.set_ylabel("cells")
    ax = axes.flat[4]
    ax.scatter(
        obs["qc_total_counts"],
        obs["qc_n_genes"],
        s=3,
        c=np.where(passed, "#2b6cb0", "#c53030"),
        rasterized=True,
    )
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("total counts")
    ax.set_ylabel("genes detected")
    ax.set_title(f"kept {int(passed.sum())} / {len(passed)} cells", fontsize=10)
    ax = axes.flat[5]
    if "qc_doublet_score" in obs and obs["qc_doublet_score"].notna().any():
        s = obs["qc_doublet_score"].dropna().to_numpy(dtype=float)
        ax.hist(s, bins=50, color="#805ad5")
        if doublet_threshold is not None:
            ax.axvline(doublet_threshold, color="#c53030", ls="--", lw=1)
        ax.set_xlabel("Scrublet doublet score")
    else:
        ax.text(0.5, 0.5, "doublet detection off", ha="center", va="center")
        ax.set_axis_off()
    axes.flat[0].legend(frameon=False, fontsize=8)
    fig.suptitle(f"QC — {title} (dashed: thresholds)")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return Path(path)
