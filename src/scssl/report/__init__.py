"""Per-sample HTML reports, MultiQC custom content, the run summary and the MultiQC run."""

from .checks import ReportThresholds
from .context import ReportContext, ReportInputs, build_context
from .multiqc import run_multiqc
from .sample import build_sample
from .summary import run_summary

__all__ = [
    "ReportContext",
    "ReportInputs",
    "ReportThresholds",
    "build_context",
    "build_sample",
    "run_multiqc",
    "run_summary",
]
