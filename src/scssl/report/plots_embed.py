"""Model and cell-map figures: loss curves, UMAP panels, composition, protein panels."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._fig import (
    BACKGROUND,
    BLUE,
    ORANGE,
    palette,
    plain_log_axis,
    plt,
    png_bytes,
    point_size,
    subsample,
)
from .load import ModelRun

MAX_LEGEND = 30
MAX_PROTEINS = 40


def loss_curves(model: ModelRun) -> bytes:
    """Train and validation loss per epoch (best validation epoch marked) and loss parts."""
    pyplot = plt()
    h = model.history
    parts = [c for c in h.columns if c.startswith("train_") and c != "train_loss"]
    ncols = 2 if parts else 1
    fig, axes = pyplot.subplots(1, ncols, figsize=(6.5 * ncols, 3.8), constrained_layout=True)
    axes = np.atleast_1d(axes)
    ax = axes[0]
    ax.plot(h["epoch"], h["train_loss"], color=BLUE, label="train", marker=".")
    if "val_loss" in h and h["val_loss"].notna().any():
        ax.plot(h["epoch"], h["val_loss"], color=ORANGE, label="validation", marker=".")
        best = h.loc[h["val_loss"].idxmin()]
        ax.axvline(best["epoch"], color="#718096", ls=":", lw=1)
        ax.set_title(
            f"best validation loss {best['val_loss']:.4g} at epoch {int(best['epoch'])}", fontsize=9
        )
    losses = h[[c for c in ("train_loss", "val_loss") if c in h]].to_numpy(float)
    finite = losses[np.isfinite(losses)]
    if finite.size and np.all(finite > 0) and finite.max() / finite.min() > 20:
        ax.set_yscale("log")
        plain_log_axis(ax.yaxis)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.legend(frameon=False)
    if parts:
        ax = axes[1]
        for col, colour in zip(parts, palette(len(parts)), strict=True):
            ax.plot(h["epoch"], h[col], label=col[6:], color=colour)
        ax.set_xlabel("epoch")
        ax.set_ylabel("training loss part")
        ax.legend(frameon=False, fontsize=8)
    fig.suptitle(f"{model.name}: loss per epoch", fontsize=11)
    return png_bytes(fig)


def _categorical(
    ax, xy: np.ndarray, values: np.ndarray, title: str, label_centroids: bool, size: float
):
    cats = sorted(set(values), key=_natural)
    colours = dict(zip(cats, palette(len(cats)), strict=True))
    ax.scatter(
        xy[:, 0], xy[:, 1], s=size, c=[colours[v] for v in values], rasterized=True, linewidths=0
    )
    if label_centroids and len(cats) <= 60:
        for cat in cats:
            pts = xy[values == cat]
            ax.text(
                *np.median(pts, axis=0), cat, fontsize=7, ha="center", va="center", weight="bold"
            )
    if len(cats) <= MAX_LEGEND and not label_centroids:
        handles = [
            plt().Line2D([], [], ls="", marker="o", color=colours[c], label=c, markersize=4)
            for c in cats
        ]
        ax.legend(
            handles=handles, frameon=False, fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5)
        )
    ax.set_title(title, fontsize=10)


def _natural(v: str) -> tuple:
    try:
        return (0, float(v), v)
    except ValueError:
        return (1, 0.0, v)


def umap_panels(
    xy: np.ndarray,
    obs: pd.DataFrame,
    in_sample: np.ndarray,
    *,
    cluster: str | None,
    label: str | None,
    score: str | None,
    sample: str,
    max_points: int,
    seed: int = 0,
) -> bytes:
    """UMAP of the sample's cells by cluster, annotation and confidence; all cells by sample."""
    pyplot = plt()
    present = {"cluster": cluster, "label": label, "sample": sample, "score": score}
    panels = [name for name, key in present.items() if key]
    fig, axes = pyplot.subplots(
        1, len(panels), figsize=(4.6 * len(panels) + 1.5, 4.4), constrained_layout=True
    )
    axes = np.atleast_1d(axes)
    rows = subsample(len(xy), max_points, seed)
    own = rows[in_sample[rows]]
    size = point_size(len(rows))
    for ax, panel in zip(axes, panels, strict=True):
        ax.scatter(
            xy[rows, 0], xy[rows, 1], s=size, color=BACKGROUND, rasterized=True, linewidths=0
        )
        if panel == "sample":
            values = obs["sample"].astype(str).to_numpy()[rows]
            _categorical(ax, xy[rows], values, "all cells by sample", False, size)
        elif panel == "score":
            vals = obs[score].to_numpy(float)[own]
            art = ax.scatter(
                xy[own, 0],
                xy[own, 1],
                s=size,
                c=vals,
                cmap="viridis",
                vmin=0,
                vmax=max(1.0, float(np.nanmax(vals)) if vals.size else 1.0),
                rasterized=True,
                linewidths=0,
            )
            fig.colorbar(art, ax=ax, shrink=0.7, label=score)
            ax.set_title(f"{sample}: confidence ({score})", fontsize=10)
        else:
            key = cluster if panel == "cluster" else label
            values = obs[key].astype(str).to_numpy()[own]
            _categorical(ax, xy[own], values, f"{sample}: {key}", panel == "cluster", size)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel("UMAP 1")
        ax.set_ylabel("UMAP 2")
    return png_bytes(fig)


