"""Evaluation: clusters and labels against ground truth, silhouette, and batch mixing."""

from __future__ import annotations

from collections.abc import Sequence

import anndata as ad
import numpy as np

from .._errors import InputError
from .._log import logger, step
from . import _metrics as M
from ._labels import label_column, labelled_mask
from .cluster import resolve_rep

PRED_KEYS = ("scssl_label", "scssl_label_cluster")


def default_cluster_keys(adata: ad.AnnData) -> list[str]:
    """The clusterings of ``scssl cluster`` (``uns['scssl_cluster']['keys']``) or any
    ``leiden_*`` / ``kmeans`` obs column."""
    rec = adata.uns.get("scssl_cluster", {})
    keys = [str(k) for k in rec.get("keys", [])] if isinstance(rec, dict) else []
    keys = [k for k in keys if k in adata.obs]
    return keys or [c for c in adata.obs.columns if c.startswith("leiden_") or c == "kmeans"]


def _graph(adata: ad.AnnData, rep: str, X: np.ndarray, seed: int):
    """The kNN distances of ``scssl cluster`` when built on ``rep``, else a new 15-NN graph.

    Returns the graph and the cell indices it covers (a seeded 20,000-cell sample at most).
    """
    params = adata.uns.get("neighbors", {}).get("params", {})
    if "distances" in adata.obsp and params.get("use_rep") == rep:
        return adata.obsp["distances"], np.arange(adata.n_obs)
    from sklearn.neighbors import NearestNeighbors

    idx = M._subsample(adata.n_obs, 20_000, seed)
    k = min(15, len(idx) - 1)
    G = NearestNeighbors(n_neighbors=k).fit(X[idx]).kneighbors_graph(mode="distance")
    return G, idx


def evaluate(
    adata: ad.AnnData,
    *,
    label_key: str | None = None,
    pred_keys: Sequence[str] | None = None,
    cluster_keys: Sequence[str] | None = None,
    batch_key: str | None = "batch",
    use_rep: str | None = "auto",
    seed: int = 0,
) -> dict:
    """Metrics of a clustered (and optionally annotated) AnnData.

    Always: silhouette of each clustering on ``obsm[use_rep]``; with two or more batches in
    ``obs[batch_key]``: batch ASW (within true labels, else within the first clustering) and
    iLISI. With ``label_key`` (ground truth; unlabelled cells such as '?' are left out): ARI
    and NMI of every clustering and predicted label column, and accuracy, macro-F1, per-class
    F1 and the confusion matrix of every predicted label column.

    Returns
    -------
    A JSON-able dict with ``clusters``, ``batch`` and ``labels`` sections.
    """
    rep = resolve_rep(adata, use_rep)
    X = np.asarray(adata.obsm[rep], dtype=np.float32)
    ckeys = list(cluster_keys) if cluster_keys else default_cluster_keys(adata)
    missing = [k for k in ckeys if k not in adata.obs]
    if missing:
        raise InputError(f"--cluster-key {missing}: no such obs column; run `scssl cluster`.")
    if pred_keys is None:
        pkeys = [k for k in PRED_KEYS if k in adata.obs]
    else:
        pkeys = list(pred_keys)
        bad = [k for k in pkeys if k not in adata.obs]
        if bad:
            raise InputError(f"--pred-key {bad}: no such obs column; run `scssl annotate`.")
    truth = label_column(adata, label_key).to_numpy() if label_key else None
    scored = labelled_mask(truth) if truth is not None else np.zeros(adata.n_obs, bool)
    out: dict = {"n_cells": adata.n_obs, "use_rep": rep, "label_key": label_key}
    with step("evaluate") as added:
        out["clusters"] = {}
        for key in ckeys:
            lab = adata.obs[key].astype(str).to_numpy()
            rec = {"n_clusters": len(np.unique(lab)), "silhouette": M.silhouette(X, lab, seed=seed)}
            if scored.any():
                rec.update(M.agreement(truth[scored], lab[scored]))
            out["clusters"][key] = rec
        out["batch"] = _batch_metrics(adata, X, rep, batch_key, truth, scored, ckeys, seed)
        out["labels"] = {}
        if truth is not None:
            out["n_cells_scored"] = int(scored.sum())
            for key in pkeys:
                pred = adata.obs[key].astype(str).to_numpy()[scored]
                rec = M.classification(truth[scored], pred)
                rec.update(M.agreement(truth[scored], pred))
                if not set(pred) & set(truth[scored]):
                    rec["note"] = (
                        "no predicted label is a true class: accuracy and F1 need the same "
                        "names; ARI/NMI compare the partitions."
                    )
                    logger.warning("evaluate: %s shares no label with %s", key, label_key)
                out["labels"][key] = rec
        added.append(f"{len(ckeys)} clusterings, {len(out['labels'])} label columns")
    return out


def _batch_metrics(adata, X, rep, batch_key, truth, scored, ckeys, seed) -> dict | None:
    if not batch_key or batch_key not in adata.obs:
        return None
    batches = adata.obs[batch_key].astype(str).to_numpy()
    n_b = len(np.unique(batches))
    if n_b < 2:
        return {"key": batch_key, "n_batches": n_b}
    if scored.any():
        groups, grouped_by, cells = truth, "label", scored
    elif ckeys:
        groups, grouped_by = adata.obs[ckeys[0]].astype(str).to_numpy(), ckeys[0]
        cells = np.ones(adata.n_obs, bool)
    else:
        groups, grouped_by, cells = (
            np.zeros(adata.n_obs, int),
            "all cells",
            np.ones(adata.n_obs, bool),
        )
    G, idx = _graph(adata, rep, X, seed)
    return {
        "key": batch_key,
        "n_batches": n_b,
        "batch_asw": M.batch_asw(X[cells], batches[cells], groups[cells], seed=seed),
        "batch_asw_within": grouped_by,
        **M.ilisi(G, batches[idx]),
    }
