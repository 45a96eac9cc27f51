"""Marker-based cell-type scores from a :class:`~scssl.io.markers.MarkerTable`.

Each marker gene's log-normalized expression is scaled to [0, 1] by the 90th percentile of
its nonzero values (so a highly and a lowly expressed marker weigh alike). A type's score is
the weighted mean of its positive markers minus the weighted mean of its negative markers;
optionally each cell's scores are averaged with its neighbours' (the kNN graph of
``scssl cluster``), which evens out dropouts.
"""

from __future__ import annotations

from dataclasses import dataclass

import anndata as ad
import numpy as np
import pandas as pd
from scipy import sparse

from .._errors import InputError
from .._log import logger
from ..io.markers import MarkerTable


@dataclass
class MarkerScores:
    """Per-cell scores (cells x types), scaled marker expression and the markers used."""

    scores: pd.DataFrame
    scaled: np.ndarray
    genes: list[str]
    used: dict[str, dict[str, float]]
    missing: list[str]


def gene_symbols(adata: ad.AnnData) -> pd.Index:
    """Gene symbols of ``adata`` (``var['gene_symbols']`` when present, else var names)."""
    if "gene_symbols" in adata.var:
        return pd.Index(adata.var["gene_symbols"].astype(str))
    return pd.Index(adata.var_names.astype(str))


def _match(adata: ad.AnnData, table: MarkerTable) -> tuple[dict[str, int], list[str]]:
    """Column of each table gene found in ``adata`` (case-insensitive) and the genes missing."""
    first: dict[str, int] = {}
    for j, s in enumerate(gene_symbols(adata)):
        first.setdefault(s.upper(), j)
    found = {g: first[g.upper()] for g in table.genes if g.upper() in first}
    return found, [g for g in table.genes if g not in found]


def _scale(X: np.ndarray, q: float = 90.0) -> np.ndarray:
    out = np.zeros_like(X, dtype=np.float32)
    for j in range(X.shape[1]):
        nz = X[:, j][X[:, j] > 0]
        if len(nz):
            out[:, j] = np.clip(X[:, j] / np.percentile(nz, q), 0, 1)
    return out


def row_normalized(graph: sparse.spmatrix) -> sparse.csr_matrix:
    """The graph with each row summing to 1 (rows without edges stay 0)."""
    G = sparse.csr_matrix(graph, dtype=np.float64)
    s = np.asarray(G.sum(axis=1)).ravel()
    return sparse.diags(np.divide(1.0, s, out=np.zeros_like(s), where=s > 0)) @ G


def score_markers(
    adata: ad.AnnData,
    table: MarkerTable,
    *,
    graph: sparse.spmatrix | None = None,
    smooth: float = 0.5,
) -> MarkerScores:
    """Scores of every cell for every type of ``table`` with a marker in the data.

    ``X`` must be log-normalized. Types with no positive marker in the data are dropped with
    a warning; fewer than two types left is an InputError naming how many genes matched.
    With ``graph``, scores become ``(1 - smooth) * own + smooth * neighbour mean``.
    """
    if "log1p" not in adata.uns:
        raise InputError("X is not log-normalized (no uns['log1p']); run `scssl preprocess`.")
    found, missing = _match(adata, table)
    used = {
        t: {g: w for g, w in m.items() if g in found}
        for t, m in table.markers.items()
        if any(w > 0 and g in found for g, w in m.items())
    }
    dropped = [t for t in table.markers if t not in used]
    if len(used) < 2:
        raise InputError(
            f"marker table {table.name!r}: only {len(found)} of its {len(table.genes)} genes are "
            f"in the data ({len(used)} cell type(s) usable); check that the table uses the "
            "data's gene symbols (human vs mouse) or give another with --markers."
        )
    if dropped:
        logger.warning("markers: no marker of %s in the data; these types are not called", dropped)
    genes = sorted({g for m in used.values() for g in m})
    cols = [found[g] for g in genes]
    E = adata.X[:, cols]
    E = E.toarray() if sparse.issparse(E) else np.asarray(E)
    scaled = _scale(E.astype(np.float32))
    pos = {g: i for i, g in enumerate(genes)}
    S = np.zeros((adata.n_obs, len(used)), dtype=np.float64)
    for k, markers in enumerate(used.values()):
        for sign in (1, -1):
            part = {g: abs(w) for g, w in markers.items() if np.sign(w) == sign}
            if part:
                w = np.array(list(part.values()))
                S[:, k] += sign * scaled[:, [pos[g] for g in part]] @ w / w.sum()
    if graph is not None and smooth > 0:
        S = (1 - smooth) * S + smooth * (row_normalized(graph) @ S)
    scores = pd.DataFrame(S.astype(np.float32), index=adata.obs_names, columns=list(used))
    return MarkerScores(scores, scaled, genes, used, missing)


def marker_evidence(ms: MarkerScores, labels: np.ndarray, n_top: int = 3) -> np.ndarray:
    """Per cell: its called type's most expressed positive markers (``'CD3D, CD3E'``)."""
    out = np.full(len(labels), "", dtype=object)
    col = {g: i for i, g in enumerate(ms.genes)}
    for t, markers in ms.used.items():
        rows = np.flatnonzero(labels == t)
        if not len(rows):
            continue
        names = np.array([g for g, w in markers.items() if w > 0])
        vals = ms.scaled[np.ix_(rows, [col[g] for g in names])]
        order = np.argsort(-vals, axis=1, kind="stable")[:, :n_top]
        for r, o in zip(rows, order, strict=True):
            hit = [names[j] for j in o if ms.scaled[r, col[names[j]]] > 0]
            out[r] = ", ".join(hit) if hit else "none detected (neighbours)"
    return out
