"""Label columns: which values mean 'no label', and reading a column as strings."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd

from .._errors import InputError

UNKNOWN = "Unknown"  # the call below the confidence threshold
UNLABELLED = frozenset({"", "?", "nan", "NaN", "NA", "None", "unknown", "Unknown", "unassigned"})


def label_column(adata: ad.AnnData, key: str, *, what: str = "--label-key") -> pd.Series:
    """``obs[key]`` as strings; InputError naming the key and the columns there are."""
    if key not in adata.obs:
        cols = ", ".join(map(str, adata.obs.columns)) or "none"
        raise InputError(f"{what} {key!r}: no such obs column (obs columns: {cols}).")
    return adata.obs[key].astype(object).where(adata.obs[key].notna(), "").astype(str)


def labelled_mask(labels: pd.Series | np.ndarray) -> np.ndarray:
    """True where a label is a real class (not empty, '?', 'nan', 'Unknown', ...)."""
    values = np.asarray(labels, dtype=str)
    return ~np.isin(np.char.strip(values), list(UNLABELLED))
