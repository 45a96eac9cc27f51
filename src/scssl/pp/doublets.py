"""Doublet scores and calls per sample with Scrublet (through scanpy)."""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np

from .._log import logger, step

# 10x Chromium user guides: about 0.8% multiplets per 1,000 recovered cells.
RATE_PER_1000_CELLS = 0.008


def expected_doublet_rate(n_cells: int) -> float:
    """10x multiplet rate for ``n_cells`` recovered cells, kept within [0.01, 0.25]."""
    return float(np.clip(RATE_PER_1000_CELLS * n_cells / 1000.0, 0.01, 0.25))


def detect_doublets(
    adata: ad.AnnData,
    *,
    layer: str = "counts",
    expected_rate: float | None = None,
    sim_ratio: float = 2.0,
    n_pcs: int = 30,
    threshold: float | None = None,
    seed: int = 0,
) -> dict:
    """Score doublets with Scrublet on raw counts and call them.

    Uses exact neighbours (fast for per-sample sizes, no numba index build). When Scrublet
    cannot place an automatic threshold (no bimodal score histogram), no cell is called.

    Returns
    -------
    A summary dict; writes ``obs['qc_doublet_score']`` and ``obs['qc_doublet']``.
    """
    with step("detect_doublets") as added:
        rate = expected_rate if expected_rate is not None else expected_doublet_rate(adata.n_obs)
        tmp = ad.AnnData(X=adata.layers[layer].copy() if layer else adata.X.copy())
        n_pcs = int(min(n_pcs, tmp.n_obs - 1, tmp.n_vars - 1))
        import scanpy as sc

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sc.pp.scrublet(
                tmp,
                expected_doublet_rate=rate,
                sim_doublet_ratio=sim_ratio,
                n_prin_comps=n_pcs,
                use_approx_neighbors=False,
                threshold=threshold,
                random_state=seed,
                verbose=False,
            )
        scores = tmp.obs["doublet_score"].to_numpy(dtype=float)
        called = tmp.obs["predicted_doublet"].to_numpy()
        auto_ok = not (called.dtype == object and any(c is None for c in called))
        called = np.asarray([bool(c) if c is not None else False for c in called])
        thr = tmp.uns.get("scrublet", {}).get("threshold")
        if not auto_ok:
            logger.warning("Scrublet found no doublet-score threshold; no doublets called.")
        adata.obs["qc_doublet_score"] = scores
        adata.obs["qc_doublet"] = called
        added += ["obs['qc_doublet_score']", "obs['qc_doublet']"]
    return {
        "method": "scrublet",
        "expected_rate": rate,
        "threshold": None if thr is None else float(thr),
        "threshold_found": bool(auto_ok),
        "n_doublets": int(called.sum()),
        "doublet_rate": float(called.mean()) if len(called) else 0.0,
    }
