"""Synthetic counts for ``bench_qc_preprocess.py``: a large sparse matrix in the scssl layout.

Generated chunk by chunk of cells, never holding a dense matrix: log-normal gene abundances,
cell types x batches x a "cycling" state with their own programmes, log-normal library sizes,
13 ``MT-`` genes, ~80 ``RPS``/``RPL`` genes, ~5% low-quality cells (few counts, high % mito).
Counts are multinomial draws (Walker alias tables, one per programme), counted per cell by
sorting. The AnnData has ``X`` as ``layers['counts']`` and is written uncompressed with
:func:`scssl.io.write_h5ad`; a JSON next to it describes the matrix (sizes, dtypes, medians).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

# 13 protein-coding mitochondrial genes (human)
MT_GENES = [
    "MT-ND1", "MT-ND2", "MT-CO1", "MT-CO2", "MT-ATP8", "MT-ATP6", "MT-CO3",
    "MT-ND3", "MT-ND4L", "MT-ND4", "MT-ND5", "MT-ND6", "MT-CYB",
]  # fmt: skip
RIBO_GENES = (
    [f"RPS{i}" for i in range(2, 30)]
    + ["RPS27A", "RPS4X", "RPS15A", "RPSA"]
    + [f"RPL{i}" for i in range(3, 42)]
    + ["RPL13A", "RPL36A", "RPL37A", "RPLP0", "RPLP1", "RPLP2"]
)
HB_GENES = ["HBB", "HBA1", "HBA2", "HBD"]


# ----------------------------------------------------------------------------------------------
# generation
# ----------------------------------------------------------------------------------------------


def _alias_table(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Walker/Vose alias table for sampling from ``p`` in O(1) per draw."""
    n = len(p)
    q = p * (n / p.sum())
    prob = np.ones(n)
    alias = np.arange(n, dtype=np.int32)
    small = list(np.flatnonzero(q < 1))
    large = list(np.flatnonzero(q >= 1))
    while small and large:
        s, g = small.pop(), large.pop()
        prob[s], alias[s] = q[s], g
        q[g] = q[g] + q[s] - 1.0
        (small if q[g] < 1 else large).append(g)
    return prob, alias


def _barcodes(n: int) -> np.ndarray:
    """Distinct 16-mer barcodes with the Cell Ranger '-1' suffix."""
    codes = (np.arange(n, dtype=np.int64)[:, None] * 2654435761 % (4**16)) >> (
        2 * np.arange(16, dtype=np.int64)
    )
    letters = np.frombuffer(b"ACGT", dtype="S1")[codes & 3]
    return np.char.add(letters.view("S16").ravel().astype(str), "-1")


