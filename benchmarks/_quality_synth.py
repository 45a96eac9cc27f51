"""Synthetic negative binomial counts for the throughput benchmarks (built in memory)."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
from scipy import sparse


def synthetic_counts(n_cells: int, n_genes: int, *, n_types: int = 8, seed: int = 0) -> ad.AnnData:
    """Realistic NB counts (CSR float32) in the scssl layout, ``obs['cell_type']``."""
    rng = np.random.default_rng(seed)
    base = rng.lognormal(-1.0, 1.8, n_genes)
    lfc = np.zeros((n_types, n_genes))
    for t in range(n_types):
        markers = rng.choice(n_genes, n_genes // 20, replace=False)
        lfc[t, markers] = rng.normal(1.5, 0.7, len(markers))
    prog = base * np.exp(lfc)
    prog /= prog.sum(1, keepdims=True)
    theta = rng.lognormal(np.log(4.0), 0.6, n_genes)  # NB shape (1 / dispersion)
    types = rng.integers(n_types, size=n_cells)
    lib = rng.lognormal(np.log(2500), 0.5, n_cells)
    blocks = []
    for s in range(0, n_cells, 2000):
        mu = lib[s : s + 2000, None] * prog[types[s : s + 2000]]
        blocks.append(
            sparse.csr_matrix(rng.poisson(rng.gamma(theta, mu / theta)), dtype=np.float32)
        )
    X = sparse.vstack(blocks).tocsr()
    obs = pd.DataFrame(
        {"cell_type": [f"type{t}" for t in types], "batch": "b0"},
        index=[f"cell{i}" for i in range(n_cells)],
    )
    adata = ad.AnnData(X=X, obs=obs, var=pd.DataFrame(index=[f"gene{j}" for j in range(n_genes)]))
    adata.layers["counts"] = adata.X
    return adata
