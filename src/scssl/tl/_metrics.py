"""Scores of clusters, predicted labels and batch mixing on an embedding."""

from __future__ import annotations

import numpy as np
from scipy import sparse


def _subsample(n: int, max_cells: int, seed: int) -> np.ndarray:
    if n <= max_cells:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, max_cells, replace=False))


def silhouette(X: np.ndarray, labels: np.ndarray, *, max_cells: int = 10_000, seed: int = 0):
    """Mean silhouette width of ``labels`` in ``X`` (Euclidean) on a seeded subsample.

    None when there are fewer than 2 groups (or every group is a single cell).
    """
    from sklearn.metrics import silhouette_score

    idx = _subsample(len(labels), max_cells, seed)
    lab = np.asarray(labels)[idx]
    n_groups = len(np.unique(lab))
    if n_groups < 2 or n_groups >= len(lab):
        return None
    return float(silhouette_score(X[idx], lab))


def batch_asw(
    X: np.ndarray,
    batches: np.ndarray,
    groups: np.ndarray,
    *,
    max_cells: int = 10_000,
    seed: int = 0,
):
    """Batch average silhouette width (scIB): per group, mean of ``1 - |s_batch|``, averaged.

    1 means batches are well mixed within each group (cell type or cluster); 0 means each
    batch sits apart. Groups present in a single batch are skipped; None if none is left.
    """
    from sklearn.metrics import silhouette_samples

    idx = _subsample(len(batches), max_cells, seed)
    X, b, g = X[idx], np.asarray(batches)[idx], np.asarray(groups)[idx]
    scores = []
    for grp in np.unique(g):
        m = g == grp
        nb = len(np.unique(b[m]))
        if nb < 2 or nb >= m.sum():
            continue
        scores.append(float(np.mean(1 - np.abs(silhouette_samples(X[m], b[m])))))
    return float(np.mean(scores)) if scores else None


def ilisi(distances: sparse.csr_matrix, batches: np.ndarray) -> dict[str, float]:
    """Integration LISI over a kNN graph: effective number of batches among each cell's neighbours.

    Per cell, 1 / sum_b p_b^2 where p_b is the share of its neighbours (itself included) in
    batch b. Returns the median and the median rescaled to [0, 1] by ``(x - 1) / (B - 1)``.
    """
    codes = np.unique(np.asarray(batches).astype(str), return_inverse=True)[1]
    n_b = int(codes.max()) + 1
    G = sparse.csr_matrix(distances).copy()
    G.data[:] = 1.0
    G = G + sparse.identity(G.shape[0], format="csr")
    onehot = sparse.csr_matrix((np.ones(len(codes)), (np.arange(len(codes)), codes)))
    counts = np.asarray((G @ onehot).todense())
    p = counts / counts.sum(1, keepdims=True)
    lisi = 1.0 / (p**2).sum(1)
    med = float(np.median(lisi))
    return {"ilisi_median": med, "ilisi_scaled": (med - 1) / (n_b - 1) if n_b > 1 else 0.0}


def classification(truth: np.ndarray, pred: np.ndarray) -> dict:
    """Accuracy, macro-F1 and per-class F1 over the true classes; confusion matrix.

    Predictions outside the true classes (``Unknown``, a type absent from the truth) count
    as misses; the confusion matrix has the true classes as rows and every predicted label
    as columns.
    """
    from sklearn.metrics import accuracy_score, f1_score

    classes = sorted(set(truth))
    per = f1_score(truth, pred, labels=classes, average=None, zero_division=0)
    cols = classes + sorted(set(pred) - set(classes))
    index = {c: i for i, c in enumerate(cols)}
    conf = np.zeros((len(classes), len(cols)), dtype=np.int64)
    np.add.at(conf, (np.array([index[t] for t in truth]), np.array([index[p] for p in pred])), 1)
    return {
        "accuracy": float(accuracy_score(truth, pred)),
        "macro_f1": float(np.mean(per)),
        "per_class_f1": {c: float(f) for c, f in zip(classes, per, strict=True)},
        "confusion": {"rows": classes, "columns": cols, "counts": conf.tolist()},
    }


def agreement(truth: np.ndarray, groups: np.ndarray) -> dict[str, float]:
    """ARI and NMI of a partition (clusters or predicted labels) against the truth."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    return {
        "ari": float(adjusted_rand_score(truth, groups)),
        "nmi": float(normalized_mutual_info_score(truth, groups)),
    }
