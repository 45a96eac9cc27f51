"""Concatenate QC'd samples into one AnnData with a batch key, genes joined on their ids."""

from __future__ import annotations

from collections.abc import Sequence

import anndata as ad
import numpy as np
import pandas as pd
from anndata.utils import make_index_unique
from scipy import sparse

from .._errors import InputError
from .._keys import PROTEIN_KEY
from .._log import logger, step
from ._sparse import col_nnz

GENE_COLUMNS = ("gene_ids", "gene_symbols", "feature_types", "genome")


def _sample_name(a: ad.AnnData, i: int) -> str:
    if "sample" in a.obs and a.n_obs:
        return str(a.obs["sample"].iloc[0])
    return str(a.uns.get("scssl", {}).get("sample", f"sample{i + 1}"))


def _gene_block(counts: sparse.csr_matrix, pos: np.ndarray) -> sparse.csr_matrix:
    """``counts`` with its columns at ``pos`` (-1: a gene the sample lacks, all zero)."""
    if len(pos) == counts.shape[1] and np.array_equal(pos, np.arange(len(pos))):
        return counts
    found = pos >= 0
    if found.all():
        return counts[:, pos]
    proj = sparse.csr_matrix(
        (np.ones(int(found.sum()), np.float32), (pos[found], np.flatnonzero(found))),
        shape=(counts.shape[1], len(pos)),
    )
    return counts @ proj


def _check_id_spaces(adatas: Sequence[ad.AnnData], names: list[str]) -> str:
    spaces = {
        n: a.uns.get("scssl", {}).get("gene_id_space", "unknown")
        for n, a in zip(names, adatas, strict=True)
    }
    if len(set(spaces.values())) > 1:
        listing = ", ".join(f"{n}: {s}" for n, s in spaces.items())
        raise InputError(
            f"samples use different gene id spaces ({listing}); run every sample against the "
            "same Cell Ranger reference, or convert ids before merging."
        )
    return next(iter(spaces.values()))


def _protein(adatas: Sequence[ad.AnnData], names: list[str]) -> pd.DataFrame | None:
    have = [PROTEIN_KEY in a.obsm for a in adatas]
    if not any(have):
        return None
    if not all(have):
        missing = [n for n, h in zip(names, have, strict=True) if not h]
        raise InputError(
            f"samples {missing} have no Antibody Capture panel while others do; "
            "merge CITE-seq and RNA-only samples in separate runs."
        )
    panels = [list(a.obsm[PROTEIN_KEY].columns) for a in adatas]
    ref = panels[0]
    for n, p in zip(names[1:], panels[1:], strict=True):
        if set(p) != set(ref):
            diff = sorted(set(p) ^ set(ref))
            raise InputError(
                f"sample {n}: antibody panel differs from sample {names[0]} "
                f"({diff}); give samples stained with the same panel."
            )
    return pd.concat([a.obsm[PROTEIN_KEY][ref] for a in adatas])


