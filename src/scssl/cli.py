"""The ``scssl`` command line: one subcommand per pipeline step, each a thin wrapper.

Every step has the shape ``scssl <step> --input PATH --output PATH [options]``; exit codes are
0 on success, 2 for bad input or usage (the message names the file, row or field) and 1 for
other failures.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from . import __version__
from ._cli_common import (
    PATH_IN,
    _threads,
    input_option,
    inputs_option,
    output_option,
    seed_option,
    threads_option,
)
from ._errors import ScsslError
from ._log import configure
from .pp.preprocess import PreprocessParams
from .pp.qc import QCParams
from .pp.qc_filter import QCThresholds

_T = QCThresholds()
_Q = QCParams()
_P = PreprocessParams()


@click.group(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(__version__, prog_name="scssl")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors.")
def cli(verbose: int, quiet: bool) -> None:
    """scssl: self-supervised learning for single-cell RNA-seq and CITE-seq."""
    configure(0 if quiet else 1 + verbose)


@cli.command()
@input_option("Cell Ranger outs/ folder, matrix folder, 10x .h5 or .h5ad.")
@output_option("Output .h5ad.")
@click.option("--sample", required=True, help="Sample id; prefixes every barcode.")
@click.option(
    "--meta",
    multiple=True,
    metavar="KEY=VALUE",
    help="Samplesheet field (batch, condition, expected_cells or a QC override); repeatable.",
)
@click.option("--raw", is_flag=True, help="In an outs/ folder read raw_feature_bc_matrix.")
def ingest(input_: Path, output: Path, sample: str, meta: tuple[str, ...], raw: bool) -> None:
    """Read one sample's counts (RNA + Antibody Capture) into the scssl .h5ad layout."""
    from . import steps

    steps.ingest(input_, output, sample=sample, meta=_parse_meta(meta), raw=raw)


def _parse_meta(items: tuple[str, ...]) -> dict[str, object]:
    from .io.samplesheet import sample_fields

    fields: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--meta")
        if value != "":
            fields[key] = value
    return sample_fields(fields)


@cli.command()
@input_option("Ingested sample .h5ad.")
@output_option("Filtered sample .h5ad.")
@click.option(
    "--report-dir",
    type=PATH_IN,
    default=None,
    help="Folder for <sample>_qc_summary.{tsv,json}, _qc_mqc.tsv, _qc.png "
    "[default: the output's folder].",
)
@click.option(
    "--filter-mode",
    type=click.Choice(["mad", "fixed"]),
    default=_T.mode,
    help="MAD outlier filters plus fixed bounds, or fixed bounds only.",
)
@click.option("--n-mads", type=float, default=_T.n_mads, help="MADs for counts and genes.")
@click.option("--n-mads-mt", type=float, default=_T.n_mads_mt, help="MADs above for % mito.")
@click.option("--min-genes", type=int, default=_T.min_genes)
@click.option("--max-genes", type=int, default=_T.max_genes)
@click.option("--min-counts", type=int, default=_T.min_counts)
@click.option("--max-counts", type=int, default=_T.max_counts)
@click.option("--max-pct-mt", type=float, default=_T.max_pct_mt)
@click.option("--max-pct-ribo", type=float, default=_T.max_pct_ribo)
@click.option("--max-pct-hb", type=float, default=_T.max_pct_hb)
@click.option(
    "--doublet-method", type=click.Choice(["scrublet", "none"]), default=_Q.doublet_method
)
@click.option(
    "--expected-doublet-rate",
    type=float,
    default=None,
    help="[default: 0.8% per 1,000 cells, 10x multiplet table]",
)
@click.option(
    "--doublet-threshold",
    type=float,
    default=None,
    help="[default: Scrublet's automatic threshold]",
)
@click.option(
    "--doublet-sim-ratio",
    type=float,
    default=_Q.doublet_sim_ratio,
    help="Simulated doublets per observed cell (Scrublet).",
)
@click.option(
    "--doublet-n-pcs",
    type=int,
    default=_Q.doublet_n_pcs,
    help="Principal components for Scrublet's neighbour graph.",
)
@click.option("--keep-doublets", is_flag=True, help="Score and flag doublets but keep them.")
@click.option(
    "--min-cells-pass", type=int, default=_Q.min_cells_pass, help="Fail when fewer cells pass QC."
)
@seed_option(_Q.seed)
@threads_option
def qc(
    input_: Path,
    output: Path,
    report_dir: Path | None,
    filter_mode: str,
    n_mads: float,
    n_mads_mt: float,
    min_genes,
    max_genes,
    min_counts,
    max_counts,
    max_pct_mt,
    max_pct_ribo,
    max_pct_hb,
    doublet_method: str,
    expected_doublet_rate,
    doublet_threshold,
    doublet_sim_ratio: float,
    doublet_n_pcs: int,
    keep_doublets: bool,
    min_cells_pass: int,
    seed: int,
    threads: int | None,
) -> None:
    """Per-cell QC metrics, MAD/fixed filters, Scrublet doublets and gene filter for one sample."""
    from . import steps

    _threads(threads)
    t = QCThresholds(
        mode=filter_mode,
        n_mads=n_mads,
        n_mads_mt=n_mads_mt,
        min_genes=min_genes,
        max_genes=max_genes,
        min_counts=min_counts,
        max_counts=max_counts,
        max_pct_mt=max_pct_mt,
        max_pct_ribo=max_pct_ribo,
        max_pct_hb=max_pct_hb,
    )
    params = QCParams(
        thresholds=t,
        doublet_method=doublet_method,
        remove_doublets=not keep_doublets,
        expected_doublet_rate=expected_doublet_rate,
        doublet_threshold=doublet_threshold,
        doublet_sim_ratio=doublet_sim_ratio,
        doublet_n_pcs=doublet_n_pcs,
        min_cells_pass=min_cells_pass,
        seed=seed,
    )
    steps.qc(input_, output, params=params, report_dir=report_dir)


