"""Preprocessing: QC, doublets, merge, normalization, highly variable genes, PCA."""

from .doublets import detect_doublets, expected_doublet_rate
from .hvg import highly_variable_genes, subset_hvg
from .merge import merge_samples
from .normalize import normalize_log1p, pearson_residuals, protein_clr
from .pca import pca
from .preprocess import PreprocessParams, preprocess
from .programmes import coexpression_programmes
from .qc import QCParams, QCResult, run_qc
from .qc_filter import QCThresholds
from .qc_metrics import qc_metrics
from .qc_report import write_qc_outputs

__all__ = [
    "PreprocessParams",
    "QCParams",
    "QCResult",
    "QCThresholds",
    "coexpression_programmes",
    "detect_doublets",
    "expected_doublet_rate",
    "highly_variable_genes",
    "merge_samples",
    "normalize_log1p",
    "pca",
    "pearson_residuals",
    "preprocess",
    "protein_clr",
    "qc_metrics",
    "run_qc",
    "subset_hvg",
    "write_qc_outputs",
]
