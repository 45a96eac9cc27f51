"""Read one sample, whatever Cell Ranger-style format it comes in, into the scssl AnnData layout.

Layout (documented in docs/output.md):

- ``X`` and ``layers['counts']``: raw UMI counts, cells x genes, CSR float32 (one object).
- ``var``: index = gene symbols made unique; columns ``gene_ids``, ``gene_symbols``,
  ``feature_types`` (and ``genome`` when the input has it).
- ``obs``: index ``<sample>_<barcode>``; columns ``barcode``, ``sample`` and the samplesheet
  metadata (``batch``, ``condition``, ``expected_cells``).
- ``obsm['protein_counts']``: Antibody Capture counts as a DataFrame whose columns are the
  antibody names (absent when the input has no protein panel).
- ``uns['scssl']``: provenance (source, format, gene id space, per-sample QC overrides).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
from anndata.utils import make_index_unique

from .._errors import InputError
from .._keys import PROTEIN_KEY
from ._matrix_checks import check_unique_barcodes
from ._read_h5 import read_10x_h5_file
from ._read_h5ad import read_h5ad_input
from ._read_mtx import read_mtx_folder
from .formats import detect_format

GEX = "Gene Expression"
ADT = "Antibody Capture"
_ENSEMBL = re.compile(r"^ENS[A-Z]*G\d{6,}(\.\d+)?$")


def gene_id_space(ids: pd.Series | np.ndarray) -> str:
    """``'ensembl'`` when at least 90% of ids look like Ensembl gene ids, else ``'symbol'``."""
    ids = pd.Series(np.asarray(ids, dtype=str))
    frac = ids.str.match(_ENSEMBL).mean() if len(ids) else 0.0
    return "ensembl" if frac >= 0.9 else "symbol"


def read_cellranger(path: str | Path, *, raw: bool = False) -> ad.AnnData:
    """Read a Cell Ranger output (outs/, matrix folder, .h5) or an .h5ad into AnnData.

    Parameters
    ----------
    path
        Cell Ranger ``outs/`` folder, v3 or v2 matrix folder, 10x ``.h5`` or ``.h5ad``.
    raw
        In an ``outs/`` folder, read ``raw_feature_bc_matrix`` instead of the filtered one.

    Returns
    -------
    AnnData in the scssl layout (see module docstring), without sample prefixing.
    """
    return read_sample(path, sample=None, raw=raw)


def read_sample(
    path: str | Path,
    *,
    sample: str | None,
    raw: bool = False,
    metadata: Mapping[str, Any] | None = None,
    qc_overrides: Mapping[str, float] | None = None,
) -> ad.AnnData:
    """Read one sample; prefix barcodes with ``sample`` and copy ``metadata`` into obs."""
    src = detect_format(path, raw=raw)
    protein = None
    if src.kind == "mtx":
        rm = read_mtx_folder(src.path)
    elif src.kind == "h5_10x":
        rm = read_10x_h5_file(src.path)
    else:
        rm, protein = read_h5ad_input(src.path)
    barcodes = pd.Index(np.asarray(rm.barcodes, dtype=str))
    check_unique_barcodes(barcodes, source=str(src.path))

    ftype = rm.features["feature_types"].astype(str).to_numpy()
    is_gex = ftype == GEX
    is_adt = ftype == ADT
    if not is_gex.any():
        raise InputError(f"{src.path}: no 'Gene Expression' features; scssl needs RNA counts.")
    other = sorted(set(ftype[~(is_gex | is_adt)]))
    X = rm.X[:, np.flatnonzero(is_gex)] if not is_gex.all() else rm.X
    var = rm.features.loc[is_gex].reset_index(drop=True)
    var.index = make_index_unique(pd.Index(var["gene_symbols"].astype(str).to_numpy()))

    obs_names = barcodes if sample is None else f"{sample}_" + barcodes
    obs = pd.DataFrame({"barcode": barcodes.to_numpy()}, index=obs_names)
    if sample is not None:
        obs["sample"] = sample
    for key, value in (metadata or {}).items():
        if value is not None and not (isinstance(value, float) and np.isnan(value)):
            obs[key] = value
    adata = ad.AnnData(X=X.tocsr(), obs=obs, var=var)
    adata.layers["counts"] = adata.X

    if is_adt.any():
        adt = rm.features.loc[is_adt]
        names = pd.Index(adt["gene_symbols"].astype(str).to_numpy())
        if names.has_duplicates:
            raise InputError(
                f"{src.path}: duplicated antibody names {list(names[names.duplicated()])}."
            )
        dense = rm.X[:, np.flatnonzero(is_adt)].toarray()
        protein = pd.DataFrame(dense, index=obs_names, columns=names)
        adata.uns["protein_ids"] = adt["gene_ids"].astype(str).tolist()
    if protein is not None:
        protein.index = adata.obs_names
        protein.columns = protein.columns.astype(str)
        adata.obsm[PROTEIN_KEY] = protein.astype(np.float32)

    adata.uns["scssl"] = {
        "source": str(Path(path).resolve()),
        "format": src.kind,
        "matrix": str(src.path.resolve()),
        "gene_id_space": gene_id_space(var["gene_ids"]),
        "other_feature_types_dropped": other,
        "qc_overrides": {k: float(v) for k, v in (qc_overrides or {}).items()},
        "X_layer": "counts",
    }
    return adata
