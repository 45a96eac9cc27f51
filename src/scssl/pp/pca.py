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


SCALE_MAX = 10.0  # clip z-scores here, as scanpy's ``sc.pp.scale(max_value=10)`` tutorials do
_CHUNK = 8192  # cells per dense block of the scaled matrix


def _eig(cov: np.ndarray, n_comps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top ``n_comps`` eigenvectors (largest-magnitude loading positive), eigenvalues, ratios."""
    evals, evecs = np.linalg.eigh(cov)
    order = np.argsort(evals)[::-1][:n_comps]
    evals, evecs = np.maximum(evals[order], 0), evecs[:, order]
    signs = np.sign(evecs[np.abs(evecs).argmax(axis=0), np.arange(evecs.shape[1])])
    signs[signs == 0] = 1
    evecs *= signs
    total = np.trace(cov)
    return evecs, evals, evals / total if total > 0 else evals


def _pca_cov(X, n_comps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Centred PCA through the gene x gene covariance: sparse-friendly, exact, deterministic."""
    cov, mean = gene_covariance(X)
    evecs, evals, ratio = _eig(cov, n_comps)
    scores = np.asarray(X @ evecs) - mean @ evecs
    return scores, evecs, evals, ratio


def gene_scale(X) -> tuple[np.ndarray, np.ndarray]:
    """Per-gene mean and sd (ddof 1; 1 where a gene does not vary) of ``X``, dense or CSR."""
    n = X.shape[0]
    mean = np.asarray(X.mean(axis=0), dtype=np.float64).ravel()
    sq = X.multiply(X) if sparse.issparse(X) else np.square(np.asarray(X, dtype=np.float64))
    msq = np.asarray(sq.mean(axis=0), dtype=np.float64).ravel()
    sd = np.sqrt(np.maximum(msq - mean**2, 0) * n / max(n - 1, 1))
    sd[sd == 0] = 1.0
    return mean, sd


def _scaled_blocks(X, mean: np.ndarray, sd: np.ndarray):
    """Dense float64 blocks of ``X`` z-scored per gene and clipped at +-``SCALE_MAX``."""
    for start in range(0, X.shape[0], _CHUNK):
        block = X[start : start + _CHUNK]
        block = block.toarray() if sparse.issparse(block) else np.asarray(block)
        yield np.clip((block.astype(np.float64) - mean) / sd, -SCALE_MAX, SCALE_MAX)


def _pca_scaled(X, n_comps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """PCA of the per-gene z-scores (Seurat's ScaleData / scanpy's scale before PCA), built
    block by block: the cells x genes matrix is never dense at once."""
    mean, sd = gene_scale(X)
    n, g = X.shape
    gram, total = np.zeros((g, g)), np.zeros(g)
    for z in _scaled_blocks(X, mean, sd):
        gram += z.T @ z
        total += z.sum(axis=0)
    zmean = total / n
    cov = (gram - n * np.outer(zmean, zmean)) / (n - 1)
    evecs, evals, ratio = _eig(cov, n_comps)
    scores = np.vstack([z @ evecs for z in _scaled_blocks(X, mean, sd)]) - zmean @ evecs
    return scores, evecs, evals, ratio


def pca(
    adata: ad.AnnData,
    *,
    n_comps: int = 50,
    use_hvg: bool = True,
    obsm_key: str | None = None,
    scale: bool = False,
    key_added: str = "pca",
) -> None:
    """PCA of ``X`` on the HVGs (or of ``obsm[obsm_key]``), without densifying ``X``.

    Computed from the exact covariance matrix (same result as a full SVD of the centred data),
    so it needs no random seed and gives identical output for identical input. With ``scale``
    each gene is z-scored first and clipped at +-10 (Seurat ``ScaleData``, scanpy
    ``sc.pp.scale(max_value=10)``): every gene weighs the same, whatever its expression level.
    ``key_added`` names the outputs (``obsm['X_<key_added>']``, ``uns[key_added]``, ``varm``'s
    ``PCs`` for ``'pca'``, else ``PCs_<key_added>``).

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
        scores, loadings, var, ratio = (_pca_scaled if scale else _pca_cov)(X, n)
        adata.obsm[f"X_{key_added}"] = scores.astype(np.float32)
        if rows is not None:
            pcs = np.zeros((adata.n_vars, n), dtype=np.float32)
            pcs[rows] = loadings
            adata.varm["PCs" if key_added == "pca" else f"PCs_{key_added}"] = pcs
        adata.uns[key_added] = {
            "variance": var,
            "variance_ratio": ratio,
            "params": {
                "n_comps": n,
                "use_hvg": use_hvg,
                "zero_center": True,
                "scale": scale,
                "input": obsm_key or "X",
            },
        }
        added += [f"obsm['X_{key_added}']", f"uns['{key_added}']"]
