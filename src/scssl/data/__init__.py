"""Data access for training: a data spec, an indexable cell dataset and a batch sampler."""

from .dataset import BATCH, COUNTS, LIBRARY, PROTEIN, CellData, X
from .prepare import align_genes, build_cell_data, data_hash, spec_from_anndata
from .spec import DataSpec

__all__ = [
    "BATCH",
    "COUNTS",
    "LIBRARY",
    "PROTEIN",
    "CellData",
    "DataSpec",
    "X",
    "align_genes",
    "build_cell_data",
    "data_hash",
    "spec_from_anndata",
]
