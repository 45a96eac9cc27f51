"""Warnings called out at the top of a sample's report, each with the threshold that raised it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class ReportThresholds:
    """When a sample earns a warning; every value is a ``scssl report --warn-...`` option.

    min_cells: fewer cells than this after QC.
    min_pct_kept: QC kept less than this % of the input cells.
    max_pct_mt: median % mitochondrial counts of the input cells above this (damaged cells).
    max_doublet_rate: Scrublet called more than this fraction of the cells doublets.
    max_sample_specific: more than this fraction of the sample's cells lie in clusters made
        of >= 90% this sample (poor mixing with the other samples; needs clusters).
    max_pct_unassigned: more than this % of cells without a confident cell-type label.
    """

    min_cells: int = 500
    min_pct_kept: float = 50.0
    max_pct_mt: float = 10.0
    max_doublet_rate: float = 0.10
    max_sample_specific: float = 0.5
    max_pct_unassigned: float = 30.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _warn(code: str, message: str, value: float, threshold: float) -> dict[str, Any]:
    return {"code": code, "message": message, "value": value, "threshold": threshold}


def sample_warnings(facts: dict[str, Any], t: ReportThresholds) -> list[dict[str, Any]]:
    """The warnings of one sample (code, message, value, threshold), most serious first."""
    out: list[dict[str, Any]] = []
    qc = facts.get("qc")
    n_cells = qc["n_cells_pass"] if qc else facts["n_cells"]
    if n_cells < t.min_cells:
        out.append(
            _warn(
                "low_cell_count",
                f"Low cell count: {n_cells:,} cells after QC (warning below {t.min_cells:,}).",
                n_cells,
                t.min_cells,
            )
        )
    if qc:
        kept = qc.get("pct_cells_pass")
        if kept is not None and kept < t.min_pct_kept:
            out.append(
                _warn(
                    "low_pct_kept",
                    f"QC kept only {kept:.1f}% of {qc['n_cells_input']:,} cells "
                    f"(warning below {t.min_pct_kept:g}%).",
                    kept,
                    t.min_pct_kept,
                )
            )
        mt = qc.get("median_pct_mt_input")
        if mt is not None and mt > t.max_pct_mt:
            out.append(
                _warn(
                    "high_mito",
                    f"High mitochondrial fraction: median {mt:.1f}% of counts before QC "
                    f"(warning above {t.max_pct_mt:g}%).",
                    mt,
                    t.max_pct_mt,
                )
            )
        rate = qc.get("doublet_rate")
        if rate is not None and rate > t.max_doublet_rate:
            exp = qc.get("expected_doublet_rate")
            expected = f"; expected {100 * exp:.1f}%" if exp is not None else ""
            out.append(
                _warn(
                    "high_doublet_rate",
                    f"High doublet rate: {100 * rate:.1f}% of cells called doublets{expected} "
                    f"(warning above {100 * t.max_doublet_rate:g}%).",
                    rate,
                    t.max_doublet_rate,
                )
            )
    clusters = facts.get("clusters")
    spec = clusters.get("sample_specific_fraction") if clusters else None
    if spec is not None and spec > t.max_sample_specific:
        out.append(
            _warn(
                "poor_mixing",
                f"Poor mixing: {100 * spec:.0f}% of the cells lie in clusters made of at least "
                f"90% this sample (warning above {100 * t.max_sample_specific:g}%); a batch "
                "effect or a sample-specific population.",
                spec,
                t.max_sample_specific,
            )
        )
    ann = facts.get("annotation")
    if ann and ann["pct_unassigned"] > t.max_pct_unassigned:
        out.append(
            _warn(
                "many_unassigned",
                f"{ann['pct_unassigned']:.1f}% of cells have no confident cell-type label "
                f"(warning above {t.max_pct_unassigned:g}%).",
                ann["pct_unassigned"],
                t.max_pct_unassigned,
            )
        )
    return out
