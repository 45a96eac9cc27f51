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


#: Scrublet's mean-centred PCA densifies observed + simulated cells: above this many cells a
#: sample is scored in random chunks of at most this size (memory bounded, time linear)
MAX_CELLS_PER_RUN = 25_000


def _scrublet(counts, *, rate: float, sim_ratio: float, n_pcs: int, threshold, seed: int):
    """Scores, calls (None where no threshold was found) and threshold of one Scrublet run."""
    import scanpy as sc

    tmp = ad.AnnData(X=counts)
    n_pcs = int(min(n_pcs, tmp.n_obs - 1, tmp.n_vars - 1))
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
    thr = tmp.uns.get("scrublet", {}).get("threshold")
    return (
        tmp.obs["doublet_score"].to_numpy(dtype=float),
        tmp.obs["predicted_doublet"].to_numpy(),
        None if thr is None else float(thr),
    )


def detect_doublets(
    adata: ad.AnnData,
    *,
    layer: str = "counts",
    expected_rate: float | None = None,
    sim_ratio: float = 2.0,
    n_pcs: int = 30,
    threshold: float | None = None,
    seed: int = 0,
    max_cells: int | None = None,
) -> dict:
    """Score doublets with Scrublet on raw counts and call them.

    Uses exact neighbours (fast for per-sample sizes, no numba index build). A sample of more
    than ``max_cells`` cells is split into seeded random chunks of about equal size, each
    scored on its own (doublets are simulated from the chunk's cells, which sample the same
    populations). When Scrublet cannot place an automatic threshold (no bimodal score
    histogram), no cell of that run is called.

    Returns
    -------
    A summary dict; writes ``obs['qc_doublet_score']`` and ``obs['qc_doublet']``.
    """
    with step("detect_doublets") as added:
        rate = expected_rate if expected_rate is not None else expected_doublet_rate(adata.n_obs)
        counts = adata.layers[layer] if layer else adata.X
        n = adata.n_obs
        max_cells = max_cells or MAX_CELLS_PER_RUN
        n_chunks = max(1, -(-n // max_cells))
        order = np.random.default_rng(seed).permutation(n) if n_chunks > 1 else np.arange(n)
        scores = np.empty(n, dtype=float)
        called = np.zeros(n, dtype=bool)
        thresholds: list[float | None] = []
        for i, rows in enumerate(np.array_split(order, n_chunks)):
            rows = np.sort(rows)
            sc_, calls, thr = _scrublet(
                counts[rows].copy(),
                rate=rate,
                sim_ratio=sim_ratio,
                n_pcs=n_pcs,
                threshold=threshold,
                seed=seed + i,
            )
            scores[rows] = sc_
            called[rows] = [bool(c) if c is not None else False for c in calls]
            thresholds.append(None if any(c is None for c in calls) else thr)
            if thresholds[-1] is None:
                where = f" in chunk {i + 1} of {n_chunks}" if n_chunks > 1 else ""
                logger.warning(
                    "Scrublet found no doublet-score threshold%s; no doublets called among "
                    "those %d cells.",
                    where,
                    len(rows),
                )
        auto_ok = all(t is not None for t in thresholds)
        adata.obs["qc_doublet_score"] = scores
        adata.obs["qc_doublet"] = called
        added += ["obs['qc_doublet_score']", "obs['qc_doublet']"]
        if n_chunks > 1:
            added.append(f"{n_chunks} chunks of <= {max_cells} cells")
    return {
        "method": "scrublet",
        "expected_rate": rate,
        "threshold": thresholds[0] if n_chunks == 1 else None,
        "thresholds": thresholds,
        "threshold_found": bool(auto_ok),
        "n_chunks": n_chunks,
        "n_doublets": int(called.sum()),
        "doublet_rate": float(called.mean()) if len(called) else 0.0,
    }
