"""The reader-neutral result of every input format, before it becomes an AnnData."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse


@dataclass
class RawMatrix:
    """Cells x features counts with the feature table (gene_ids, gene_symbols, feature_types)."""

    X: sparse.csr_matrix
    barcodes: np.ndarray
    features: pd.DataFrame