@cli.command()
@inputs_option("QC'd sample .h5ad; repeat for every sample.")
@output_option("Merged .h5ad.")
@click.option("--batch-key", default="batch", help="obs column naming the batch.")
@click.option(
    "--join",
    type=click.Choice(["inner", "outer"]),
    default="inner",
    help="Genes in every sample, or in any (absent = 0).",
)
@click.option(
    "--min-cells-gene",
    type=int,
    default=3,
    help="Keep genes detected in at least this many cells over all samples.",
)
def merge(
    inputs: tuple[Path, ...], output: Path, batch_key: str, join: str, min_cells_gene: int
) -> None:
    """Concatenate samples into one AnnData with a batch key; drop genes seen in too few cells."""
    from . import steps

    steps.merge(inputs, output, batch_key=batch_key, join=join, min_cells_gene=min_cells_gene)


@cli.command()
@input_option("Merged .h5ad.")
@output_option("Preprocessed .h5ad.")
@click.option(
    "--hvg-output",
    type=PATH_IN,
    default=None,
    help="Also write an HVG-only .h5ad (genes in rank order).",
)
@click.option("--n-top-genes", type=int, default=_P.n_top_genes)
@click.option(
    "--batch-key",
    default=_P.batch_key,
    help="Batch-aware HVG over this obs column ('' to ignore batches).",
)
@click.option("--target-sum", type=float, default=_P.target_sum)
@click.option(
    "--pearson-residuals",
    is_flag=True,
    help="Also compute Pearson residuals of the HVGs and run PCA on them.",
)
@click.option("--n-pcs", type=int, default=_P.n_pcs)
@click.option(
    "--scale-pca/--no-scale-pca",
    default=_P.scale_pca,
    show_default=True,
    help="z-score each HVG (clipped at 10) before PCA, as Seurat and scanpy's tutorials do.",
)
@seed_option(_P.seed)
@threads_option
def preprocess(
    input_: Path,
    output: Path,
    hvg_output: Path | None,
    n_top_genes: int,
    batch_key: str,
    target_sum: float,
    pearson_residuals: bool,
    n_pcs: int,
    scale_pca: bool,
    seed: int,
    threads: int | None,
) -> None:
    """Normalize (counts kept), highly variable genes, protein CLR and PCA."""
    from . import steps

    _threads(threads)
    params = PreprocessParams(
        n_top_genes=n_top_genes,
        batch_key=batch_key or None,
        target_sum=target_sum,
        pearson_residuals=pearson_residuals,
        n_pcs=n_pcs,
        scale_pca=scale_pca,
        seed=seed,
    )
    steps.preprocess(input_, output, params=params, hvg_output=hvg_output)


@cli.command()
@output_option("Folder to write samples into.")
@click.option("--n-samples", type=int, default=3)
@click.option("--n-cells", type=int, default=400, help="Cells per sample.")
@click.option("--n-genes", type=int, default=2000)
@click.option("--n-proteins", type=int, default=12, help="Antibody Capture features (0: none).")
@click.option("--n-cell-types", type=int, default=5)
@seed_option()
def simulate(
    output: Path,
    n_samples: int,
    n_cells: int,
    n_genes: int,
    n_proteins: int,
    n_cell_types: int,
    seed: int,
) -> None:
    """Write realistic multi-sample Cell Ranger v3 folders and their samplesheet."""
    from .sim import simulate as _simulate

    sheet = _simulate(
        output,
        n_samples=n_samples,
        n_cells=n_cells,
        n_genes=n_genes,
        n_proteins=n_proteins,
        n_cell_types=n_cell_types,
        seed=seed,
    )
    click.echo(str(sheet))


@cli.command()
@click.option(
    "--samplesheet",
    type=PATH_IN,
    default=None,
    help="CSV: sample,path[,...] [default: the params file's input].",
)
@click.option(
    "--outdir", type=PATH_IN, default=None, help="Results folder [default: the params' outdir]."
)
@click.option(
    "--params-file",
    type=PATH_IN,
    default=None,
    help="YAML/JSON of params, the file `nextflow run -params-file` takes (docs/usage.md).",
)
@seed_option(None, help="[default: the params' seed, else 0]")
@threads_option
def run(
    samplesheet: Path | None,
    outdir: Path | None,
    params_file: Path | None,
    seed: int | None,
    threads: int | None,
) -> None:
    """Run the whole pipeline on one machine: ingest, qc, merge, preprocess, pretrain, embed,
    cluster, [finetune], annotate, evaluate, report, summary, MultiQC."""
    from .run import run_pipeline

    _threads(threads)
    run_pipeline(samplesheet, outdir, params_file=params_file, seed=seed)


def _register_model_commands() -> None:
    from .cli_annotate import annotate, cluster, evaluate, finetune
    from .cli_models import embed, pretrain

    for command in (pretrain, embed, cluster, finetune, annotate, evaluate):
        cli.add_command(command)


_register_model_commands()


def _register_report_commands() -> None:
    from .cli_report import multiqc, report, summary

    for command in (report, summary, multiqc):
        cli.add_command(command)


_register_report_commands()


def _register_fed_commands() -> None:
    from .cli_fed import federate

    cli.add_command(federate)


_register_fed_commands()


def main() -> None:
    """Entry point: run the CLI and turn scssl errors into messages and exit codes."""
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except ScsslError as err:
        click.echo(f"Error: {err}", err=True)
        sys.exit(err.exit_code)
    except click.exceptions.Exit as err:
        sys.exit(err.exit_code)


if __name__ == "__main__":
    main()
