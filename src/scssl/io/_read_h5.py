"""Read Cell Ranger ``.h5`` matrices: v3 (``matrix/`` group) and v2 (one group per genome)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd
from scipy import sparse

from .._errors import InputError
from ._matrix_checks import check_counts, check_shape
from .raw_matrix import RawMatrix


def _strings(ds: h5py.Dataset) -> np.ndarray:
    return np.array([v.decode() if isinstance(v, bytes) else str(v) for v in ds[()]], dtype=object)


def _csc_group(group: h5py.Group, path: Path) -> tuple[sparse.csr_matrix, np.ndarray]:
    for key in ("data", "indices", "indptr", "shape", "barcodes"):
        if key not in group:
            raise InputError(f"{path}: group '{group.name}' lacks '{key}'; not a 10x matrix .h5.")
    n_features, n_cells = (int(v) for v in group["shape"][()])
    check_shape(n_cells, n_features, source=str(path))
    indptr = group["indptr"][()]
    if len(indptr) != n_cells + 1:
        raise InputError(
            f"{path}: indptr has {len(indptr)} entries for {n_cells} barcodes; file is corrupt."
        )
    X = sparse.csr_matrix(
        (group["data"][()].astype(np.float64), group["indices"][()], indptr),
        shape=(n_cells, n_features),
    )
    barcodes = _strings(group["barcodes"])
    if len(barcodes) != n_cells:
        raise InputError(f"{path}: {len(barcodes)} barcodes for a matrix of {n_cells} cells.")
    return X, barcodes


def read_10x_h5_file(path: Path) -> RawMatrix:
    """Read a v3 or v2 Cell Ranger ``.h5`` file into a :class:`RawMatrix`."""
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise InputError(f"{path}: not a readable HDF5 file ({err}).") from None
    with f:
        if "matrix" in f:  # Cell Ranger >= 3
            g = f["matrix"]
            X, barcodes = _csc_group(g, path)
            feat = g["features"]
            features = pd.DataFrame(
                {
                    "gene_ids": _strings(feat["id"]),
                    "gene_symbols": _strings(feat["name"]),
                    "feature_types": _strings(feat["feature_type"]),
                }
            )
            if "genome" in feat:
                features["genome"] = _strings(feat["genome"])
        else:  # Cell Ranger 1/2: one group per genome
            genomes = [k for k in f if isinstance(f[k], h5py.Group)]
            if len(genomes) != 1:
                raise InputError(
                    f"{path}: expected one genome group in a Cell Ranger 2 .h5, found "
                    f"{genomes or 'none'}; not a 10x matrix file, or a multi-genome one."
                )
            g = f[genomes[0]]
            X, barcodes = _csc_group(g, path)
            features = pd.DataFrame(
                {
                    "gene_ids": _strings(g["genes"]),
                    "gene_symbols": _strings(g["gene_names"]),
                    "feature_types": "Gene Expression",
                    "genome": genomes[0],
                }
            )
    if len(features) != X.shape[1]:
        raise InputError(f"{path}: {len(features)} features for a matrix of {X.shape[1]}.")
    X.sum_duplicates()
    check_counts(X, source=str(path))
    return RawMatrix(X=X.astype(np.float32), barcodes=barcodes, features=features)
