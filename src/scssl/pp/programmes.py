"""Co-expression gene programmes: gene sets learned from the cells, for programme masking.

Without a curated GMT (MSigDB, TF -> targets), ``mae`` masker=programme hides sets of genes
that vary together in the training cells. Genes are placed by their loadings on the leading
eigenvectors of the gene x gene correlation matrix (scaled by the square root of each
eigenvalue, then to unit length: genes whose expression moves together point the same way)
and grouped by KMeans. Every gene falls in exactly one programme; no labels are used.
"""

from __future__ import annotations

import anndata as ad
import numpy as np

from .._errors import InputError
from .pca import gene_covariance


def programme_labels(X, n_programmes: int, *, n_components: int = 20, seed: int = 0) -> np.ndarray:
    """The programme (0 .. n_programmes - 1) of each column of cells x genes ``X``."""
    from sklearn.cluster import KMeans

    n_genes = X.shape[1]
    if not 2 <= n_programmes <= n_genes:
        raise InputError(
            f"n_programmes={n_programmes}: give between 2 and the number of genes ({n_genes})."
        )
    cov, _ = gene_covariance(X)
    sd = np.sqrt(np.maximum(np.diag(cov), 1e-12))
    evals, evecs = np.linalg.eigh(cov / np.outer(sd, sd))
    top = np.argsort(evals)[::-1][: min(n_components, n_genes)]
    coords = evecs[:, top] * np.sqrt(np.maximum(evals[top], 0.0))
    coords /= np.maximum(np.linalg.norm(coords, axis=1, keepdims=True), 1e-12)
    km = KMeans(n_clusters=n_programmes, n_init=10, random_state=seed)
    return km.fit_predict(coords.astype(np.float64))


def coexpression_programmes(
    adata: ad.AnnData,
    *,
    n_programmes: int = 50,
    n_components: int = 20,
    use_hvg: bool = True,
    seed: int = 0,
) -> dict[str, list[str]]:
    """Gene sets of co-expressed genes in ``X`` (log-normalized), by name ``programme_<i>``.

    Reads the highly variable genes (``var['highly_variable']``) unless ``use_hvg`` is False.
    Write them with :func:`scssl.io.gmt.write_gmt` to pass them as ``--gmt``.
    """
    cols = np.arange(adata.n_vars)
    if use_hvg:
        if "highly_variable" not in adata.var:
            raise InputError("var['highly_variable'] missing: run `scssl preprocess` first.")
        cols = np.flatnonzero(adata.var["highly_variable"].to_numpy())
    labels = programme_labels(adata.X[:, cols], n_programmes, n_components=n_components, seed=seed)
    names = adata.var_names[cols]
    return {f"programme_{i}": list(names[labels == i]) for i in range(n_programmes)}
