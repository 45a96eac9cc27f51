"""Annotate cells: a fine-tuned classifier, or marker scores; cluster-level majority labels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
from scipy import sparse

from .._errors import InputError
from .._log import logger, step
from ..io.markers import MarkerTable, read_markers
from ._labels import UNKNOWN
from .marker_score import marker_evidence, row_normalized, score_markers


def _cluster_key(adata: ad.AnnData, cluster_key: str | None) -> str | None:
    if cluster_key and cluster_key != "auto":
        if cluster_key not in adata.obs:
            raise InputError(f"--cluster-key {cluster_key!r}: no such obs column.")
        return cluster_key
    if cluster_key is None:
        return None
    rec = adata.uns.get("scssl_cluster", {})
    key = rec.get("key") if isinstance(rec, dict) else None
    if key in adata.obs:
        return str(key)
    return next((c for c in adata.obs.columns if str(c).startswith("leiden_")), None)


def _classifier_calls(adata, path, graph, smooth, min_confidence, min_overlap, device):
    from ..data.prepare import build_cell_data
    from ..train.checkpoint import load_classifier
    from .finetune import predict_proba

    module, _ = load_classifier(path, device=device)
    data, overlap = build_cell_data(adata, module.spec, min_overlap=min_overlap, device=device)
    if overlap < 1:
        logger.warning("annotate: %.1f%% of the classifier's genes found", 100 * overlap)
    P = predict_proba(module, data).astype(np.float64)
    if graph is not None and smooth > 0:
        P = (1 - smooth) * P + smooth * (graph @ P)
    classes = np.array(module.classes, dtype=object)
    order = np.argsort(-P, axis=1, kind="stable")
    best, second = order[:, 0], order[:, 1] if P.shape[1] > 1 else order[:, 0]
    rows = np.arange(len(P))
    prob, prob2 = P[rows, best], P[rows, second]
    labels = np.where(prob >= min_confidence, classes[best], UNKNOWN)
    evidence = np.array(
        [
            f"p={p:.2f} {c}; next {c2} {p2:.2f}"
            for p, c, c2, p2 in zip(prob, classes[best], classes[second], prob2, strict=True)
        ],
        dtype=object,
    )
    frame = pd.DataFrame(P.astype(np.float32), index=adata.obs_names, columns=list(classes))
    info = {"classifier": str(Path(path).resolve()), "gene_overlap": overlap}
    info["classes"] = list(map(str, classes))
    return labels, prob.astype(np.float32), evidence, frame, info


def _marker_calls(adata, table: MarkerTable, graph, smooth, min_score):
    ms = score_markers(adata, table, graph=graph, smooth=smooth)
    S = ms.scores.to_numpy()
    types = np.array(ms.scores.columns, dtype=object)
    best = S.argmax(axis=1)
    score = S[np.arange(len(S)), best]
    labels = np.where(score >= min_score, types[best], UNKNOWN)
    markers = marker_evidence(ms, types[best])
    evidence = np.array(
        [f"score {s:.2f}; {m}" for s, m in zip(score, markers, strict=True)], dtype=object
    )
    info = {
        "markers": table.name,
        "marker_genes_found": len(ms.genes),
        "marker_genes_missing": ms.missing,
        "cell_types_called": list(map(str, types)),
    }
    return labels, score.astype(np.float32), evidence, ms.scores, info


def _cluster_majority(
    labels: np.ndarray, clusters: np.ndarray, confidence: np.ndarray, top: dict[str, list[str]]
) -> pd.DataFrame:
    rows = []
    for c in pd.unique(clusters):
        m = clusters == c
        counts = pd.Series(labels[m]).value_counts()
        winner = str(counts.index[0])
        frac = float(counts.iloc[0] / m.sum())
        genes = top.get(str(c), [])
        ev = f"{frac:.0%} of {int(m.sum())} cells"
        if genes:
            ev += f"; cluster markers {', '.join(genes)}"
        rows.append(
            {
                "cluster": str(c),
                "n_cells": int(m.sum()),
                "label": winner,
                "fraction": frac,
                "mean_confidence": float(confidence[m].mean()),
                "evidence": ev,
            }
        )
    return pd.DataFrame(rows)


def _cluster_top_markers(adata: ad.AnnData, cluster_key: str) -> dict[str, list[str]]:
    rgg = adata.uns.get("rank_genes_groups", {})
    if not isinstance(rgg, dict) or rgg.get("params", {}).get("groupby") != cluster_key:
        return {}
    names = rgg.get("names")
    if names is None:
        return {}
    return {str(g): [str(x) for x in names[g][:3]] for g in names.dtype.names}


def annotate(
    adata: ad.AnnData,
    *,
    classifier: str | Path | None = None,
    markers: str | Path | MarkerTable | None = None,
    min_confidence: float = 0.5,
    min_score: float = 0.1,
    cluster_key: str | None = "auto",
    smooth: float = 0.5,
    min_overlap: float = 0.5,
    device: str = "cpu",
    key_added: str = "scssl_label",
) -> dict[str, Any]:
    """Label every cell with a fine-tuned classifier (``scssl finetune``) or a marker table.

    Classifier: the most probable class, ``Unknown`` below ``min_confidence``. Markers: the
    best-scoring type (see :mod:`scssl.tl.marker_score`), ``Unknown`` below ``min_score``.
    With the kNN graph of ``scssl cluster`` in ``obsp['connectivities']``, probabilities or
    scores are first averaged with the neighbours' (weight ``smooth``; 0 turns it off).
    Each cluster of ``cluster_key`` (default: the first clustering of ``scssl cluster``)
    gets the majority label of its cells.

    Returns
    -------
    A JSON-able summary. Writes ``obs[key_added]`` (label), ``obs[key_added + '_prob']``
    (classifier) or ``obs[key_added + '_score']`` (markers), ``obs[key_added + '_evidence']``,
    ``obs[key_added + '_cluster']`` (cluster majority), ``obsm[key_added + '_proba']`` or
    ``obsm[key_added + '_scores']`` (all classes) and ``uns['scssl_annotate']``.
    """
    if (classifier is None) == (markers is None):
        raise InputError(
            "give either --classifier (a folder from `scssl finetune`) or --markers (a marker "
            "table: pbmc_human, pancreas_human, pancreas_mouse, or a CSV/GMT file)."
        )
    if not 0 <= smooth < 1:
        raise InputError(f"--smooth must be in [0, 1), got {smooth}.")
    ckey = _cluster_key(adata, cluster_key)
    table = None
    if markers is not None:
        table = markers if isinstance(markers, MarkerTable) else read_markers(markers)
    graph = None
    if smooth > 0 and "connectivities" in adata.obsp:
        graph = row_normalized(sparse.csr_matrix(adata.obsp["connectivities"]))
    mode = "classifier" if classifier is not None else "markers"
    with step(f"annotate ({mode})") as added:
        if classifier is not None:
            calls = _classifier_calls(
                adata, classifier, graph, smooth, min_confidence, min_overlap, device
            )
            conf_key, multi_key = f"{key_added}_prob", f"{key_added}_proba"
        else:
            calls = _marker_calls(adata, table, graph, smooth, min_score)
            conf_key, multi_key = f"{key_added}_score", f"{key_added}_scores"
        labels, conf, evidence, frame, info = calls
        clusters = None
        if ckey is not None:
            cl = adata.obs[ckey].astype(str).to_numpy()
            clusters = _cluster_majority(labels, cl, conf, _cluster_top_markers(adata, ckey))
        else:
            logger.warning("annotate: no clustering found; no cluster-level labels")
        cats = [*sorted(set(labels) - {UNKNOWN}), UNKNOWN]
        adata.obs[key_added] = pd.Categorical(labels, categories=cats)
        adata.obs[conf_key] = conf
        adata.obs[f"{key_added}_evidence"] = pd.Series(evidence, index=adata.obs_names).astype(str)
        adata.obsm[multi_key] = frame
        written = [key_added, conf_key, f"{key_added}_evidence"]
        if clusters is not None:
            lab = dict(zip(clusters["cluster"], clusters["label"], strict=True))
            adata.obs[f"{key_added}_cluster"] = pd.Categorical(
                [lab[c] for c in cl], categories=cats
            )
            written.append(f"{key_added}_cluster")
        params = {
            "mode": mode,
            "min_confidence": min_confidence,
            "min_score": min_score,
            "smooth": smooth if graph is not None else 0.0,
            "cluster_key": ckey or "",
        }
        counts = pd.Series(labels).value_counts()
        summary = {
            **params,
            **info,
            "n_cells": adata.n_obs,
            "n_unknown": int(counts.get(UNKNOWN, 0)),
            "labels": {str(k): int(v) for k, v in counts.items()},
            "clusters": [] if clusters is None else clusters.to_dict("records"),
        }
        uns = {k: v for k, v in summary.items() if k != "clusters"}
        if clusters is not None:
            uns["clusters"] = clusters.set_index("cluster")
        adata.uns["scssl_annotate"] = uns
        added += [f"obs['{k}']" for k in written] + [f"obsm['{multi_key}']"]
    return summary
