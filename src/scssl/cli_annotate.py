"""``scssl cluster``, ``finetune``, ``annotate`` and ``evaluate``: the steps after embedding."""

from __future__ import annotations

from pathlib import Path

import click

from ._cli_common import (
    PATH_IN,
    _device,
    _parse_set,
    _threads,
    checkpoint_option,
    device_option,
    given,
    input_option,
    min_overlap_option,
    output_option,
    report_files_options,
    seed_option,
    set_option,
    threads_option,
)
from .models.classifier import MODES, ClassifierConfig
from .steps_annotate import MARKER_METHODS, AnnotateParams, ClusterParams

_C = ClusterParams()
_A = AnnotateParams()
_F = ClassifierConfig()


@click.command()
@input_option("Embedded .h5ad.")
@output_option("Clustered .h5ad.")
@click.option(
    "--use-rep",
    default=_C.use_rep,
    help="obsm embedding to cluster ('auto': the first X_scssl_*, else X_pca).",
)
@click.option(
    "--resolution",
    "resolutions",
    multiple=True,
    type=float,
    default=_C.resolutions,
    help="Leiden resolution; repeat for several (obs['leiden_<resolution>'] each).",
)
@click.option(
    "--n-clusters",
    type=int,
    default=None,
    help="Also KMeans with this many clusters (obs['kmeans']).",
)
@click.option("--n-neighbors", type=int, default=_C.n_neighbors)
@click.option("--no-umap", is_flag=True, help="Skip UMAP.")
@click.option(
    "--n-marker-genes",
    type=int,
    default=_C.n_marker_genes,
    help="Marker genes per cluster of the first clustering (0: none).",
)
@click.option("--marker-method", type=click.Choice(MARKER_METHODS), default=_C.marker_method)
@click.option(
    "--marker-max-cells",
    type=click.IntRange(min=0),
    default=_C.marker_max_cells,
    show_default=True,
    help="Test at most this many seeded cells per cluster for marker genes (0: all).",
)
@click.option("--batch-key", default=_C.batch_key, help="obs column for batch-mixing metrics.")
@report_files_options
@seed_option(_C.seed)
@threads_option
def cluster(
    input_: Path,
    output: Path,
    use_rep: str,
    resolutions: tuple[float, ...],
    n_clusters: int | None,
    n_neighbors: int,
    no_umap: bool,
    n_marker_genes: int,
    marker_method: str,
    marker_max_cells: int,
    batch_key: str,
    report_dir: Path | None,
    prefix: str | None,
    seed: int,
    threads: int | None,
) -> None:
    """Neighbours, Leiden (one or several resolutions), KMeans, UMAP and cluster marker genes."""
    from . import steps_annotate

    _threads(threads)
    params = ClusterParams(
        use_rep=use_rep,
        resolutions=tuple(resolutions),
        n_clusters=n_clusters,
        n_neighbors=n_neighbors,
        umap=not no_umap,
        n_marker_genes=n_marker_genes,
        marker_method=marker_method,
        marker_max_cells=marker_max_cells,
        batch_key=batch_key or None,
        seed=seed,
    )
    steps_annotate.cluster(input_, output, params=params, report_dir=report_dir, prefix=prefix)


@click.command()
@click.option(
    "--reference", required=True, type=PATH_IN, help="Labelled, preprocessed reference .h5ad."
)
@checkpoint_option
@output_option("Classifier folder to write.")
@click.option(
    "--label-key", "--label_key", "label_key", required=True, help="obs column of cell types."
)
@click.option(
    "--mode",
    type=click.Choice(MODES),
    default=_F.mode,
    help="knn: frozen encoder + kNN vote; linear: linear probe; full: fine-tune everything.",
)
@set_option("Classifier hyperparameter (e.g. k=10, encoder_lr_factor=0.3); repeatable.")
@click.option("--max-epochs", type=int, default=None, help="[default: 60]")
@click.option("--batch-size", type=int, default=None, help="[default: 128]")
@click.option(
    "--lr",
    type=float,
    default=None,
    help="Head learning rate [default: 3e-3; linear: 1e-2].",
)
@click.option("--patience", type=int, default=None, help="Early-stopping patience [default: 15].")
@click.option("--val-frac", type=float, default=None, help="Validation share [default: 0.1].")
@min_overlap_option(0.5, "Refuse when fewer of the checkpoint's genes are in the reference.")
@device_option
@seed_option()
@threads_option
def finetune(
    reference: Path,
    checkpoint: Path,
    output: Path,
    label_key: str,
    mode: str,
    sets: tuple[str, ...],
    max_epochs,
    batch_size,
    lr,
    patience,
    val_frac,
    min_overlap: float,
    device: str,
    seed: int,
    threads: int | None,
) -> None:
    """Train a cell-type classifier on a pretrained encoder and a labelled reference."""
    from . import steps_annotate

    _threads(threads)
    config = {**_parse_set(sets, "--set"), "mode": mode}
    train = given(
        max_epochs=max_epochs, batch_size=batch_size, lr=lr, patience=patience, val_frac=val_frac
    )
    train.update(seed=seed, device=_device(device))
    steps_annotate.finetune(
        reference,
        checkpoint,
        output,
        label_key=label_key,
        config=config,
        train_overrides=train,
        min_overlap=min_overlap,
        device=train["device"],
    )