def merge_samples(
    adatas: Sequence[ad.AnnData],
    *,
    batch_key: str = "batch",
    join: str = "inner",
    min_cells_gene: int = 3,
) -> ad.AnnData:
    """Concatenate samples (raw counts) along cells.

    Genes are matched on ``var['gene_ids']``; ``join='inner'`` keeps genes present in every
    sample, ``'outer'`` keeps all (absent genes count 0). ``obs[batch_key]`` is filled with the
    sample name where the samplesheet gave no batch. Antibody panels must match. Genes detected
    in fewer than ``min_cells_gene`` cells over all samples are dropped.

    Returns
    -------
    One AnnData: ``X`` and ``layers['counts']`` raw counts, ``obs[batch_key]`` categorical,
    ``obsm['protein_counts']`` when present, ``uns['scssl']['samples']`` per-sample provenance
    and ``uns['scssl_qc']`` per-sample QC summaries.
    """
    if not adatas:
        raise InputError("merge needs at least one sample.")
    if join not in ("inner", "outer"):
        raise InputError(f"--join must be 'inner' or 'outer', not {join!r}.")
    names = [_sample_name(a, i) for i, a in enumerate(adatas)]
    dup = pd.Index(names)[pd.Index(names).duplicated()]
    if len(dup):
        raise InputError(f"duplicate sample id(s) {list(dup)} among the inputs to merge.")
    with step(f"merge {len(adatas)} samples") as added:
        space = _check_id_spaces(adatas, names)
        ids = [pd.Index(a.var["gene_ids"].astype(str)) for a in adatas]
        if join == "inner":
            common = ids[0]
            for other in ids[1:]:
                common = common[common.isin(other)]
        else:
            common = pd.Index(pd.unique(np.concatenate([i.to_numpy() for i in ids])))
        if len(common) == 0:
            raise InputError("the samples share no gene ids; were they run on the same reference?")
        var_parts, positions = [], []
        n_cells = np.zeros(len(common), dtype=np.int64)
        for name, a, idx in zip(names, adatas, ids, strict=True):
            if idx.has_duplicates:
                raise InputError(f"sample {name}: duplicated gene ids in var['gene_ids'].")
            lost = int((~idx.isin(common)).sum())
            if lost:
                logger.warning("merge: sample %s loses %d genes absent elsewhere", name, lost)
            pos = idx.get_indexer(common)
            found = pos >= 0
            n_cells[found] += col_nnz(sparse.csr_matrix(a.layers["counts"]))[pos[found]]
            positions.append(pos)
            var_parts.append(a.var[[c for c in GENE_COLUMNS if c in a.var]])
        keep = n_cells >= min_cells_gene
        if not keep.any():
            raise InputError(
                f"no gene is detected in >= {min_cells_gene} cells; lower --min-cells-gene."
            )
        # genes are dropped before stacking, and a sample already in the final gene order is
        # stacked as it is: peak memory is the samples plus the merged matrix
        blocks = [
            _gene_block(sparse.csr_matrix(a.layers["counts"]), pos[keep])
            for a, pos in zip(adatas, positions, strict=True)
        ]
        X = sparse.vstack(blocks, format="csr", dtype=np.float32)
        del blocks
        var = pd.concat(var_parts).drop_duplicates("gene_ids").set_index("gene_ids", drop=False)
        var = var.loc[common].reset_index(drop=True)
        var = var.loc[keep].reset_index(drop=True)
        var["n_cells"] = n_cells[keep]
        var.index = make_index_unique(pd.Index(var["gene_symbols"].astype(str).to_numpy()))
        obs = pd.concat([a.obs for a in adatas], join="outer")
        if obs.index.has_duplicates:
            raise InputError(
                "duplicate cell names across samples; prefix barcodes with sample ids."
            )
        obs["sample"] = pd.Categorical(
            np.repeat(names, [a.n_obs for a in adatas]), categories=names
        )
        if batch_key not in obs:
            obs[batch_key] = obs["sample"].astype(str)
        obs[batch_key] = (
            obs[batch_key].astype(str).where(obs[batch_key].notna(), obs["sample"].astype(str))
        )
        obs[batch_key] = obs[batch_key].astype("category")
        for col in obs.columns:
            if obs[col].dtype == object:  # mixed categories after concat; NaN stays missing
                obs[col] = obs[col].astype("category")
        merged = ad.AnnData(X=X, obs=obs, var=var)
        merged.layers["counts"] = merged.X
        protein = _protein(adatas, names)
        if protein is not None:
            merged.obsm[PROTEIN_KEY] = protein.set_axis(merged.obs_names)
        merged.uns["scssl"] = {
            "gene_id_space": space,
            "batch_key": batch_key,
            "join": join,
            "min_cells_gene": min_cells_gene,
            "n_genes_removed_min_cells": int((~keep).sum()),
            "samples": {n: a.uns.get("scssl", {}) for n, a in zip(names, adatas, strict=True)},
        }
        qc = {
            n: a.uns["scssl_qc"] for n, a in zip(names, adatas, strict=True) if "scssl_qc" in a.uns
        }
        if qc:
            merged.uns["scssl_qc"] = qc
        added += [f"obs['{batch_key}']", "uns['scssl']['samples']"]
    return merged
