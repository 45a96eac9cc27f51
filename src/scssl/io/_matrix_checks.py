"""Checks every counts matrix passes before it becomes an AnnData."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse

from .._errors import InputError


def check_counts(X: sparse.csr_matrix, *, source: str, what: str = "counts") -> None:
    """Raise :class:`InputError` unless ``X`` holds finite, non-negative whole numbers."""
    data = X.data
    if data.size == 0:
        return
    finite = np.isfinite(data)
    if not finite.all():
        row = int(np.searchsorted(X.indptr, np.flatnonzero(~finite)[0], side="right") - 1)
        raise InputError(
            f"{source}: {int((~finite).sum())} NaN/Inf value(s) in the {what} (first in cell "
            f"#{row + 1}); counts must be finite whole numbers."
        )
    if (data < 0).any():
        raise InputError(f"{source}: negative values in the {what}; counts must be >= 0.")
    frac = data != np.round(data)
    if frac.any():
        raise InputError(
            f"{source}: {int(frac.sum())} non-integer value(s) in the {what} (e.g. "
            f"{data[frac][0]:g}); give raw UMI counts, not normalized values."
        )


def check_shape(n_cells: int, n_features: int, *, source: str) -> None:
    """Refuse matrices without cells or without features."""
    if n_cells == 0:
        raise InputError(f"{source}: the matrix has zero cells (barcodes); nothing to analyse.")
    if n_features == 0:
        raise InputError(f"{source}: the matrix has zero genes (features); nothing to analyse.")


def check_unique_barcodes(barcodes: pd.Index, *, source: str) -> None:
    """Refuse duplicated barcodes within one sample."""
    dup = barcodes[barcodes.duplicated()]
    if len(dup):
        raise InputError(
            f"{source}: {len(dup)} duplicated barcode(s) within one sample (e.g. {dup[0]!r}); "
            "each barcode must appear once."
        )
