"""Report commands: ``scssl report`` (per sample), ``scssl summary`` (run), ``scssl multiqc``."""

from __future__ import annotations

from pathlib import Path

import click

from ._cli_common import (
    PATH_IN,
    input_option,
    inputs_option,
    output_option,
    seed_option,
    stack_options,
)
from .report.checks import ReportThresholds

_W = ReportThresholds()

WARN_OPTIONS = (
    ("--warn-min-cells", "min_cells", int, "Warn below this many cells after QC."),
    ("--warn-min-pct-kept", "min_pct_kept", float, "Warn when QC kept less than this %."),
    ("--warn-max-pct-mt", "max_pct_mt", float, "Warn above this median % mito before QC."),
    ("--warn-max-doublet-rate", "max_doublet_rate", float, "Warn above this doublet fraction."),
    (
        "--warn-max-sample-specific",
        "max_sample_specific",
        float,
        "Warn (poor mixing) when more than this fraction of a sample's cells lie in clusters "
        "made of >= 90% that sample.",
    ),
    ("--warn-max-pct-unassigned", "max_pct_unassigned", float, "Warn above this % unlabelled."),
)


_warn_options = stack_options(
    *(
        click.option(flag, "warn_" + field, type=typ, default=getattr(_W, field), help=help_)
        for flag, field, typ, help_ in WARN_OPTIONS
    )
)
"""The ``--warn-*`` thresholds of :class:`ReportThresholds` (report and summary)."""


INPUT = input_option("The run's final .h5ad (all samples; obs['sample']).")


_run_inputs = stack_options(
    click.option(
        "--qc-dir",
        type=PATH_IN,
        default=None,
        help="Folder with <sample>_qc_summary.json and <sample>_qc_cells.tsv.gz from "
        "`scssl qc` [default: the QC summaries stored in the input].",
    ),
    click.option(
        "--checkpoint",
        "checkpoints",
        multiple=True,
        type=PATH_IN,
        help="Checkpoint folder (history.tsv, config.json); repeatable.",
    ),
    click.option("--metrics", type=PATH_IN, default=None, help="Metrics JSON."),
    click.option(
        "--versions",
        multiple=True,
        type=PATH_IN,
        help="versions.yml of the run's steps; repeatable.",
    ),
    click.option(
        "--cluster-key",
        default=None,
        help="obs column of clusters [default: leiden_<res> nearest 1.0, else kmeans].",
    ),
    click.option(
        "--label-key", default=None, help="obs column of cell types [default: scssl_label]."
    ),
    click.option(
        "--score-key",
        default=None,
        help="obs column of label confidence [default: <label-key>_score, ...].",
    ),
    click.option("--run-name", default=None, help="Run name [default: the input's name]."),
)
"""Options of both report and summary: QC folder, checkpoints, metrics, versions, keys."""


def _thresholds(kw: dict) -> ReportThresholds:
    return ReportThresholds(**{f: kw.pop("warn_" + f) for _, f, _, _ in WARN_OPTIONS})


def _raw_map(items: tuple[str, ...], samples: tuple[str, ...]) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if sep and key and not Path(item).exists():
            out[key] = Path(value)
        elif len(samples) == 1:
            out[samples[0]] = Path(item)
        else:
            raise click.BadParameter(
                f"{item!r}: give SAMPLE=PATH (a bare PATH needs exactly one --sample)",
                param_hint="--raw",
            )
    return out


@click.command()
@INPUT
@output_option("Folder for <sample>.report.html and <sample>_scssl_*_mqc.tsv.")
@click.option(
    "--sample",
    "samples",
    multiple=True,
    help="Sample to report; repeatable [default: every sample].",
)
@_run_inputs
@click.option(
    "--markers",
    type=PATH_IN,
    default=None,
    help="Markers table (cluster, gene[, score]) "
    "[default: uns['rank_genes_groups'], else computed].",
)
@click.option(
    "--raw",
    multiple=True,
    metavar="[SAMPLE=]PATH",
    help="Raw (unfiltered) matrix of a sample for the barcode-rank plot; repeatable.",
)
@click.option("--n-markers", type=int, default=8, help="Top marker genes shown per cluster.")
@click.option("--max-points", type=int, default=50_000, help="Cells drawn per scatter plot.")
@seed_option(help="Seed of the scatter-plot subsample.")
@_warn_options
def report(**kw) -> None:
    """Per-sample self-contained HTML report and MultiQC files."""
    from . import steps_report

    thresholds = _thresholds(kw)
    samples = kw.pop("samples")
    steps_report.report(
        kw.pop("input_"),
        kw.pop("output"),
        samples=list(samples) or None,
        raw=_raw_map(kw.pop("raw"), samples),
        thresholds=thresholds,
        **kw,
    )


@click.command()
@INPUT
@output_option("summary.json to write.")
@_run_inputs
@click.option(
    "--mqc-dir",
    type=PATH_IN,
    default=None,
    help="Folder for scssl_loss_mqc.json and scssl_mqc_versions.yml "
    "[default: the output's folder].",
)
@_warn_options
def summary(**kw) -> None:
    """Run summary.json (samples, model, metrics, warnings) and run-level MultiQC files."""
    from . import steps_report

    thresholds = _thresholds(kw)
    steps_report.summary(kw.pop("input_"), kw.pop("output"), thresholds=thresholds, **kw)


@click.command()
@inputs_option("Folder or file with *_mqc files; repeatable.")
@output_option("Folder for multiqc_report.html and multiqc_report_data/.")
@click.option(
    "--config",
    "configs",
    multiple=True,
    type=PATH_IN,
    help="Extra MultiQC config, applied after scssl's; repeatable.",
)
@click.option("--title", default=None, help="Report title [default: scssl run report].")
def multiqc(inputs: tuple[Path, ...], output: Path, configs: tuple[Path, ...], title) -> None:
    """MultiQC run report, offline, with the scssl config (needs scssl[report])."""
    from . import steps_report

    click.echo(str(steps_report.multiqc(inputs, output, configs=configs, title=title)))
