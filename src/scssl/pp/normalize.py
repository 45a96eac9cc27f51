"""Normalization: total-count + log1p (counts kept), Pearson residuals, protein CLR."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd

from .._keys import PROTEIN_CLR_KEY, PROTEIN_KEY
from .._log import step
from ._sparse import map_rows, row_chunks, row_sums


def normalize_log1p(adata: ad.AnnData, *, target_sum: float = 1e4, layer: str = "counts") -> None:
    """``X = log1p(counts / total * target_sum)`` computed chunk-wise from ``layers[layer]``.

    The new matrix shares its sparsity structure (indices, indptr) with the counts, so memory
    grows by one float32 value array only.

    Returns
    -------
    Nothing; writes ``X`` and ``uns['log1p']`` (base None, as scanpy) and
    ``uns['scssl_normalize']['params']``.
    """
    with step("normalize_log1p") as added:
        counts = adata.layers[layer]
        totals = row_sums(counts)
        scale = np.divide(target_sum, totals, out=np.zeros_like(totals), where=totals > 0)
        adata.X = map_rows(counts, lambda v, rows: np.log1p(v * scale[rows]), dtype=np.float32)
        adata.uns["log1p"] = {}
        adata.uns["scssl_normalize"] = {
            "params": {"target_sum": float(target_sum), "layer": layer, "method": "log1p"}
        }
        added += ["X (log1p normalized)", "uns['log1p']"]


def pearson_residuals(
    adata: ad.AnnData,
    *,
    genes: np.ndarray,
    theta: float = 100.0,
    layer: str = "counts",
    key_added: str = "pearson_residuals",
) -> None:
    """Analytic Pearson residuals (Lause et al. 2021) of the ``genes`` mask, clipped at sqrt(n).

    Dense cells x selected genes, so it is computed on the HVGs only.

    Returns
    -------
    Nothing; writes ``obsm[key_added]`` (float32) and ``uns[key_added]['genes']``.
    """
    with step("pearson_residuals") as added:
        counts = adata.layers[layer][:, np.flatnonzero(genes)]
        full = adata.layers[layer]
        cell_tot = row_sums(full)
        gene_tot = np.asarray(counts.sum(axis=0), dtype=np.float64).ravel()
        grand = cell_tot.sum()
        clip = np.sqrt(adata.n_obs)
        out = np.empty(counts.shape, dtype=np.float32)
        for a, b in row_chunks(counts, 5_000_000):
            mu = np.outer(cell_tot[a:b], gene_tot) / grand
            x = counts[a:b].toarray()
            r = (x - mu) / np.sqrt(mu + mu**2 / theta + 1e-12)
            out[a:b] = np.clip(r, -clip, clip)
        adata.obsm[key_added] = out
        adata.uns[key_added] = {
            "genes": adata.var_names[genes].tolist(),
            "params": {"theta": theta, "clip": float(clip)},
        }
        added.append(f"obsm['{key_added}']")


def protein_clr(
    adata: ad.AnnData, *, key: str = PROTEIN_KEY, key_added: str = PROTEIN_CLR_KEY
) -> None:
    """Centred log-ratio per cell across antibodies: ``log1p(x) - mean(log1p(x))``.

    This is the per-cell (margin over features) CLR used for CITE-seq ADTs.

    Returns
    -------
    Nothing; writes ``obsm[key_added]`` as a DataFrame with the antibody names.
    """
    with step("protein_clr") as added:
        prot = adata.obsm[key]
        values = np.log1p(np.asarray(prot, dtype=np.float64))
        clr = values - values.mean(axis=1, keepdims=True)
        adata.obsm[key_added] = pd.DataFrame(
            clr.astype(np.float32), index=adata.obs_names, columns=list(prot.columns)
        )
        added.append(f"obsm['{key_added}']")
