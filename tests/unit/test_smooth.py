"""Neighbour smoothing of embeddings (scssl embed --smooth-k)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from scssl.tl import smooth
from scssl.tl.smooth import knn_indices, smooth_embedding


def _blobs(seed: int = 0, n: int = 600, dims: int = 16, noise: float = 1.1):
    """Three types whose cells also spread along a shared nuisance axis (like depth)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    centres = rng.normal(0, 1, (3, dims))
    nuisance = rng.normal(0, 1, dims) * rng.normal(0, 1.5, (n, 1))
    return (centres[labels] + nuisance + noise * rng.normal(0, 1, (n, dims))), labels


def test_smoothing_is_the_mean_of_unit_neighbours():
    X, _ = _blobs()
    unit = X / np.linalg.norm(X, axis=1, keepdims=True)
    idx = knn_indices(unit.astype(np.float32), 5)
    assert (idx[:, 0] == np.arange(len(X))).all()  # each cell is its own first neighbour
    np.testing.assert_allclose(smooth_embedding(X, 5), unit[idx].mean(1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        np.linalg.norm(smooth_embedding(X, 1), axis=1), 1.0, rtol=1e-5
    )  # k = 1: the unit vectors themselves


def test_smoothing_tightens_types_for_kmeans():
    gains = []
    for seed in range(3):
        X, labels = _blobs(seed)
        raw = KMeans(3, n_init=10, random_state=0).fit_predict(X)
        smo = KMeans(3, n_init=10, random_state=0).fit_predict(smooth_embedding(X, 15))
        gains.append(adjusted_rand_score(labels, smo) - adjusted_rand_score(labels, raw))
    assert np.mean(gains) > 0.05, gains


def test_approximate_neighbours_above_the_exact_limit(monkeypatch):
    pytest.importorskip("pynndescent")
    X, _ = _blobs(n=800)
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    exact = knn_indices(X, 10)
    monkeypatch.setattr(smooth, "EXACT_NEIGHBORS_MAX", 100)
    approx = knn_indices(X, 10, seed=0)
    assert approx.shape == exact.shape
    recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx, exact, strict=True)])
    assert recall > 0.9
    np.testing.assert_array_equal(approx, knn_indices(X, 10, seed=0))  # seeded