@click.command()
@input_option("Clustered .h5ad.")
@output_option("Annotated .h5ad.")
@click.option("--classifier", type=PATH_IN, default=None, help="Folder from scssl finetune.")
@click.option(
    "--markers",
    default=None,
    help="Marker table without a classifier: pbmc_human, pancreas_human, pancreas_mouse, or a "
    "CSV/TSV (cell_type,gene[,weight]) or GMT file.",
)
@click.option(
    "--min-confidence",
    type=float,
    default=_A.min_confidence,
    help="Classifier: 'Unknown' below this probability.",
)
@click.option(
    "--min-score", type=float, default=_A.min_score, help="Markers: 'Unknown' below this score."
)
@click.option(
    "--cluster-key",
    default=_A.cluster_key,
    help="obs clustering for majority labels ('auto': the first of scssl cluster).",
)
@click.option(
    "--smooth",
    type=float,
    default=_A.smooth,
    help="Weight of the neighbours' mean in each cell's probabilities/scores (0: off).",
)
@min_overlap_option(_A.min_overlap)
@report_files_options
@device_option
@threads_option
def annotate(
    input_: Path,
    output: Path,
    classifier: Path | None,
    markers: str | None,
    min_confidence: float,
    min_score: float,
    cluster_key: str,
    smooth: float,
    min_overlap: float,
    report_dir: Path | None,
    prefix: str | None,
    device: str,
    threads: int | None,
) -> None:
    """Label cells with a fine-tuned classifier or marker genes, with evidence per call."""
    from . import steps_annotate

    _threads(threads)
    params = AnnotateParams(
        min_confidence=min_confidence,
        min_score=min_score,
        cluster_key=cluster_key,
        smooth=smooth,
        min_overlap=min_overlap,
    )
    steps_annotate.annotate(
        input_,
        output,
        classifier=classifier,
        markers=markers,
        params=params,
        report_dir=report_dir,
        prefix=prefix,
        device=_device(device),
    )


@click.command()
@input_option("Clustered/annotated .h5ad.")
@output_option("Metrics .json (reports beside it).")
@click.option(
    "--label-key", "--label_key", "label_key", default=None, help="obs column of true labels."
)
@click.option(
    "--pred-key",
    "pred_keys",
    multiple=True,
    help="obs column of predicted labels; repeatable [default: scssl_label(_cluster)].",
)
@click.option(
    "--cluster-key",
    "cluster_keys",
    multiple=True,
    help="obs clustering; repeatable [default: those of scssl cluster].",
)
@click.option("--batch-key", default="batch", help="obs column for batch-mixing metrics.")
@click.option("--use-rep", default="auto", help="obsm embedding for silhouette and mixing.")
@seed_option()
@threads_option
def evaluate(
    input_: Path,
    output: Path,
    label_key: str | None,
    pred_keys: tuple[str, ...],
    cluster_keys: tuple[str, ...],
    batch_key: str,
    use_rep: str,
    seed: int,
    threads: int | None,
) -> None:
    """Metrics: ARI/NMI/F1/accuracy/confusion vs true labels, silhouette, batch mixing."""
    from . import steps_annotate

    _threads(threads)
    steps_annotate.evaluate(
        input_,
        output,
        label_key=label_key,
        pred_keys=list(pred_keys) or None,
        cluster_keys=list(cluster_keys) or None,
        batch_key=batch_key or None,
        use_rep=use_rep,
        seed=seed,
    )
