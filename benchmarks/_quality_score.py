"""Scores of one embedding against the true labels: KMeans and Leiden ARI / NMI.

Clustering runs on every cell (cells without a usable label are part of the data, as in
training); the scores are computed on the scored cells only. KMeans uses the number of true
classes among the scored cells, ``n_init=10``, and is averaged over three seeds. Leiden runs on
a 15-nearest-neighbour graph of the embedding (scanpy, exact sklearn neighbours) with the
igraph implementation, 2 iterations, resolution 1.0.
"""

from __future__ import annotations

import time
import warnings

import anndata as ad
import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

KMEANS_SEEDS = (0, 1, 2)


def kmeans_scores(
    emb: np.ndarray, labels: np.ndarray, scored: np.ndarray, n_clusters: int
) -> dict[str, float]:
    aris, nmis = [], []
    for seed in KMEANS_SEEDS:
        pred = KMeans(n_clusters=n_clusters, n_init=10, random_state=seed).fit_predict(emb)
        aris.append(adjusted_rand_score(labels[scored], pred[scored]))
        nmis.append(normalized_mutual_info_score(labels[scored], pred[scored]))
    return {
        "kmeans_ari": float(np.mean(aris)),
        "kmeans_nmi": float(np.mean(nmis)),
        "kmeans_ari_sd": float(np.std(aris)),
        "kmeans_ari_per_seed": [float(a) for a in aris],
    }


def knn_graph(emb: np.ndarray) -> ad.AnnData:
    """An AnnData holding scanpy's 15-NN graph of ``emb`` (exact sklearn neighbours)."""
    import scanpy as sc

    a = ad.AnnData(obs={"i": np.arange(len(emb))}, obsm={"X_emb": emb})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sc.pp.neighbors(a, n_neighbors=15, use_rep="X_emb", transformer="sklearn", random_state=0)
    return a


def leiden_labels(graph: ad.AnnData, resolution: float = 1.0) -> np.ndarray:
    """Leiden clusters of ``knn_graph``'s output: igraph flavour, 2 iterations, seed 0."""
    import scanpy as sc

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sc.tl.leiden(
            graph,
            resolution=resolution,
            flavor="igraph",
            n_iterations=2,
            directed=False,
            random_state=0,
        )
    return graph.obs["leiden"].to_numpy()


def leiden_scores(emb: np.ndarray, labels: np.ndarray, scored: np.ndarray) -> dict[str, float]:
    pred = leiden_labels(knn_graph(emb))
    return {
        "leiden_ari": float(adjusted_rand_score(labels[scored], pred[scored])),
        "leiden_nmi": float(normalized_mutual_info_score(labels[scored], pred[scored])),
        "leiden_n_clusters": len(np.unique(pred)),
    }


def score(emb: np.ndarray, labels: np.ndarray, scored: np.ndarray) -> dict[str, float]:
    """KMeans + Leiden scores of ``emb`` (cells x dims) against ``labels`` on ``scored``."""
    emb = np.asarray(emb, dtype=np.float32)
    if not np.isfinite(emb).all():
        raise ValueError("the embedding has non-finite values")
    labels = np.asarray(labels, dtype=str)
    scored = np.asarray(scored, dtype=bool)
    n_clusters = len(np.unique(labels[scored]))
    t0 = time.perf_counter()
    out: dict[str, float] = {"n_clusters": n_clusters, "embedding_dim": int(emb.shape[1])}
    out.update(kmeans_scores(emb, labels, scored, n_clusters))
    out.update(leiden_scores(emb, labels, scored))
    out["score_seconds"] = time.perf_counter() - t0
    return out
