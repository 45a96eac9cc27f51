"""Per-cell QC metrics: genes, counts and % mitochondrial / ribosomal / haemoglobin counts."""

from __future__ import annotations

import re

import anndata as ad
import numpy as np

from .._log import step
from ._sparse import col_nnz, row_lengths, row_sums

# Case-insensitive, so human (MT-, RPS, HBB) and mouse (mt-, Rps, Hbb-b1) symbols both match.
GENE_PATTERNS: dict[str, str] = {
    "mt": r"^MT-",
    "ribo": r"^RP[SL](\d+[A-Z]?\d*|P\d)$",
    "hb": r"^(HB(A\d?|B|D|E\d?|G\d|M|Q\d|Z)|HB[AB]-[A-Z0-9]+|HBQ1[AB])$",
}


def gene_flags(
    symbols: np.ndarray, patterns: dict[str, str] | None = None
) -> dict[str, np.ndarray]:
    """Boolean gene masks for each named pattern (matched case-insensitively on symbols)."""
    patterns = patterns or GENE_PATTERNS
    out = {}
    for name, pat in patterns.items():
        rx = re.compile(pat, re.IGNORECASE)
        out[name] = np.fromiter((bool(rx.search(s)) for s in symbols), bool, len(symbols))
    return out


def qc_metrics(
    adata: ad.AnnData, *, layer: str = "counts", symbol_key: str = "gene_symbols"
) -> None:
    """Add per-cell and per-gene QC metrics computed on raw counts.

    Returns
    -------
    Nothing; writes ``obs``: ``qc_n_genes``, ``qc_total_counts``, ``qc_log1p_n_genes``,
    ``qc_log1p_total_counts``, ``qc_pct_mt``, ``qc_pct_ribo``, ``qc_pct_hb``; ``var``:
    ``qc_mt``, ``qc_ribo``, ``qc_hb`` (gene flags) and ``qc_n_cells``.
    """
    with step("qc_metrics") as added:
        X = adata.layers[layer] if layer else adata.X
        symbols = adata.var.get(symbol_key, adata.var_names)
        flags = gene_flags(np.asarray(symbols, dtype=str))
        total = row_sums(X)
        n_genes = row_lengths(X)
        adata.obs["qc_n_genes"] = n_genes.astype(np.int64)
        adata.obs["qc_total_counts"] = total
        adata.obs["qc_log1p_n_genes"] = np.log1p(n_genes)
        adata.obs["qc_log1p_total_counts"] = np.log1p(total)
        safe = np.where(total > 0, total, 1.0)
        for name, mask in flags.items():
            adata.var[f"qc_{name}"] = mask
            adata.obs[f"qc_pct_{name}"] = 100.0 * row_sums(X, columns=mask) / safe
        adata.var["qc_n_cells"] = col_nnz(X)
        added += ["obs['qc_*']", "var['qc_mt', 'qc_ribo', 'qc_hb', 'qc_n_cells']"]
