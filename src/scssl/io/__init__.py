"""Input and output: Cell Ranger readers, samplesheet, atomic h5ad."""

from .formats import detect_format
from .h5ad import read_h5ad, write_h5ad
from .h5ad_parts import read_h5ad_parts, update_h5ad
from .read import gene_id_space, read_cellranger, read_sample

__all__ = [
    "detect_format",
    "gene_id_space",
    "read_cellranger",
    "read_h5ad",
    "read_h5ad_parts",
    "read_sample",
    "update_h5ad",
    "write_h5ad",
]
