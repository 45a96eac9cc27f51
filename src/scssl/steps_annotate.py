"""File-level steps after embedding: cluster, finetune, annotate, evaluate.

Same shape as :mod:`scssl.steps`: read inputs, call the ``scssl.tl`` function, write every
output atomically (inputs are checked before anything is written). The CLI and ``scssl run``
call these.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import io
from ._atomic import write_json, write_text
from ._errors import InputError
from .annot_outputs import tsv, write_mqc_heatmap, write_mqc_table

MARKER_METHODS = ("wilcoxon", "t-test", "t-test_overestim_var", "logreg")


@dataclass
class ClusterParams:
    """Settings of ``scssl cluster``."""

    use_rep: str = "auto"
    resolutions: tuple[float, ...] = (1.0,)
    n_clusters: int | None = None
    n_neighbors: int = 15
    umap: bool = True
    n_marker_genes: int = 25
    marker_method: str = "wilcoxon"
    marker_max_cells: int = 1000
    batch_key: str | None = "batch"
    seed: int = 0


@dataclass
class AnnotateParams:
    """Settings of ``scssl annotate``."""

    min_confidence: float = 0.5
    min_score: float = 0.1
    cluster_key: str = "auto"
    smooth: float = 0.5
    min_overlap: float = 0.5


@dataclass
class _Prefix:
    folder: Path
    name: str
    files: dict[str, Path] = field(default_factory=dict)

    def path(self, suffix: str) -> Path:
        p = self.folder / f"{self.name}{suffix}"
        self.files[suffix] = p
        return p


def _prefix(output: Path, report_dir, prefix) -> _Prefix:
    name = prefix or output.name.removesuffix(".h5ad").removesuffix(".json")
    return _Prefix(Path(report_dir) if report_dir else output.parent, name)


def cluster(
    input: str | Path,
    output: str | Path,
    *,
    params: ClusterParams | None = None,
    report_dir: str | Path | None = None,
    prefix: str | None = None,
) -> dict[str, Any]:
    """Cluster ``input`` (.h5ad with an embedding) and write ``output`` plus reports.

    Reports in ``report_dir`` (default: the output's folder), named ``<prefix>_...``
    (default prefix: the output's name without .h5ad): ``_markers.tsv`` (marker genes of the
    first clustering), ``_clusters.json``, ``_clusters_mqc.tsv`` and ``_umap.png``.
    """
    from .tl.cluster import cluster as _cluster
    from .tl.evaluate import evaluate as _evaluate
    from .tl.markers import rank_markers

    p = params or ClusterParams()
    if p.marker_method not in MARKER_METHODS:
        raise InputError(f"--marker-method must be one of {MARKER_METHODS}.")
    out = Path(output)
    adata = io.read_h5ad_parts(input, layers=False)  # markers read X; counts travel as they are
    rec = _cluster(
        adata,
        use_rep=p.use_rep,
        resolutions=p.resolutions,
        n_clusters=p.n_clusters,
        n_neighbors=p.n_neighbors,
        umap=p.umap,
        seed=p.seed,
    )
    markers = None
    if p.n_marker_genes > 0:
        start = time.perf_counter()
        markers = rank_markers(
            adata,
            groupby=rec["key"],
            n_genes=p.n_marker_genes,
            method=p.marker_method,
            max_cells_per_group=p.marker_max_cells,
            seed=p.seed,
        )
        rec["seconds"]["markers"] = round(time.perf_counter() - start, 3)
    metrics = _evaluate(
        adata,
        pred_keys=[],
        cluster_keys=rec["keys"],
        batch_key=p.batch_key,
        use_rep=rec["use_rep"],
        seed=p.seed,
    )
    sizes = {k: adata.obs[k].value_counts().sort_index().to_dict() for k in rec["keys"]}
    summary = {**rec, "sizes": sizes, "metrics": metrics}
    pre = _prefix(out, report_dir, prefix)
    if markers is not None:
        write_text(pre.path("_markers.tsv"), tsv(markers.to_dict("records")))
    write_json(pre.path("_clusters.json"), summary)
    batch = metrics.get("batch") or {}
    rows = [
        {
            "Clustering": k,
            "clusters": m["n_clusters"],
            "silhouette": m["silhouette"],
            "batch_asw": batch.get("batch_asw"),
            "ilisi_scaled": batch.get("ilisi_scaled"),
        }
        for k, m in metrics["clusters"].items()
    ]
    write_mqc_table(
        pre.path("_clusters_mqc.tsv"),
        rows,
        id_="scssl_clusters",
        section="scssl clustering",
        description=f"Clusters on {rec['use_rep']}: silhouette (higher: tighter clusters); "
        "batch ASW and scaled iLISI (1: batches well mixed) when there are several batches.",
    )
    if "X_umap" in adata.obsm:
        from .annot_plots import plot_umap

        panels = {k: adata.obs[k].astype(str).to_numpy() for k in rec["keys"]}
        if batch.get("n_batches", 0) > 1:
            panels[p.batch_key] = adata.obs[p.batch_key].astype(str).to_numpy()
        plot_umap(
            adata.obsm["X_umap"],
            panels,
            pre.path("_umap.png"),
            title=pre.name,
            legend=[p.batch_key or ""],
        )
    io.update_h5ad(input, out, adata)
    return summary


def finetune(
    reference: str | Path,
    checkpoint: str | Path,
    output: str | Path,
    *,
    label_key: str,
    config: Mapping[str, Any] | None = None,
    train_overrides: Mapping[str, Any] | None = None,
    min_overlap: float = 0.5,
    device: str = "cpu",
    progress: bool = True,
) -> Path:
    """Fine-tune ``checkpoint``'s encoder on ``reference`` labels; write a classifier folder.

    ``output`` gets ``model.safetensors``, ``config.json``, ``history.tsv``, ``loss.png``
    (trained modes), ``summary.json`` and ``validation_mqc.tsv``.
    """
    from .models import config_from_dict
    from .models.classifier import ClassifierConfig
    from .tl.finetune import finetune as _finetune
    from .tl.finetune import finetune_train_config
    from .train.checkpoint import save_classifier

    try:
        cfg = config_from_dict(ClassifierConfig, dict(config or {}))
    except (ValueError, TypeError) as err:
        raise InputError(f"finetune: {err}") from None
    tcfg = finetune_train_config(dict(train_overrides or {}), mode=cfg.mode)
    ref = io.read_h5ad(reference)
    res = _finetune(
        ref,
        checkpoint,
        label_key=label_key,
        config=cfg,
        train_config=tcfg,
        min_overlap=min_overlap,
        device=device,
        progress=progress,
    )
    out = Path(output)
    save_classifier(
        out,
        res.module,
        res.train_config,
        history=res.history,
        data_hash=res.data_hash,
        encoder=res.encoder,
        summary=res.summary,
    )
    val = res.summary["validation"]
    row = {
        "Sample": out.name,
        "mode": cfg.mode,
        "classes": len(res.summary["classes"]),
        "reference_cells": res.summary["n_cells"],
        "gene_overlap": res.summary["gene_overlap"],
        "val_accuracy": val.get("accuracy"),
        "val_macro_f1": val.get("macro_f1"),
    }
    write_mqc_table(
        out / "validation_mqc.tsv",
        [row],
        id_="scssl_finetune",
        section="scssl fine-tuning",
        description="Classifier fine-tuned on the labelled reference: accuracy and macro-F1 "
        "on its stratified validation split.",
    )
    return out


def annotate(
    input: str | Path,
    output: str | Path,
    *,
    classifier: str | Path | None = None,
    markers: str | Path | None = None,
    params: AnnotateParams | None = None,
    report_dir: str | Path | None = None,
    prefix: str | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """Label the cells of ``input`` (classifier or marker table) and write ``output`` + reports.

    Reports (``<prefix>`` default: the output's name without .h5ad): ``_annotation.json``,
    ``_annotation_clusters.tsv`` (cluster, cells, majority label, fraction, evidence),
    ``_labels_mqc.tsv`` (cells per label) and ``_labels_umap.png`` (when ``X_umap`` exists).
    """
    from .tl.annotate import annotate as _annotate

    p = params or AnnotateParams()
    out = Path(output)
    if classifier is not None:  # the classifier's genes (and counts for the library size)
        adata = io.read_h5ad_parts(input, genes=io.h5ad_parts.checkpoint_genes(classifier))
    else:  # marker scores read X
        adata = io.read_h5ad_parts(input, layers=False)
    summary = _annotate(
        adata,
        classifier=classifier,
        markers=markers,
        min_confidence=p.min_confidence,
        min_score=p.min_score,
        cluster_key=p.cluster_key,
        smooth=p.smooth,
        min_overlap=p.min_overlap,
        device=device,
    )
    pre = _prefix(out, report_dir, prefix)
    write_json(pre.path("_annotation.json"), summary)
    if summary["clusters"]:
        write_text(pre.path("_annotation_clusters.tsv"), tsv(summary["clusters"]))
    write_mqc_table(
        pre.path("_labels_mqc.tsv"),
        [{"Sample": pre.name, **summary["labels"]}],
        id_="scssl_labels",
        section="scssl cell types",
        description=f"Cells per label ({summary['mode']}); Unknown: below the confidence "
        "threshold.",
        plot_type="bargraph",
    )
    if "X_umap" in adata.obsm:
        from .annot_plots import plot_umap

        panels = {"scssl_label": adata.obs["scssl_label"].astype(str).to_numpy()}
        if "scssl_label_cluster" in adata.obs:
            panels["scssl_label_cluster"] = adata.obs["scssl_label_cluster"].astype(str).to_numpy()
        plot_umap(adata.obsm["X_umap"], panels, pre.path("_labels_umap.png"), title=pre.name)
    io.update_h5ad(input, out, adata)
    return summary


def evaluate(
    input: str | Path,
    output: str | Path,
    *,
    label_key: str | None = None,
    pred_keys: Sequence[str] | None = None,
    cluster_keys: Sequence[str] | None = None,
    batch_key: str | None = "batch",
    use_rep: str = "auto",
    seed: int = 0,
) -> dict[str, Any]:
    """Score ``input`` and write the metrics JSON ``output`` and, beside it (same stem),
    ``_mqc.tsv`` and, with ground truth, ``_confusion.tsv``, ``_confusion.png`` and
    ``_confusion_mqc.yaml`` of the first predicted-label column."""
    from .tl.evaluate import evaluate as _evaluate

    out = Path(output)
    adata = io.read_h5ad_parts(input, x=False, layers=False)  # obs and embeddings only
    metrics = _evaluate(
        adata,
        label_key=label_key,
        pred_keys=pred_keys,
        cluster_keys=cluster_keys,
        batch_key=batch_key,
        use_rep=use_rep,
        seed=seed,
    )
    pre = _prefix(out, None, None)
    write_json(out, metrics)
    batch = metrics.get("batch") or {}
    rows = []
    for key, m in metrics["clusters"].items():
        rows.append({"Result": key, "kind": "clusters", "n": m["n_clusters"], **_scores(m)})
        rows[-1]["silhouette"] = m["silhouette"]
    for key, m in metrics["labels"].items():
        rows.append({"Result": key, "kind": "labels", "n": len(m["per_class_f1"]), **_scores(m)})
    if batch.get("n_batches", 0) > 1:
        rows.append(
            {
                "Result": f"batch mixing ({batch['key']})",
                "kind": "batches",
                "n": batch["n_batches"],
                "batch_asw": batch.get("batch_asw"),
                "ilisi_scaled": batch.get("ilisi_scaled"),
            }
        )
    write_mqc_table(
        pre.path("_mqc.tsv"),
        rows,
        id_="scssl_evaluate",
        section="scssl evaluation",
        description="Clusterings and labels against the ground truth (ARI, NMI, accuracy, "
        "macro-F1), silhouette of the clusters, batch ASW and scaled iLISI (1: well mixed).",
    )
    if metrics["labels"]:
        from .annot_plots import plot_confusion

        key, first = next(iter(metrics["labels"].items()))
        conf = first["confusion"]
        table = [
            {"true": r, **dict(zip(conf["columns"], row, strict=True))}
            for r, row in zip(conf["rows"], conf["counts"], strict=True)
        ]
        write_text(pre.path("_confusion.tsv"), tsv(table))
        plot_confusion(conf, pre.path("_confusion.png"), title=f"{key} vs {label_key}")
        write_mqc_heatmap(
            pre.path("_confusion_mqc.yaml"),
            conf,
            id_="scssl_confusion",
            section="scssl label confusion",
            description=f"Cells of each true class ({label_key}, rows) by {key} (columns).",
        )
    return metrics


def _scores(m: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("ari", "nmi", "accuracy", "macro_f1")
    return {k: m[k] for k in keys if k in m}
