"""Neighbourhood smoothing of an embedding: each cell's unit vector averaged with its neighbours'.

A masked autoencoder's latent space keeps cell-level detail (library depth, stress, cell
cycle) that spreads a cell type into an elongated cloud. Averaging each cell's L2-normalised
embedding over its ``k`` nearest neighbours in that space (itself included) pulls a type's
cells together while keeping types apart: one step of diffusion on the kNN graph, the
operation graph autoencoders (graph-sc) and kNN-smoothing of counts build on. The result is
transductive: a cell's smoothed vector depends on the other cells embedded with it, so
``scssl embed`` keeps the per-cell encoder output too.
"""

from __future__ import annotations

import numpy as np

from .cluster import EXACT_NEIGHBORS_MAX


def knn_indices(X: np.ndarray, k: int, *, seed: int = 0) -> np.ndarray:
    """Indices of each row's ``k`` nearest rows (Euclidean, itself first): exact up to
    ``EXACT_NEIGHBORS_MAX`` rows (scikit-learn), approximate above (pynndescent, seeded)."""
    k = int(min(k, len(X)))
    if len(X) <= EXACT_NEIGHBORS_MAX:
        from sklearn.neighbors import NearestNeighbors

        return NearestNeighbors(n_neighbors=k).fit(X).kneighbors(X, return_distance=False)
    from pynndescent import NNDescent

    return NNDescent(X, n_neighbors=k, random_state=seed, n_jobs=1).neighbor_graph[0]


def unit_length(emb: np.ndarray) -> np.ndarray:
    """Each row of ``emb`` (float32) scaled to unit Euclidean length (zero rows stay zero)."""
    emb = np.asarray(emb, dtype=np.float32)
    return emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)


def smooth_embedding(emb: np.ndarray, k: int = 15, *, seed: int = 0) -> np.ndarray:
    """Mean of the L2-normalised embeddings of each cell's ``k`` nearest neighbours."""
    unit = unit_length(emb)
    if k <= 1 or len(unit) < 2:
        return unit
    idx = knn_indices(unit, k, seed=seed)
    out = np.empty_like(unit)
    for a in range(0, len(unit), 65_536):  # bounded temporaries: block x k x dims
        out[a : a + 65_536] = unit[idx[a : a + 65_536]].mean(axis=1)
    return out
