"""Write the QC outputs of one sample: summary TSV + JSON, MultiQC table and the PNG figure."""

from __future__ import annotations

from pathlib import Path

from .._atomic import write_json, write_text
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


def _tsv(rows: list[dict[str, object]]) -> str:
    cols = list(dict.fromkeys(k for r in rows for k in r))
    lines = ["\t".join(cols)]
    lines += ["\t".join("" if r.get(c) is None else str(r.get(c, "")) for c in cols) for r in rows]
    return "\n".join(lines) + "\n"


def write_qc_outputs(result: QCResult, outdir: str | Path, prefix: str) -> dict[str, Path]:
    """Write ``<prefix>_qc_summary.{tsv,json}``, ``<prefix>_qc_mqc.tsv`` and ``<prefix>_qc.png``."""
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
