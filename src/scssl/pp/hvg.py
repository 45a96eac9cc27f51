"""Highly variable genes, Seurat v3 flavour (variance-stabilised, batch-aware) on raw counts.

Follows the published Seurat v3 procedure (Stuart et al. 2019, as in scanpy's ``seurat_v3``
flavour): per batch, a loess fit of log10 variance on log10 mean gives a regularised standard
deviation; counts are clipped at ``mean + sqrt(n_cells) * sd`` and the normalised variance of
the clipped values ranks the genes; ranks are combined by their median over batches. This
implementation streams over row chunks of the CSR matrix, so it never copies the matrix.
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd

from .._errors import InputError
from .._log import step
from ._sparse import row_chunks


def _batch_sums(X, codes: np.ndarray, n_b: int, clip: np.ndarray | None = None):
    """Per (batch, gene) sum and sum of squares of the (optionally clipped) values."""
    n_g = X.shape[1]
    s1 = np.zeros(n_b * n_g)
    s2 = np.zeros(n_b * n_g)
    for a, b in row_chunks(X):
        lo, hi = X.indptr[a], X.indptr[b]
        key = np.repeat(codes[a:b].astype(np.int64) * n_g, np.diff(X.indptr[a : b + 1]))
        key += X.indices[lo:hi]
        v = X.data[lo:hi].astype(np.float64)
        if clip is not None:
            np.minimum(v, clip.ravel()[key], out=v)
        s1 += np.bincount(key, weights=v, minlength=n_b * n_g)
        s2 += np.bincount(key, weights=v * v, minlength=n_b * n_g)
    return s1.reshape(n_b, n_g), s2.reshape(n_b, n_g)


def _loess_sd(mean: np.ndarray, var: np.ndarray, span: float) -> np.ndarray:
    from skmisc.loess import loess

    fitted = np.zeros(len(mean))
    ok = var > 0
    if ok.sum() < 10:
        raise InputError("too few variable genes in a batch to fit the mean-variance trend.")
    model = loess(np.log10(mean[ok]), np.log10(var[ok]), span=span, degree=2)
    model.fit()
    fitted[ok] = model.outputs.fitted_values
    return np.sqrt(10**fitted)


def highly_variable_genes(
    adata: ad.AnnData,
    *,
    n_top_genes: int = 2000,
    batch_key: str | None = None,
    layer: str = "counts",
    span: float = 0.3,
) -> None:
    """Flag the ``n_top_genes`` most variable genes (Seurat v3 flavour) on raw counts.

    Returns
    -------
    Nothing; writes ``var``: ``highly_variable``, ``highly_variable_rank``, ``means``,
    ``variances``, ``variances_norm``, ``highly_variable_nbatches``; and ``uns['hvg']`` with
    ``flavor``, ``genes`` (ranked HVG names) and ``params``.
    """
    if n_top_genes < 1:
        raise InputError(f"--n-top-genes must be >= 1, got {n_top_genes}.")
    X = adata.layers[layer] if layer else adata.X
    n_top = min(n_top_genes, adata.n_vars)
    with step("highly_variable_genes") as added:
        if batch_key is None:
            codes, n_b = np.zeros(adata.n_obs, dtype=np.int64), 1
        else:
            if batch_key not in adata.obs:
                raise InputError(f"batch key {batch_key!r} is not a column of obs.")
            cat = pd.Categorical(adata.obs[batch_key].astype(str))
            codes, n_b = cat.codes.astype(np.int64), len(cat.categories)
        n = np.bincount(codes, minlength=n_b).astype(np.float64)[:, None]
        if (n < 2).any():
            raise InputError(f"every batch in {batch_key!r} needs >= 2 cells for HVG selection.")
        s1, s2 = _batch_sums(X, codes, n_b)
        mean = s1 / n
        var = (s2 - n * mean**2) / (n - 1)
        var = np.maximum(var, 0)
        sd = np.vstack([_loess_sd(mean[i], var[i], span) for i in range(n_b)])
        clip = sd * np.sqrt(n) + mean
        c1, c2 = _batch_sums(X, codes, n_b, clip=clip)
        norm_var = (n * mean**2 + c2 - 2 * c1 * mean) / ((n - 1) * sd**2)
        ranks = np.argsort(np.argsort(-norm_var, axis=1), axis=1).astype(np.float64)
        nbatches = (ranks < n_top).sum(axis=0)
        ranks[ranks >= n_top] = np.nan
        with np.errstate(all="ignore"):
            median_rank = np.full(adata.n_vars, np.nan)
            any_ranked = ~np.isnan(ranks).all(axis=0)
            median_rank[any_ranked] = np.nanmedian(ranks[:, any_ranked], axis=0)
        order = np.lexsort((-nbatches, np.where(np.isnan(median_rank), np.inf, median_rank)))
        hv = np.zeros(adata.n_vars, bool)
        hv[order[:n_top]] = True
        tot_n = n.sum()
        all_mean = s1.sum(0) / tot_n
        all_var = np.maximum((s2.sum(0) - tot_n * all_mean**2) / (tot_n - 1), 0)
        adata.var["highly_variable"] = hv
        adata.var["highly_variable_rank"] = median_rank.astype(np.float32)
        adata.var["means"] = all_mean
        adata.var["variances"] = all_var
        adata.var["variances_norm"] = norm_var.mean(axis=0)
        adata.var["highly_variable_nbatches"] = nbatches
        adata.uns["hvg"] = {
            "flavor": "seurat_v3",
            "genes": adata.var_names[order[:n_top]].tolist(),
            "params": {
                "n_top_genes": n_top,
                "batch_key": batch_key or "",
                "span": span,
                "layer": layer,
            },
        }
        added += ["var['highly_variable', ...]", "uns['hvg']"]


def subset_hvg(adata: ad.AnnData) -> ad.AnnData:
    """A view of ``adata`` restricted to the highly variable genes, in rank order."""
    if "highly_variable" not in adata.var:
        raise InputError("no 'highly_variable' column in var; run `scssl preprocess` first.")
    return adata[:, adata.uns["hvg"]["genes"]]