def composition_bars(table: pd.DataFrame, sample: str, title: str) -> bytes:
    """Stacked bars: the share of each cluster (or label) in every sample; this one in bold."""
    pyplot = plt()
    frac = table.div(table.sum(axis=1).where(lambda s: s > 0, 1), axis=0)
    cats = list(frac.columns)
    colours = palette(len(cats))
    height = max(2.4, 1.2 + 0.35 * len(frac))
    fig, ax = pyplot.subplots(figsize=(11, height), constrained_layout=True)
    left = np.zeros(len(frac))
    for cat, colour in zip(cats, colours, strict=True):
        ax.barh(frac.index, frac[cat], left=left, color=colour, label=cat)
        left += frac[cat].to_numpy()
    for tick in ax.get_yticklabels():
        if tick.get_text() == sample:
            tick.set_fontweight("bold")
    ax.set_xlim(0, 1)
    ax.set_xlabel("fraction of the sample's cells")
    ax.invert_yaxis()
    if len(cats) <= MAX_LEGEND:
        ax.legend(
            frameon=False,
            fontsize=7,
            ncol=max(1, len(cats) // 12 + 1),
            loc="center left",
            bbox_to_anchor=(1.0, 0.5),
        )
    ax.set_title(title, fontsize=10)
    return png_bytes(fig)


def protein_panels(
    protein: pd.DataFrame,
    groups: np.ndarray | None,
    group_name: str,
    xy: np.ndarray | None,
    *,
    max_points: int,
    seed: int = 0,
) -> bytes:
    """Mean protein level per cluster (heatmap) or per-protein violins; UMAP by protein."""
    pyplot = plt()
    protein = protein.iloc[:, :MAX_PROTEINS]
    n_map = min(4, protein.shape[1]) if xy is not None else 0
    top_h = 1.6 + 0.22 * protein.shape[1]
    fig = pyplot.figure(figsize=(14, top_h + (3.4 if n_map else 0)), constrained_layout=True)
    grid = fig.add_gridspec(
        2 if n_map else 1, max(n_map, 1), height_ratios=[top_h, 3.4] if n_map else [1]
    )
    ax = fig.add_subplot(grid[0, :])
    if groups is not None:
        means = protein.groupby(groups, observed=True).mean()
        means = means.loc[sorted(means.index, key=lambda v: _natural(str(v)))]
        art = ax.imshow(means.to_numpy().T, aspect="auto", cmap="magma")
        ax.set_xticks(range(len(means)), [str(v) for v in means.index], fontsize=7, rotation=90)
        ax.set_yticks(range(protein.shape[1]), protein.columns, fontsize=7)
        ax.set_xlabel(group_name)
        fig.colorbar(art, ax=ax, shrink=0.8, label="mean level")
    else:
        parts = ax.violinplot(
            [protein[c].to_numpy(float) for c in protein.columns], showmedians=True
        )
        for body in parts["bodies"]:
            body.set_facecolor(BLUE)
        ax.set_xticks(range(1, protein.shape[1] + 1), protein.columns, fontsize=7, rotation=90)
        ax.set_ylabel("level")
    if n_map:
        top = protein.var().sort_values(ascending=False).index[:n_map]
        rows = subsample(len(xy), max_points, seed)
        for i, name in enumerate(top):
            sub = fig.add_subplot(grid[1, i])
            art = sub.scatter(
                xy[rows, 0],
                xy[rows, 1],
                s=point_size(len(rows)),
                c=protein[name].to_numpy(float)[rows],
                cmap="viridis",
                rasterized=True,
                linewidths=0,
            )
            sub.set_title(name, fontsize=9)
            sub.set_xticks([])
            sub.set_yticks([])
            fig.colorbar(art, ax=sub, shrink=0.7)
    return png_bytes(fig)
