"""Write the QC outputs of one sample: summary TSV + JSON, per-cell metrics, MultiQC table, PNG."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd

from .._atomic import write_bytes, write_json, write_text
from .qc import QCResult
from .qc_plots import plot_qc

TSV_FIELDS = (
    "sample",
    "n_cells_input",
    "n_cells_pass",
    "pct_cells_pass",
    "n_genes_input",
    "n_genes_detected",
    "filter_mode",
)


def summary_row(summary: dict) -> dict[str, object]:
    """One flat row: counts, removed-by-filter, doublets and median metrics after QC."""
    row: dict[str, object] = {k: summary.get(k) for k in TSV_FIELDS}
    for name, n in summary["removed_by"].items():
        row[f"removed_{name}"] = n
    d = summary["doublets"]
    row["doublet_method"] = d.get("method")
    row["doublet_rate"] = d.get("doublet_rate", "")
    for k, v in summary["median_after"].items():
        row[f"median_{k}"] = round(v, 4)
    return row


CELL_COLUMNS = (
    "barcode",
    "qc_total_counts",
    "qc_n_genes",
    "qc_pct_mt",
    "qc_pct_ribo",
    "qc_pct_hb",
    "qc_doublet_score",
    "qc_fail",
)


def cells_tsv_gz(obs: pd.DataFrame) -> bytes:
    """Every input cell's QC metrics and first failing filter ('' = kept), gzipped TSV.

    The gzip header holds no name or time, so the same cells give the same bytes.
    """
    cols = [c for c in CELL_COLUMNS if c in obs]
    table = obs[cols].copy()
    table["qc_fail"] = table["qc_fail"].astype(str) if "qc_fail" in table else ""
    text = table.to_csv(sep="\t", index_label="cell", float_format="%.6g", lineterminator="\n")
    return gzip.compress(text.encode(), mtime=0)


def _tsv(rows: list[dict[str, object]]) -> str:
    cols = list(dict.fromkeys(k for r in rows for k in r))
    lines = ["\t".join(cols)]
    lines += ["\t".join("" if r.get(c) is None else str(r.get(c, "")) for c in cols) for r in rows]
    return "\n".join(lines) + "\n"


def write_qc_outputs(result: QCResult, outdir: str | Path, prefix: str) -> dict[str, Path]:
    """Write ``<prefix>_qc_summary.{tsv,json}``, ``<prefix>_qc_cells.tsv.gz`` (every input
    cell's metrics, for the report), ``<prefix>_qc_mqc.tsv`` and ``<prefix>_qc.png``."""
    outdir = Path(outdir)
    s = result.summary
    row = summary_row(s)
    mqc = (
        "# id: 'scssl_qc'\n# section_name: 'scssl QC'\n"
        "# description: 'Cells kept by scssl QC (MAD or fixed filters, Scrublet doublets).'\n"
        "# plot_type: 'generalstats'\n"
        "# pconfig:\n#     n_cells_pass:\n#         title: 'Cells kept'\n"
        "#         format: '{:,.0f}'\n#     pct_cells_pass:\n#         title: '% kept'\n"
        "#         max: 100\n#         suffix: '%'\n"
    )
    mqc_cols = [
        "sample",
        "n_cells_input",
        "n_cells_pass",
        "pct_cells_pass",
        "doublet_rate",
        "median_n_genes",
        "median_total_counts",
        "median_pct_mt",
    ]
    mqc += _tsv([{("Sample" if c == "sample" else c): row.get(c, "") for c in mqc_cols}])
    paths = {
        "tsv": write_text(outdir / f"{prefix}_qc_summary.tsv", _tsv([row])),
        "json": write_json(outdir / f"{prefix}_qc_summary.json", s),
        "cells": write_bytes(outdir / f"{prefix}_qc_cells.tsv.gz", cells_tsv_gz(result.obs_all)),
        "mqc": write_text(outdir / f"{prefix}_qc_mqc.tsv", mqc),
        "png": plot_qc(
            result.obs_all,
            result.filters,
            outdir / f"{prefix}_qc.png",
            title=str(s["sample"]),
            doublet_threshold=s["doublets"].get("threshold"),
        ),
    }
    return paths
