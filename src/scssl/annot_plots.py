"""Figures of the clustering and annotation steps (matplotlib, Agg): UMAP panels, confusion."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._atomic import atomic_path


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save_png(plt: Any, fig: Any, path: str | Path) -> Path:
    """Write ``fig`` to ``path`` as a 110-dpi PNG (atomically) and close it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return Path(path)


def plot_umap(
    coords: np.ndarray,
    panels: dict[str, Sequence[str]],
    path: str | Path,
    *,
    title: str = "",
    legend: Sequence[str] = (),
) -> Path:
    """One UMAP panel per categorical column (``panels``: name -> per-cell values).

    Categories are named at their median position, or in a legend for the panels in
    ``legend`` (e.g. batches, which overlap when they are well mixed).
    """
    plt = _plt()
    n = max(1, len(panels))
    fig, axes = plt.subplots(1, n, figsize=(4.6 * n, 4.4), squeeze=False, constrained_layout=True)
    size = max(0.5, min(8.0, 20_000 / max(len(coords), 1)))
    rng = np.random.default_rng(0)
    order = rng.permutation(len(coords))  # no category is drawn wholly on top
    for ax, (name, values) in zip(axes[0], panels.items(), strict=False):
        vals = pd.Categorical(np.asarray(values, dtype=str))
        cmap = plt.get_cmap("tab20" if len(vals.categories) > 10 else "tab10")
        colors = np.array([cmap(i % cmap.N) for i in range(len(vals.categories))])
        ax.scatter(
            coords[order, 0],
            coords[order, 1],
            c=colors[vals.codes[order]],
            s=size,
            linewidths=0,
            rasterized=True,
        )
        if name in legend:
            handles = [
                plt.Line2D([], [], marker="o", ls="", color=colors[i], label=cat)
                for i, cat in enumerate(vals.categories[:20])
            ]
            ax.legend(handles=handles, fontsize=7, frameon=False, loc="best")
        elif len(vals.categories) <= 30:
            for i, cat in enumerate(vals.categories):
                m = vals.codes == i
                x, y = np.median(coords[m, 0]), np.median(coords[m, 1])
                ax.text(x, y, cat, fontsize=7, ha="center", va="center", weight="bold")
        ax.set_title(f"{name} ({len(vals.categories)})", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=11)
    return _save_png(plt, fig, path)


def plot_confusion(confusion: dict, path: str | Path, *, title: str = "") -> Path:
    """Row-normalised confusion matrix (true classes as rows) with the counts written in."""
    plt = _plt()
    counts = np.asarray(confusion["counts"], dtype=float)
    rows, cols = confusion["rows"], confusion["columns"]
    frac = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(
        figsize=(1.2 + 0.55 * len(cols), 1.0 + 0.45 * len(rows)), constrained_layout=True
    )
    ax.imshow(frac, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    for i in range(len(rows)):
        for j in range(len(cols)):
            if counts[i, j]:
                color = "white" if frac[i, j] > 0.6 else "black"
                ax.text(j, i, int(counts[i, j]), ha="center", va="center", fontsize=7, color=color)
    ax.set_xticks(range(len(cols)), cols, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title, fontsize=10)
    return _save_png(plt, fig, path)
