"""Turn an AnnData into :class:`CellData` for a :class:`DataSpec`: gene alignment and hashing."""

from __future__ import annotations

import hashlib

import anndata as ad
import numpy as np
import pandas as pd
from scipy import sparse

from .._errors import InputError
from .._keys import COUNTS_LAYER, PROTEIN_CLR_KEY
from ..io.h5ad_parts import LIBRARY_COL
from .dataset import CellData
from .spec import DataSpec


def spec_from_anndata(
    adata: ad.AnnData,
    *,
    genes: list[str] | None = None,
    batch_key: str | None = "batch",
    use_protein: bool = True,
) -> DataSpec:
    """The spec of ``adata``: HVGs in genome (var) order unless ``genes`` is given."""
    if genes is None:
        if "highly_variable" not in adata.var:
            raise InputError("no highly variable genes in var; run `scssl preprocess` first.")
        genes = adata.var_names[adata.var["highly_variable"].to_numpy(bool)].tolist()
    ids = (
        adata.var["gene_ids"].reindex(genes).astype(str).tolist()
        if "gene_ids" in adata.var
        else list(genes)
    )
    batches: tuple[str, ...] = ()
    if batch_key and batch_key in adata.obs:
        batches = tuple(sorted(adata.obs[batch_key].astype(str).unique()))
    else:
        batch_key = None
    proteins: tuple[str, ...] = ()
    if use_protein and PROTEIN_CLR_KEY in adata.obsm:
        proteins = tuple(map(str, adata.obsm[PROTEIN_CLR_KEY].columns))
    return DataSpec(
        genes=tuple(genes),
        gene_ids=tuple(ids),
        batch_key=batch_key,
        batches=batches,
        proteins=proteins,
    )


def align_genes(adata: ad.AnnData, spec: DataSpec) -> tuple[np.ndarray, float]:
    """Column of each spec gene in ``adata`` (-1 if absent) and the fraction found.

    Genes are matched on ``var['gene_ids']`` when both sides have ids, else on names.
    """
    if "gene_ids" in adata.var and any(
        g != i for g, i in zip(spec.genes, spec.gene_ids, strict=True)
    ):
        have = pd.Index(adata.var["gene_ids"].astype(str))
        want = pd.Index(spec.gene_ids)
    else:
        have, want = pd.Index(adata.var_names.astype(str)), pd.Index(spec.genes)
    pos = have.get_indexer(want)
    return pos, float((pos >= 0).mean()) if len(pos) else 0.0


def _columns(M, pos: np.ndarray) -> sparse.csr_matrix:
    """``M[:, pos]`` with zero columns where ``pos`` is -1 (``M`` itself, not a copy, when
    ``pos`` selects every column in order: data already cut to the model genes)."""
    M = sparse.csr_matrix(M)
    ok = pos >= 0
    if ok.all():
        if len(pos) == M.shape[1] and np.array_equal(pos, np.arange(M.shape[1])):
            return M
        return M[:, pos]
    proj = sparse.csr_matrix(
        (np.ones(ok.sum(), np.float32), (pos[ok], np.flatnonzero(ok))), shape=(M.shape[1], len(pos))
    )
    return (M @ proj).tocsr()


def cell_vectors(adata: ad.AnnData, spec: DataSpec) -> tuple[np.ndarray, np.ndarray | None]:
    """Batch code per cell (unknown batches: 0) and protein CLR in the spec's order (missing
    proteins: 0; None without proteins)."""
    batch = np.zeros(adata.n_obs, dtype=np.int64)
    if spec.batch_key and spec.batch_key in adata.obs and spec.batches:
        lookup = {b: i for i, b in enumerate(spec.batches)}
        batch = adata.obs[spec.batch_key].astype(str).map(lookup).fillna(0).to_numpy(np.int64)
    protein = None
    if spec.n_proteins:
        protein = np.zeros((adata.n_obs, spec.n_proteins), np.float32)
        if PROTEIN_CLR_KEY in adata.obsm:
            have = adata.obsm[PROTEIN_CLR_KEY]
            for j, name in enumerate(spec.proteins):
                if name in have.columns:
                    protein[:, j] = have[name].to_numpy(np.float32)
    return batch, protein


def build_cell_data(
    adata: ad.AnnData,
    spec: DataSpec,
    *,
    min_overlap: float = 0.0,
    device: str = "cpu",
    resident: bool = False,
) -> tuple[CellData, float]:
    """Model inputs for ``adata`` in the gene order of ``spec``; returns the data and overlap.

    ``X`` must be log-normalized (as written by ``scssl preprocess``) and raw counts must be in
    ``layers['counts']``. Unknown batches map to code 0; missing proteins are zero.
    """
    if COUNTS_LAYER not in adata.layers:
        raise InputError("no layers['counts']; give the output of `scssl preprocess`.")
    if "log1p" not in adata.uns:
        raise InputError("X is not log-normalized (no uns['log1p']); run `scssl preprocess`.")
    pos, overlap = align_genes(adata, spec)
    if overlap < min_overlap:
        raise InputError(
            f"only {overlap:.1%} of the checkpoint's {spec.n_genes} genes are in the data "
            f"(minimum {min_overlap:.0%}); the data and the model use different genes or gene "
            "id spaces. Lower --min-overlap only if you know why."
        )
    counts_all = sparse.csr_matrix(adata.layers[COUNTS_LAYER])
    if LIBRARY_COL in adata.obs:  # a gene-subset read (io.read_h5ad_parts): all-gene sums
        library = adata.obs[LIBRARY_COL].to_numpy(np.float64)
    else:
        library = np.asarray(counts_all.sum(axis=1), dtype=np.float64).ravel()
    batch, protein = cell_vectors(adata, spec)
    data = CellData(
        _columns(adata.X, pos),
        _columns(counts_all, pos),
        library,
        batch,
        protein,
        device=device,
        resident=resident,
    )
    return data, overlap


def data_hash(data: CellData, spec: DataSpec) -> str:
    """sha256 of the model-gene matrix and gene list: ties a checkpoint to its training data."""
    if hasattr(data, "content_hash"):  # out-of-core data hashes itself in one pass
        return data.content_hash(spec)
    h = hashlib.sha256()
    for arr in (data.X.data, data.X.indices, data.X.indptr):
        h.update(memoryview(np.ascontiguousarray(arr)))  # the buffer itself: no bytes copy
    h.update("\n".join(spec.genes).encode())
    return h.hexdigest()
