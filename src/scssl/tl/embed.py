"""Embed cells with a pretrained checkpoint into ``obsm['X_scssl_<family>']``."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import torch

from .._errors import InputError
from .._log import logger, step
from ..data.prepare import build_cell_data
from ..models.base import SSLModule
from ..train.checkpoint import load_checkpoint
from .smooth import smooth_embedding, unit_length

SMOOTH_K = 0
"""Neighbours averaged into each cell's stored embedding by default: none. Smoothing over 15
neighbours raises KMeans ARI but fragments Leiden clusters (docs/benchmarks.md)."""


def embed_module(module: SSLModule, data, *, batch_size: int = 1024) -> np.ndarray:
    """Embeddings of every cell of ``data`` in order (eval mode, no gradient)."""
    module.eval()
    out = []
    with torch.no_grad():
        for start in range(0, data.n_cells, batch_size):
            idx = np.arange(start, min(start + batch_size, data.n_cells))
            out.append(module.embed(data.batch(idx, module.input_keys())).float().cpu().numpy())
    return np.concatenate(out).astype(np.float32)


def stored_embedding(
    module: SSLModule, data, *, batch_size: int = 1024, unit: bool | None = None
) -> np.ndarray:
    """The per-cell embedding ``scssl embed`` stores: :func:`embed_module`'s output, scaled to
    unit length when ``unit`` (None: the family's ``unit_embedding``)."""
    emb = embed_module(module, data, batch_size=batch_size)
    return unit_length(emb) if (unit if unit is not None else module.unit_embedding) else emb


def embed(
    adata: ad.AnnData,
    checkpoint: str | Path,
    *,
    min_overlap: float = 0.5,
    device: str = "cpu",
    batch_size: int = 1024,
    key_added: str | None = None,
    smooth_k: int = SMOOTH_K,
    seed: int = 0,
) -> str:
    """Align ``adata``'s genes to the checkpoint's, embed, and store the embedding.

    Genes missing from ``adata`` are zero-filled; below ``min_overlap`` (fraction of the
    checkpoint's genes found) an InputError explains the mismatch. With ``smooth_k`` > 1 the
    stored embedding is each cell's L2-normalised encoding averaged over its ``smooth_k``
    nearest neighbours (:func:`scssl.tl.smooth.smooth_embedding`; tighter types for
    centroid clustering such as KMeans, but graph clustering such as Leiden then splits them)
    and the per-cell embedding goes to ``obsm[key + '_cell']``; 0 (default) stores the
    per-cell embedding only. The per-cell embedding is the encoder's output, scaled to unit
    length for families whose latent direction carries the cell type (``mae``:
    ``unit_embedding``; KMeans ARI 0.623 -> 0.659 over 5 data sets x 3 seeds).

    Returns
    -------
    The obsm key written (``X_scssl_<family>`` unless ``key_added``); also writes
    ``uns['scssl_embed'][key]`` with the checkpoint, gene overlap, family and smoothing.
    """
    if smooth_k < 0:
        raise InputError(f"--smooth-k must be >= 0 (0: no smoothing), not {smooth_k}.")
    module, ckpt = load_checkpoint(checkpoint, device=device)
    key = key_added or f"X_scssl_{ckpt.family}"
    with step(f"embed {ckpt.family}") as added:
        data, overlap = build_cell_data(adata, ckpt.spec, min_overlap=min_overlap, device=device)
        if overlap < 1:
            logger.warning(
                "embed: %.1f%% of the checkpoint's %d genes found; missing genes are zero",
                100 * overlap,
                ckpt.spec.n_genes,
            )
        cell = stored_embedding(module, data, batch_size=batch_size)
        if smooth_k > 1:
            adata.obsm[f"{key}_cell"] = cell
            adata.obsm[key] = smooth_embedding(cell, smooth_k, seed=seed)
            added.append(f"obsm['{key}_cell']")
        else:
            adata.obsm[key] = cell
        info = dict(adata.uns.get("scssl_embed", {}))
        info[key] = {
            "checkpoint": str(Path(checkpoint).resolve()),
            "family": ckpt.family,
            "gene_overlap": overlap,
            "n_genes_model": ckpt.spec.n_genes,
            "data_hash_train": ckpt.data_hash,
            "smooth_k": smooth_k if smooth_k > 1 else 0,
            "unit_length": bool(type(module).unit_embedding or smooth_k > 1),
        }
        adata.uns["scssl_embed"] = info
        added.append(f"obsm['{key}']")
    return key
