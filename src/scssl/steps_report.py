"""File-level report steps: per-sample HTML + MultiQC files, run summary.json, MultiQC.

Like :mod:`scssl.steps`, the CLI and ``scssl run`` call these. Every output is computed before
the first file is written, and each file is written atomically.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from ._atomic import write_json, write_text
from ._errors import InputError
from ._log import step
from .report import ReportThresholds, build_context, build_sample, run_multiqc, run_summary
from .report.load import knee_totals
from .report.mqc import loss_json, sample_files, versions_yaml

PathLike = str | Path


def report(
    input: PathLike,
    output: PathLike,
    *,
    samples: Sequence[str] | None = None,
    qc_dir: PathLike | None = None,
    checkpoints: Sequence[PathLike] = (),
    metrics: PathLike | None = None,
    markers: PathLike | None = None,
    raw: Mapping[str, PathLike] | None = None,
    versions: Sequence[PathLike] = (),
    cluster_key: str | None = None,
    label_key: str | None = None,
    score_key: str | None = None,
    thresholds: ReportThresholds | None = None,
    run_name: str | None = None,
    n_markers: int = 8,
    max_points: int = 50_000,
    seed: int = 0,
) -> dict[str, Path]:
    """Write ``<output>/<sample>.report.html`` and ``<output>/<sample>_scssl_*_mqc.tsv``.

    ``samples`` defaults to every sample of ``input``; ``raw`` maps a sample to its raw
    (unfiltered) matrix for the barcode-rank plot. Returns sample -> HTML path.
    """
    ctx = build_context(
        input,
        qc_dir=qc_dir,
        checkpoints=checkpoints,
        metrics=metrics,
        markers=markers,
        versions=versions,
        cluster_key=cluster_key,
        label_key=label_key,
        score_key=score_key,
        thresholds=thresholds,
        run_name=run_name,
        n_markers=n_markers,
        max_points=max_points,
        seed=seed,
    )
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
    input: PathLike,
    output: PathLike,
    *,
    qc_dir: PathLike | None = None,
    checkpoints: Sequence[PathLike] = (),
    metrics: PathLike | None = None,
    versions: Sequence[PathLike] = (),
    mqc_dir: PathLike | None = None,
    cluster_key: str | None = None,
    label_key: str | None = None,
    score_key: str | None = None,
    thresholds: ReportThresholds | None = None,
    run_name: str | None = None,
) -> Path:
    """Write the run's ``summary.json`` to ``output`` and, into ``mqc_dir`` (default: the
    output's folder), ``scssl_loss_mqc.json`` (when a checkpoint is given) and
    ``scssl_mqc_versions.yml``."""
    ctx = build_context(
        input,
        qc_dir=qc_dir,
        checkpoints=checkpoints,
        metrics=metrics,
        versions=versions,
        cluster_key=cluster_key,
        label_key=label_key,
        score_key=score_key,
        thresholds=thresholds,
        run_name=run_name,
        markers=None,
        n_markers=0,
    )
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
