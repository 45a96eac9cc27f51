"""One sample's report: facts, warnings and the HTML page with every section that has data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import __version__
from .._log import step
from .checks import sample_warnings
from .context import ReportContext
from .facts import sample_facts
from .html import Page, esc, image, para, table
from .load import qc_cells, qc_summary, sample_rows
from .plots_qc import barcode_ranks, filters_effect, qc_distributions
from .sections import annotation, cell_map, markers, metrics, models, protein

QC_ROWS = (
    ("n_cells_input", "cells before QC"),
    ("n_cells_pass", "cells after QC"),
    ("n_cells_removed", "cells removed"),
    ("pct_cells_pass", "% cells kept"),
    ("median_genes", "median genes per cell (after QC)"),
    ("median_counts", "median counts per cell (after QC)"),
    ("median_pct_mt", "median % mitochondrial (after QC)"),
    ("median_pct_mt_input", "median % mitochondrial (before QC)"),
    ("n_doublets", "doublets called"),
    ("doublet_rate", "doublet rate"),
    ("expected_doublet_rate", "expected doublet rate"),
)


def build_sample(
    ctx: ReportContext, sample: str, raw_totals: pd.Series | None = None
) -> tuple[str, dict[str, Any]]:
    """The HTML page and the facts (numbers + warnings) of ``sample``."""
    run, keys = ctx.run, ctx.keys
    rows = sample_rows(run, sample)
    summary, qc_source = qc_summary(ctx.qc_dir, sample, run.uns)
    facts = sample_facts(run, rows, sample, keys, summary, ctx.compositions)
    facts["warnings"] = sample_warnings(facts, ctx.thresholds)
    n_samples = run.obs["sample"].nunique()
    page = Page(
        title=f"scssl report — {sample}",
        subtitle=(
            f"run {ctx.run_name} · {n_samples} sample(s), {run.obs.shape[0]:,} cells · "
            f"scssl {__version__} · generated {ctx.generated}"
        ),
        footer="Warning thresholds: "
        + ", ".join(f"{k} = {v}" for k, v in ctx.thresholds.to_dict().items()),
    )
    _warnings(page, facts["warnings"])
    _overview(page, ctx, facts, qc_source)
    in_sample = np.zeros(run.obs.shape[0], bool)
    in_sample[rows] = True
    cells = qc_cells(ctx.qc_dir, sample)
    with step("section qc"):
        _qc(page, ctx, sample, summary, facts, rows, cells)
    with step("section knee"):
        _knee(page, ctx, raw_totals, rows, cells)
    with step("section model"):
        models(page, ctx)
    with step("section cell map"):
        cell_map(page, ctx, sample, in_sample)
    annotation(page, ctx, facts, rows)
    markers(page, ctx, facts)
    metrics(page, ctx)
    with step("section protein"):
        protein(page, ctx, sample, rows)
    return page.render(), facts


def _warnings(page: Page, warnings: list[dict[str, Any]]) -> None:
    if warnings:
        items = "".join(f"<li>{esc(w['message'])}</li>" for w in warnings)
        page.add("warnings", f"Warnings ({len(warnings)})", f'<ul class="warn">{items}</ul>')
    else:
        page.add("warnings", "Warnings", '<p class="ok">No warnings for this sample.</p>')


def _overview(page: Page, ctx: ReportContext, facts: dict[str, Any], qc_source: str) -> None:
    rows: list[list[Any]] = [["sample", facts["sample"]]]
    rows += [[k, v] for k, v in facts["metadata"].items()]
    rows += [
        ["cells in the input file", facts["n_cells"]],
        ["input file", ctx.run.path.name],
        [
            "QC summary",
            Path(qc_source).name if qc_source.endswith(".json") else qc_source or "not available",
        ],
    ]
    if ctx.keys.cluster:
        rows.append(["cluster column", f"obs['{ctx.keys.cluster}']"])
    if ctx.keys.label:
        rows.append(["label column", f"obs['{ctx.keys.label}']"])
    procs = list(ctx.versions)
    tools = list(dict.fromkeys(t for p in procs for t in ctx.versions[p]))
    vers = [[t, *(ctx.versions[p].get(t, "") for p in procs)] for t in tools]
    body = '<div class="cols"><div>' + table(["field", "value"], rows) + "</div><div>"
    body += table(["software", *procs], vers) + "</div></div>"
    page.add("overview", "Run and sample", body)


def _source_name(source: str) -> str:
    if not source:
        return "not available"
    return Path(source).name if source.endswith(".json") else source


def _qc(
    page: Page,
    ctx: ReportContext,
    sample: str,
    summary: dict | None,
    facts: dict[str, Any],
    rows: np.ndarray,
    cells: pd.DataFrame | None,
) -> None:
    qc = facts["qc"]
    if qc is None:
        page.omit("QC", "no QC summary (give --qc-dir, or an input merged by `scssl merge`)")
        return
    vals = [[label, qc.get(key)] for key, label in QC_ROWS]
    for row in vals:
        if row[0].endswith("doublet rate") and row[1] is not None:
            row[1] = 100 * row[1]
            row[0] += " (%)"
    ids = [[None, f"qc-{key}"] for key, _ in QC_ROWS]
    body = table(["QC", sample], vals, ids=ids, digits=2)
    filters = summary.get("filters", {}) if summary else {}
    frows = [
        [
            name,
            f.get("metric"),
            f.get("low"),
            f.get("high"),
            f.get("n_failed"),
            qc["removed_by"].get(name, 0),
        ]
        for name, f in filters.items()
    ]
    if "doublet" in qc["removed_by"]:
        frows.append(
            [
                "doublet",
                "qc_doublet_score",
                None,
                qc["doublet_threshold"],
                qc["n_doublets"],
                qc["removed_by"]["doublet"],
            ]
        )
    body += "<h3>Filters</h3>" + table(
        ["filter", "metric", "low", "high", "cells flagged", "removed (first failing filter)"],
        frows,
        digits=3,
    )
    all_cells = cells is not None
    if cells is None and {"qc_total_counts", "qc_n_genes"} <= set(ctx.run.obs.columns):
        cells = ctx.run.obs.iloc[rows]
        if "qc_fail" not in cells:
            cells = cells.assign(qc_fail="")
    if cells is not None:
        cells = cells.assign(qc_fail=cells["qc_fail"].astype(str).replace("nan", ""))
        for col in ("qc_pct_mt", "qc_pct_ribo"):
            if col not in cells:
                cells[col] = np.nan
        body += image(
            qc_distributions(cells, filters, all_cells=all_cells, seed=ctx.seed),
            "QC metric distributions with thresholds",
        )
        body += image(
            filters_effect(
                cells,
                qc["removed_by"],
                qc["n_cells_pass"],
                doublet_threshold=qc["doublet_threshold"],
                max_points=ctx.max_points,
                seed=ctx.seed,
            ),
            "cells removed per filter, counts vs genes, doublet scores",
        )
        if not all_cells:
            body += para(
                f"Distributions show the {len(cells):,} kept cells only: "
                f"{sample}_qc_cells.tsv.gz (written by `scssl qc`) was not given with --qc-dir."
            )
    page.add("qc", "Quality control", body)


def _knee(
    page: Page,
    ctx: ReportContext,
    totals: pd.Series | None,
    rows: np.ndarray,
    cells: pd.DataFrame | None,
) -> None:
    if totals is None:
        page.omit("Barcode ranks", "no raw (unfiltered) matrix given (--raw)")
        return
    kept = set(ctx.run.obs["barcode"].astype(str).iloc[rows]) if "barcode" in ctx.run.obs else set()
    called = set(cells["barcode"].astype(str)) if cells is not None and "barcode" in cells else kept
    body = image(barcode_ranks(totals, called, kept), "barcode rank (knee) plot")
    body += para(
        "Total counts of every barcode of the raw matrix by rank; orange: barcodes called cells "
        "(the QC input), blue: cells kept after QC."
    )
    page.add("knee", "Barcode ranks", body)
