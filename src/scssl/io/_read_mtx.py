"""Read a Cell Ranger matrix folder (v3 ``features.tsv.gz`` or v2/legacy ``genes.tsv``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import io as spio
from scipy import sparse

from .._errors import InputError
from ._matrix_checks import check_counts, check_shape
from .formats import BARCODE_NAMES, FEATURE_NAMES, MTX_NAMES, _first
from .raw_matrix import RawMatrix


def _read_table(path: Path, n_cols: int) -> pd.DataFrame:
    try:
        table = pd.read_csv(path, sep="\t", header=None, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:  # no rows: the shape check reports zero cells/genes
        return pd.DataFrame({i: pd.Series(dtype=str) for i in range(n_cols)})
    except Exception as err:  # gzip/unicode errors
        raise InputError(f"{path}: cannot be read as a tab-separated table ({err}).") from None
    return table


def _features(path: Path) -> pd.DataFrame:
    table = _read_table(path, 3)
    if table.shape[1] == 1:  # ids only
        table[1] = table[0]
    if table.shape[1] == 2:  # genes.tsv (Cell Ranger 1/2)
        table[2] = "Gene Expression"
    table = table.iloc[:, :4]
    table.columns = ["gene_ids", "gene_symbols", "feature_types", "genome"][: table.shape[1]]
    return table


def read_mtx_folder(folder: Path) -> RawMatrix:
    """Read ``matrix.mtx(.gz)``, the features/genes table and barcodes from ``folder``."""
    mtx = _first(folder, MTX_NAMES)
    feats = _first(folder, FEATURE_NAMES)
    bcs = _first(folder, BARCODE_NAMES)
    for name, found in (
        ("matrix.mtx(.gz)", mtx),
        ("features.tsv(.gz)/genes.tsv", feats),
        ("barcodes.tsv(.gz)", bcs),
    ):
        if found is None:
            raise InputError(f"{folder}: missing {name}; is this a complete Cell Ranger folder?")
    assert mtx is not None and feats is not None and bcs is not None
    try:
        m = spio.mmread(str(mtx))
    except Exception as err:
        raise InputError(
            f"{mtx}: truncated or corrupt MatrixMarket file ({type(err).__name__}: {err}); "
            "copy the Cell Ranger output again."
        ) from None
    if not sparse.issparse(m):
        m = sparse.coo_matrix(m)
    features = _features(feats)
    barcodes = _read_table(bcs, 1).iloc[:, 0].to_numpy()
    n_features, n_cells = m.shape
    if n_features != len(features) or n_cells != len(barcodes):
        raise InputError(
            f"{folder}: matrix is {n_features} features x {n_cells} barcodes but "
            f"{feats.name} lists {len(features)} and {bcs.name} lists {len(barcodes)}; "
            "the files do not belong together."
        )
    check_shape(n_cells, n_features, source=str(folder))
    X = sparse.csr_matrix(m.T, dtype=np.float64)
    X.sum_duplicates()
    check_counts(X, source=str(mtx))
    return RawMatrix(X=X.astype(np.float32), barcodes=barcodes, features=features)
