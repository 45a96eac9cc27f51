"""PCA baseline embedding on the log-normalized highly variable genes."""

from __future__ import annotations

import anndata as ad
import numpy as np
from scipy import sparse

from .._log import step


def gene_covariance(X) -> tuple[np.ndarray, np.ndarray]:
    """Gene x gene covariance (float64) and gene means of cells x genes ``X``, dense or CSR.

    Computed from ``X.T @ X`` without densifying ``X``.
    """
    n = X.shape[0]
    mean = np.asarray(X.mean(axis=0), dtype=np.float64).ravel()
    gram = X.T @ X
    gram = gram.toarray() if sparse.issparse(gram) else np.asarray(gram)
    return (gram.astype(np.float64) - n * np.outer(mean, mean)) / (n - 1), mean


def _pca_cov(X, n_comps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Centred PCA through the gene x gene covariance: sparse-friendly, exact, deterministic."""
    cov, mean = gene_covariance(X)
    evals, evecs = np.linalg.eigh(cov)
    order = np.argsort(evals)[::-1][:n_comps]
    evals, evecs = np.maximum(evals[order], 0), evecs[:, order]
    # sign convention: the largest-magnitude loading of each component is positive
    signs = np.sign(evecs[np.abs(evecs).argmax(axis=0), np.arange(evecs.shape[1])])
    signs[signs == 0] = 1
    evecs *= signs
    scores = np.asarray(X @ evecs) - mean @ evecs
    total = np.trace(cov)
    return scores, evecs, evals, evals / total if total > 0 else evals


def pca(
    adata: ad.AnnData, *, n_comps: int = 50, use_hvg: bool = True, obsm_key: str | None = None
) -> None:
    """PCA of ``X`` on the HVGs (or of ``obsm[obsm_key]``), without densifying ``X``.

    Computed from the exact covariance matrix (same result as a full SVD of the centred data),
    so it needs no random seed and gives identical output for identical input.

    Returns
    -------
    Nothing; writes ``obsm['X_pca']``, ``uns['pca']`` (variance, variance_ratio, params) and,
    for gene-space PCA, ``varm['PCs']`` (zero rows for non-HVGs).
    """
    with step("pca") as added:
        if obsm_key is not None:
            X = np.asarray(adata.obsm[obsm_key], dtype=np.float64)
            rows = None
        else:
            rows = (
                np.flatnonzero(adata.var["highly_variable"].to_numpy())
                if use_hvg
                else np.arange(adata.n_vars)
            )
            X = adata.X[:, rows]
        n = int(min(n_comps, X.shape[0] - 1, X.shape[1]))
        scores, loadings, var, ratio = _pca_cov(X, n)
        adata.obsm["X_pca"] = scores.astype(np.float32)
        if rows is not None:
            pcs = np.zeros((adata.n_vars, n), dtype=np.float32)
            pcs[rows] = loadings
            adata.varm["PCs"] = pcs
        adata.uns["pca"] = {
            "variance": var,
            "variance_ratio": ratio,
            "params": {
                "n_comps": n,
                "use_hvg": use_hvg,
                "zero_center": True,
                "input": obsm_key or "X",
            },
        }
        added += ["obsm['X_pca']", "uns['pca']"]