def _genes(n_genes: int, rng: np.random.Generator):
    """Symbols (MT-, RPS/RPL, HB genes scattered among the others), Ensembl-style ids."""
    special = MT_GENES + RIBO_GENES[: max(0, min(len(RIBO_GENES), n_genes // 50))] + HB_GENES
    n_other = n_genes - len(special)
    if n_other < 100:
        raise SystemExit(f"--n-genes must be at least {len(special) + 100}")
    symbols = np.array(special + [f"GENE{i:05d}" for i in range(1, n_other + 1)], dtype=object)
    symbols = symbols[rng.permutation(n_genes)]
    ids = np.array([f"ENSG{i:011d}" for i in range(1, n_genes + 1)], dtype=object)
    return symbols, ids


def generate(args: argparse.Namespace, in_path: Path, meta_path: Path) -> None:
    """Write the synthetic sample to ``in_path`` and its description to ``meta_path``."""
    import anndata as ad
    import pandas as pd
    from scipy import sparse

    from scssl import _atomic
    from scssl.io import write_h5ad

    t0 = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    n, g = args.n_cells, args.n_genes
    symbols, ids = _genes(g, rng)
    is_mt = np.char.startswith(symbols.astype(str), "MT-")
    is_ribo = np.isin(symbols, RIBO_GENES)
    mt_idx = np.flatnonzero(is_mt).astype(np.int32)
    nm_idx = np.flatnonzero(~is_mt).astype(np.int32)
    g_nm = len(nm_idx)

    # gene abundances: heavy-tailed baseline, highly expressed ribosomal genes
    base = np.exp(rng.normal(0.0, 2.0, g_nm))
    ribo_nm = is_ribo[nm_idx]
    ribo = np.exp(rng.normal(0.0, 0.5, int(ribo_nm.sum())))
    # ribosomal genes take ~15% of the non-mito counts, whatever the number of genes
    base[ribo_nm] = ribo * (0.15 / 0.85) * base[~ribo_nm].sum() / ribo.sum()
    n_types, n_batches = 6, 4
    type_prog = np.exp(rng.normal(0.0, 0.25, (n_types, g_nm)))
    for t in range(n_types):
        up = rng.choice(g_nm, size=max(10, g_nm // 50), replace=False)
        type_prog[t, up] *= np.exp(rng.normal(2.0, 0.5, len(up)))
    batch_eff = np.exp(rng.normal(0.0, 0.15, (n_batches, g_nm)))
    cycling = np.ones(g_nm)
    cycling[rng.choice(g_nm, size=max(10, g_nm // 150), replace=False)] = np.exp(2.0)
    n_combo = n_types * n_batches * 2
    prob = np.empty(n_combo * g_nm)
    alias = np.empty(n_combo * g_nm, dtype=np.int32)
    for c in range(n_combo):
        t, b, s = c // (n_batches * 2), (c // 2) % n_batches, c % 2
        p = base * type_prog[t] * batch_eff[b] * (cycling if s else 1.0)
        prob[c * g_nm : (c + 1) * g_nm], alias[c * g_nm : (c + 1) * g_nm] = _alias_table(p)
    mt_p = np.exp(rng.normal(0.0, 0.5, len(mt_idx)))
    mt_cdf = np.cumsum(mt_p) / mt_p.sum()

    # cells: type, batch, state, library size, % mito; ~5% low quality
    cell_type = rng.integers(0, n_types, n)
    batch = rng.integers(0, n_batches, n)
    state = (rng.random(n) < 0.15).astype(np.int64)
    combo = (cell_type * n_batches + batch) * 2 + state
    sigma = 0.35
    lib = np.exp(rng.normal(np.log(args.counts_per_cell) - sigma**2 / 2, sigma, n))
    f_mt = rng.beta(4.0, 76.0, n)
    low = rng.random(n) < 0.05
    lib[low] *= rng.uniform(0.1, 0.3, int(low.sum()))
    f_mt[low] = rng.uniform(0.3, 0.7, int(low.sum()))
    lib = np.maximum(np.rint(lib), 20).astype(np.int64)

    chunk = max(1, min(2000, (2**31 - 1) // g))
    data_parts, idx_parts, row_nnz = [], [], np.zeros(n, dtype=np.int64)
    for a in range(0, n, chunk):
        b = min(a + chunk, n)
        m = b - a
        n_mt = rng.binomial(lib[a:b], f_mt[a:b])
        n_nm = lib[a:b] - n_mt
        cells = np.arange(m, dtype=np.int32)
        # non-mito draws from each cell's programme (alias method)
        u = rng.random(int(n_nm.sum())) * g_nm
        bins = u.astype(np.int32)
        u -= bins
        j = np.repeat(combo[a:b] * g_nm, n_nm) + bins
        local = np.where(u < prob[j], bins, alias[j])
        del u, j, bins
        key_nm = np.repeat(cells * g, n_nm) + nm_idx[local]
        del local
        # mito draws
        mt_draw = np.searchsorted(mt_cdf, rng.random(int(n_mt.sum())), side="right")
        key_mt = np.repeat(cells * g, n_mt) + mt_idx[np.minimum(mt_draw, len(mt_idx) - 1)]
        key = np.concatenate([key_nm, key_mt])
        del key_nm, key_mt
        key.sort()
        start = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        cnt = np.diff(np.r_[start, len(key)])
        uk = key[start]
        data_parts.append(cnt.astype(np.float32))
        idx_parts.append((uk % g).astype(np.int32))
        row_nnz[a:b] = np.bincount(uk // g, minlength=m)
        del key, start, cnt, uk
    data = np.concatenate(data_parts)
    del data_parts
    indices = np.concatenate(idx_parts)
    del idx_parts
    nnz = len(data)
    ip_dtype = np.int32 if nnz < np.iinfo(np.int32).max else np.int64
    indptr = np.zeros(n + 1, dtype=ip_dtype)
    np.cumsum(row_nnz, out=indptr[1:])
    X = sparse.csr_matrix((data, indices, indptr), shape=(n, g), copy=False)
    assert X.data.dtype == np.float32 and X.has_sorted_indices
    t_gen = time.perf_counter() - t0

    barcodes = _barcodes(n)
    obs = pd.DataFrame(
        {
            "barcode": barcodes,
            "sample": pd.Categorical(["bench"] * n),
            "batch": pd.Categorical(np.array([f"batch{i + 1}" for i in range(n_batches)])[batch]),
        },
        index=pd.Index("bench_" + barcodes.astype(object)),
    )
    var = pd.DataFrame(
        {
            "gene_ids": ids.astype(str),
            "gene_symbols": symbols.astype(str),
            "feature_types": "Gene Expression",
        },
        index=pd.Index(symbols.astype(str)),
    )
    adata = ad.AnnData(X=X, obs=obs, var=var)
    adata.layers["counts"] = adata.X
    assert adata.layers["counts"] is adata.X, "X must be the very object in layers['counts']"
    adata.uns["scssl"] = {"sample": "bench", "gene_id_space": "ensembl", "qc_overrides": {}}
    t1 = time.perf_counter()
    write_h5ad(adata, in_path, compression=None)
    t_write = time.perf_counter() - t1

    total = np.asarray(X.sum(axis=1)).ravel()
    mt_frac = np.asarray(X[:, mt_idx].sum(axis=1)).ravel() / np.maximum(total, 1)
    ribo_frac = np.asarray(X[:, np.flatnonzero(is_ribo)].sum(axis=1)).ravel() / np.maximum(total, 1)
    meta = {
        "params": gen_params(args),
        "n_cells": n,
        "n_genes": g,
        "nnz": int(nnz),
        "density": nnz / (n * g),
        "data_dtype": str(X.data.dtype),
        "indices_dtype": str(X.indices.dtype),
        "indptr_dtype": str(X.indptr.dtype),
        "bytes_data": int(X.data.nbytes),
        "bytes_indices": int(X.indices.nbytes),
        "bytes_indptr": int(X.indptr.nbytes),
        "mean_counts_per_cell": float(total.mean()),
        "median_counts_per_cell": float(np.median(total)),
        "median_genes_per_cell": float(np.median(row_nnz)),
        "mean_genes_per_cell": float(row_nnz.mean()),
        "median_pct_mt": float(100 * np.median(mt_frac)),
        "median_pct_ribo": float(100 * np.median(ribo_frac)),
        "n_low_quality": int(low.sum()),
        "n_mt_genes": int(is_mt.sum()),
        "n_ribo_genes": int(is_ribo.sum()),
        "n_cell_types": n_types,
        "n_batches": n_batches,
        "generate_s": round(t_gen, 1),
        "write_s": round(t_write, 1),
        "file_bytes": in_path.stat().st_size,
    }
    _atomic.write_json(meta_path, meta)
    print(
        f"generated {n} x {g}, nnz {nnz:,} ({t_gen:.1f}s), wrote {in_path} ({t_write:.1f}s)",
        flush=True,
    )


def gen_params(args: argparse.Namespace) -> dict:
    return {
        "n_cells": args.n_cells,
        "n_genes": args.n_genes,
        "counts_per_cell": args.counts_per_cell,
        "seed": args.seed,
        "version": 1,
    }
