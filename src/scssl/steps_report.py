"""File-level report steps: per-sample HTML + MultiQC files, run summary.json, MultiQC.

Like :mod:`scssl.steps`, the CLI and ``scssl run`` call these. Every output is computed before
the first file is written, and each file is written atomically.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ._atomic import write_json, write_text
from ._errors import InputError
from ._log import step
from .report import ReportInputs, build_context, build_sample, run_multiqc, run_summary
from .report.load import knee_totals
from .report.mqc import loss_json, sample_files, versions_yaml

PathLike = str | Path


def report(
    input: PathLike,
    output: PathLike,
    *,
    samples: Sequence[str] | None = None,
    raw: Mapping[str, PathLike] | None = None,
    **inputs: Any,
) -> dict[str, Path]:
    """Write ``<output>/<sample>.report.html`` and ``<output>/<sample>_scssl_*_mqc.tsv``.

    ``samples`` defaults to every sample of ``input``; ``raw`` maps a sample to its raw
    (unfiltered) matrix for the barcode-rank plot; ``inputs`` are the fields of
    :class:`~scssl.report.ReportInputs` (QC folder, checkpoints, metrics, markers, keys, ...).
    Returns sample -> HTML path.
    """
    ctx = build_context(input, ReportInputs(**inputs))
    present = ctx.run.obs["sample"].astype(str).unique().tolist() if "sample" in ctx.run.obs else []
    wanted = list(samples) if samples else present
    unknown = sorted(set((raw or {}).keys()) - set(wanted))
    if unknown:
        raise InputError(f"--raw names sample(s) {unknown} not reported (samples: {wanted}).")
    pages: dict[str, tuple[str, dict]] = {}
    for sample in wanted:
        with step(f"report {sample}"):
            totals = knee_totals(raw[sample]) if raw and sample in raw else None
            pages[sample] = build_sample(ctx, sample, totals)
    out = Path(output)
    written = {}
    for sample, (page, facts) in pages.items():
        written[sample] = write_text(out / f"{sample}.report.html", page)
        for suffix, text in sample_files(facts).items():
            write_text(out / f"{sample}_{suffix}", text)
    return written


def summary(
    input: PathLike, output: PathLike, *, mqc_dir: PathLike | None = None, **inputs: Any
) -> Path:
    """Write the run's ``summary.json`` to ``output`` and, into ``mqc_dir`` (default: the
    output's folder), ``scssl_loss_mqc.json`` (when a checkpoint is given) and
    ``scssl_mqc_versions.yml``. ``inputs``: fields of :class:`~scssl.report.ReportInputs`
    other than the marker ones (no marker table is read)."""
    ctx = build_context(input, ReportInputs(**inputs, markers=None, n_markers=0))
    record = run_summary(ctx)
    loss = loss_json(ctx.models)
    folder = Path(mqc_dir) if mqc_dir is not None else Path(output).parent
    if loss is not None:
        write_text(folder / "scssl_loss_mqc.json", loss)
    write_text(folder / "scssl_mqc_versions.yml", versions_yaml(ctx.versions))
    return write_json(output, record)


def multiqc(
    inputs: Sequence[PathLike],
    output: PathLike,
    *,
    configs: Sequence[PathLike] = (),
    title: str | None = None,
) -> Path:
    """Run MultiQC offline on the ``*_mqc`` files under ``inputs``; returns the report path."""
    return run_multiqc(inputs, output, configs=configs, title=title)
