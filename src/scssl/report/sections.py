"""Report sections about the model and the cells: training, map, composition, annotation,
markers, metrics, proteins. Each adds itself to the page, or a note saying why it is absent."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .context import ReportContext
from .html import Page, esc, image, para, table
from .plots_embed import composition_bars, loss_curves, protein_panels, umap_panels

MODEL_FIELDS = ("family", "task", "seed", "scssl_version", "data_hash")


def models(page: Page, ctx: ReportContext) -> None:
    if not ctx.models:
        page.omit("Model training", "no checkpoint given (--checkpoint)")
        return
    body = ""
    for m in ctx.models:
        h = m.history
        info = [[k, m.config[k]] for k in MODEL_FIELDS if k in m.config]
        info.append(["epochs trained", int(h["epoch"].max())])
        info.append(["final train loss", float(h["train_loss"].iloc[-1])])
        if "val_loss" in h and h["val_loss"].notna().any():
            info.append(["best validation loss", float(h["val_loss"].min())])
        for k, v in sorted(m.config.get("model_config", {}).items()):
            if isinstance(v, int | float | str | bool):
                info.append([f"model: {k}", v])
        body += f"<h3>{esc(m.name)}</h3>" + table(["field", "value"], info, digits=4)
        body += image(loss_curves(m), f"{m.name} training and validation loss")
    page.add("model", "Model training", body)


def cell_map(page: Page, ctx: ReportContext, sample: str, in_sample: np.ndarray) -> None:
    keys, obs = ctx.keys, ctx.run.obs
    if keys.umap is None:
        page.omit("Cell map (UMAP)", "no obsm['X_umap'] in the input (run `scssl cluster`)")
    else:
        xy = np.asarray(ctx.run.obsm[keys.umap])[:, :2].astype(float)
        png = umap_panels(
            xy,
            obs,
            in_sample,
            cluster=keys.cluster,
            label=keys.label,
            score=keys.score,
            sample=sample,
            max_points=ctx.max_points,
            seed=ctx.seed,
        )
        page.add("umap", "Cell map (UMAP)", image(png, "UMAP by cluster, label, sample"))
    if not ctx.compositions:
        page.omit("Composition", "no cluster or cell-type column in the input")
        return
    body = ""
    for key, comp in ctx.compositions.items():
        what = "cluster" if key == keys.cluster else "cell type"
        counts = comp.loc[sample]
        pct = 100 * counts / max(int(counts.sum()), 1)
        body += f"<h3>{esc(what.capitalize())} × sample (obs['{esc(key)}'])</h3>"
        body += image(composition_bars(comp, sample, f"{what} composition per sample"), what)
        rows = [[str(c), int(counts[c]), float(pct[c])] for c in comp.columns if counts[c] > 0]
        body += table([what, f"cells in {sample}", "% of sample"], rows)
    page.add("composition", "Composition", body)


def markers(page: Page, ctx: ReportContext, facts: dict[str, Any]) -> None:
    if ctx.markers is None:
        page.omit("Top markers", ctx.markers_note)
        return
    present = set((facts["clusters"] or {}).get("counts", {}))
    rows = [
        [group, ", ".join(genes)]
        for group, genes in ctx.markers.items()
        if not present or group in present
    ]
    body = table(["cluster", "top genes"], rows) + para(f"Markers {ctx.markers_note}.")
    page.add("markers", "Top markers per cluster", body)


def _flat_numbers(d: dict[str, Any], prefix: str = "") -> list[list[Any]]:
    out: list[list[Any]] = []
    for k, v in d.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            out += _flat_numbers(v, name + " / ")
        elif isinstance(v, int | float | str | bool) and not (isinstance(v, str) and len(v) > 80):
            out.append([name, v])
    return out


def metrics(page: Page, ctx: ReportContext) -> None:
    if ctx.metrics is None:
        page.omit("Metrics", "no metrics JSON given (--metrics; `scssl evaluate` writes one)")
        return
    top = [[k, v] for k, v in ctx.metrics.items() if not isinstance(v, dict | list)]
    body = table(["metric", "value"], top, digits=4) if top else ""
    for key, value in ctx.metrics.items():
        if isinstance(value, dict) and value:
            rows = _flat_numbers(value)[:200]
            if rows:
                body += f"<h3>{esc(key)}</h3>" + table(["metric", "value"], rows, digits=4)
    body += para(f"From {ctx.metrics_path} (metrics of the whole run).")
    page.add("metrics", "Metrics", body)


def annotation(page: Page, ctx: ReportContext, facts: dict[str, Any], rows: np.ndarray) -> None:
    """Cells per label with their confidence; the cluster-level calls with their evidence."""
    keys, ann = ctx.keys, facts["annotation"]
    if ann is None:
        page.omit("Cell types", "no cell-type label column in the input (run `scssl annotate`)")
        return
    obs = ctx.run.obs.iloc[rows]
    labels = obs[keys.label].astype(str)
    header = ["cell type", "cells", "% of sample"]
    if keys.score:
        header.append(f"median {keys.score}")
        medians = obs[keys.score].astype(float).groupby(labels.to_numpy()).median()
    body_rows = []
    for label, n in ann["counts"].items():
        row: list[Any] = [label, n, 100 * n / max(facts["n_cells"], 1)]
        if keys.score:
            row.append(float(medians.get(label, np.nan)))
        body_rows.append(row)
    body = table(header, body_rows, digits=2)
    record = ctx.run.uns.get("scssl_annotate")
    if isinstance(record, dict):
        how = record.get("mode", "")
        source = record.get("markers") or record.get("classifier") or ""
        body = para(f"Labels from `scssl annotate` ({how}: {source}).") + body
        clusters = record.get("clusters")
        present = set((facts["clusters"] or {}).get("counts", {}))
        if isinstance(clusters, pd.DataFrame) and {"label", "evidence"} <= set(clusters):
            crow = [
                [str(c), r["label"], int(r.get("n_cells", 0)), r["evidence"]]
                for c, r in clusters.iterrows()
                if not present or str(c) in present
            ]
            body += "<h3>Cluster calls (all samples)</h3>"
            body += table(["cluster", "label", "cells", "evidence"], crow)
    page.add("annotation", "Cell types", body)


def protein(page: Page, ctx: ReportContext, sample: str, rows: np.ndarray) -> None:
    keys = ctx.keys
    if keys.protein is None:
        page.omit("Protein (CITE-seq)", "no Antibody Capture panel in the input")
        return
    prot = ctx.run.obsm[keys.protein]
    prot = prot if isinstance(prot, pd.DataFrame) else pd.DataFrame(np.asarray(prot))
    sub = prot.iloc[rows]
    if keys.protein == "protein_counts":
        sub = np.log1p(sub)
    groups = ctx.run.obs[keys.cluster].astype(str).to_numpy()[rows] if keys.cluster else None
    xy = None
    if keys.umap:
        xy = np.asarray(ctx.run.obsm[keys.umap])[rows, :2].astype(float)
    what = "CLR" if keys.protein == "protein_clr" else "log1p counts"
    png = protein_panels(
        sub, groups, keys.cluster or "", xy, max_points=ctx.max_points, seed=ctx.seed
    )
    body = image(png, "protein panels") + para(
        f"obsm['{keys.protein}'] ({what}) of the {len(rows):,} cells of {sample}: mean per "
        "cluster, and the most variable antibodies on the UMAP."
    )
    page.add("protein", "Protein (CITE-seq)", body)
