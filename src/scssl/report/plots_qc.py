"""QC figures of one sample: distributions with thresholds, filters' effect, barcode ranks."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ._fig import (
    BLUE,
    GREY,
    ORANGE,
    PURPLE,
    RED,
    plain_log_axis,
    plt,
    png_bytes,
    point_size,
    reason_colours,
    subsample,
)

# (panel column, axis label, log10 axis, filter metrics drawn on it)
PANELS = (
    ("qc_total_counts", "total counts (log10)", True, ("qc_total_counts", "qc_log1p_total_counts")),
    ("qc_n_genes", "genes detected (log10)", True, ("qc_n_genes", "qc_log1p_n_genes")),
    ("qc_pct_mt", "% mitochondrial counts", False, ("qc_pct_mt",)),
    ("qc_pct_ribo", "% ribosomal counts", False, ("qc_pct_ribo",)),
)
KDE_POINTS = 20_000


def thresholds(filters: dict[str, dict[str, Any]], metrics: tuple[str, ...], log: bool) -> list:
    """(value on the panel's axis, filter name) of every bound drawn on one panel."""
    out = []
    for name, f in filters.items():
        if f.get("metric") not in metrics:
            continue
        for bound in (f.get("low"), f.get("high")):
            if bound is None:
                continue
            raw = float(np.expm1(bound)) if "log1p" in f["metric"] else float(bound)
            if log and raw <= 0:
                continue
            out.append((np.log10(raw) if log else raw, name))
    return out


def _values(cells: pd.DataFrame, col: str, log: bool) -> np.ndarray:
    v = cells[col].to_numpy(dtype=float)
    return np.log10(np.maximum(v, 1)) if log else v


def qc_distributions(
    cells: pd.DataFrame, filters: dict[str, dict[str, Any]], *, all_cells: bool, seed: int = 0
) -> bytes:
    """Violins (input vs kept) and histograms (kept vs removed) with the QC thresholds."""
    pyplot = plt()
    kept = (cells["qc_fail"].astype(str) == "").to_numpy()
    fig, axes = pyplot.subplots(2, 4, figsize=(14, 6.2), constrained_layout=True)
    kde_rows = subsample(len(cells), KDE_POINTS, seed)
    for i, (col, label, log, metrics) in enumerate(PANELS):
        vals = _values(cells, col, log)
        finite = np.isfinite(vals)
        ax = axes[0, i]
        groups = [vals[kde_rows][finite[kde_rows]]]
        names = ["input" if all_cells else "kept"]
        if all_cells:
            groups.append(vals[kde_rows][(kept & finite)[kde_rows]])
            names.append("kept")
        groups = [g if g.size > 1 and np.ptp(g) > 0 else np.r_[g, g + 1e-6, 0.0] for g in groups]
        parts = ax.violinplot(groups, showmedians=True, widths=0.8)
        for body, colour in zip(parts["bodies"], (GREY, BLUE), strict=False):
            body.set_facecolor(colour)
            body.set_alpha(0.8)
        ax.set_xticks(range(1, len(names) + 1), names)
        ax.set_ylabel(label)
        lines = thresholds(filters, metrics, log)
        for value, _ in lines:
            ax.axhline(value, color=RED, ls="--", lw=1)
        ax = axes[1, i]
        bins = np.histogram_bin_edges(vals[finite], bins=60) if finite.any() else 10
        stacks = [vals[finite & kept]] + ([vals[finite & ~kept]] if all_cells else [])
        colours, names = [BLUE, GREY][: len(stacks)], ["kept", "removed"][: len(stacks)]
        ax.hist(stacks, bins=bins, color=colours, label=names, stacked=True)
        for value, name in lines:
            ax.axvline(value, color=RED, ls="--", lw=1)
            ax.annotate(
                name,
                (value, 1),
                xycoords=("data", "axes fraction"),
                rotation=90,
                fontsize=7,
                color=RED,
                va="top",
                ha="right",
            )
        ax.set_xlabel(label)
        ax.set_ylabel("cells")
    axes[1, 0].legend(frameon=False, fontsize=8)
    fig.suptitle("QC metrics (dashed: thresholds applied)", fontsize=11)
    return png_bytes(fig)


def filters_effect(
    cells: pd.DataFrame,
    removed_by: dict[str, int],
    n_kept: int,
    *,
    doublet_threshold: float | None,
    max_points: int,
    seed: int = 0,
) -> bytes:
    """Cells removed per filter, counts vs genes coloured by reason, doublet scores."""
    pyplot = plt()
    fig, axes = pyplot.subplots(1, 3, figsize=(14, 3.9), constrained_layout=True)
    names = [k for k, v in removed_by.items() if v > 0]
    colours = reason_colours(names)
    ax = axes[0]
    order = ["kept", *sorted(names, key=lambda k: -removed_by[k])]
    values = [n_kept] + [removed_by[k] for k in order[1:]]
    bar_colours = [BLUE] + [colours[k] for k in order[1:]]
    ax.barh(order[::-1], values[::-1], color=bar_colours[::-1])
    for y, v in enumerate(values[::-1]):
        ax.text(v, y, f" {v:,}", va="center", fontsize=8)
    ax.set_xlabel("cells (removed: first failing filter)")
    ax.set_xlim(0, max(values) * 1.25 if max(values) else 1)
    ax = axes[1]
    rows = subsample(len(cells), max_points, seed)
    sub = cells.iloc[rows]
    reason = sub["qc_fail"].astype(str).to_numpy()
    point_colour = np.array([colours.get(r, BLUE) if r else BLUE for r in reason], dtype=object)
    ax.scatter(
        np.maximum(sub["qc_total_counts"].to_numpy(float), 1),
        np.maximum(sub["qc_n_genes"].to_numpy(float), 1),
        s=point_size(len(rows)),
        c=point_colour.tolist(),
        rasterized=True,
        linewidths=0,
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    plain_log_axis(ax.xaxis)
    plain_log_axis(ax.yaxis)
    ax.set_xlabel("total counts")
    ax.set_ylabel("genes detected")
    handles = [pyplot.Line2D([], [], ls="", marker="o", color=BLUE, label="kept")] + [
        pyplot.Line2D([], [], ls="", marker="o", color=colours[k], label=k) for k in names
    ]
    ax.legend(handles=handles, frameon=False, fontsize=7, markerscale=0.8)
    ax = axes[2]
    scores = cells["qc_doublet_score"].to_numpy(float) if "qc_doublet_score" in cells else []
    scores = np.asarray(scores)[np.isfinite(scores)]
    if len(scores):
        ax.hist(scores, bins=50, color=PURPLE)
        if doublet_threshold is not None:
            ax.axvline(doublet_threshold, color=RED, ls="--", lw=1, label="threshold")
            ax.legend(frameon=False, fontsize=8)
        ax.set_xlabel("Scrublet doublet score")
        ax.set_ylabel("cells")
    else:
        ax.text(0.5, 0.5, "doublet detection off", ha="center", va="center")
        ax.set_axis_off()
    return png_bytes(fig)


def barcode_ranks(totals: pd.Series, called: set[str], kept: set[str]) -> bytes:
    """Knee plot: total counts per barcode by rank, called and kept cells highlighted."""
    pyplot = plt()
    order = np.argsort(-totals.to_numpy(), kind="stable")
    values = np.maximum(totals.to_numpy()[order], 0.5)
    names = totals.index.to_numpy()[order]
    ranks = np.arange(1, len(values) + 1)
    fig, ax = pyplot.subplots(figsize=(6.5, 4.2), constrained_layout=True)
    ax.plot(ranks, values, color=GREY, lw=1.5, label="all barcodes")
    is_called = np.isin(names, list(called))
    is_kept = np.isin(names, list(kept))
    for mask, color, label in (
        (is_called, ORANGE, "called cells"),
        (is_kept, BLUE, "kept after QC"),
    ):
        ax.scatter(
            ranks[mask], values[mask], s=3, color=color, label=label, rasterized=True, linewidths=0
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("barcode rank")
    ax.set_ylabel("total counts")
    ax.set_title(f"{len(values):,} barcodes, {int(is_called.sum()):,} called cells", fontsize=10)
    ax.legend(frameon=False, fontsize=8, markerscale=3)
    return png_bytes(fig)
