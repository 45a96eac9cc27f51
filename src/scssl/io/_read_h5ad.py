"""Read an ``.h5ad`` given as a sample input: take its raw counts, never normalized values."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
from scipy import sparse

from .._errors import InputError
from .._keys import PROTEIN_KEY
from ._matrix_checks import check_counts, check_shape
from .raw_matrix import RawMatrix


def read_h5ad_input(path: Path) -> tuple[RawMatrix, pd.DataFrame | None]:
    """Counts from ``layers['counts']``, else ``raw.X``, else ``X``; protein from obsm."""
    try:
        adata = ad.read_h5ad(path)
    except Exception as err:
        raise InputError(
            f"{path}: cannot be read as .h5ad ({type(err).__name__}: {err})."
        ) from None
    check_shape(adata.n_obs, adata.n_vars, source=str(path))
    if "counts" in adata.layers:
        X, var, where = adata.layers["counts"], adata.var, "layers['counts']"
    elif adata.raw is not None:
        X, var, where = adata.raw.X, adata.raw.var, "raw.X"
    else:
        X, var, where = adata.X, adata.var, "X"
    if X is None:
        raise InputError(f"{path}: has no counts matrix (X, raw.X and layers['counts'] are empty).")
    X = sparse.csr_matrix(X, dtype=np.float64)
    check_counts(X, source=f"{path} {where}")
    ids = var["gene_ids"].astype(str) if "gene_ids" in var else pd.Series(var.index.astype(str))
    symbols = (
        var["gene_symbols"].astype(str)
        if "gene_symbols" in var
        else pd.Series(var.index.astype(str))
    )
    features = pd.DataFrame(
        {
            "gene_ids": ids.to_numpy(),
            "gene_symbols": symbols.to_numpy(),
            "feature_types": var["feature_types"].astype(str).to_numpy()
            if "feature_types" in var
            else "Gene Expression",
        }
    )
    protein = None
    if PROTEIN_KEY in adata.obsm:
        protein = pd.DataFrame(adata.obsm[PROTEIN_KEY], index=adata.obs_names)
        check_counts(
            sparse.csr_matrix(protein.to_numpy(dtype=np.float64)),
            source=f"{path} obsm['{PROTEIN_KEY}']",
            what="protein counts",
        )
    barcodes = (
        adata.obs["barcode"].astype(str).to_numpy()
        if "barcode" in adata.obs
        else adata.obs_names.to_numpy()
    )
    raw = RawMatrix(X=X.astype(np.float32), barcodes=barcodes, features=features)
    return raw, protein
