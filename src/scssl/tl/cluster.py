"""Neighbours, Leiden at one or several resolutions, optional KMeans, and UMAP on an embedding."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import anndata as ad
import numpy as np
import pandas as pd

from .._errors import InputError
from .._log import step

#: up to this many cells the neighbour search is exact (sklearn: no numba compile time)
EXACT_NEIGHBORS_MAX = 50_000


def leiden_key(resolution: float) -> str:
    """obs column of a Leiden resolution: ``leiden_1.0``, ``leiden_0.5`` ..."""
    return f"leiden_{float(resolution)}"


def resolve_rep(adata: ad.AnnData, use_rep: str | None) -> str:
    """``use_rep``, or the first ``X_scssl_*`` embedding, else ``X_pca`` (InputError if none)."""
    if use_rep and use_rep != "auto":
        if use_rep not in adata.obsm:
            have = ", ".join(map(str, adata.obsm)) or "none"
            raise InputError(f"--use-rep {use_rep!r}: no such obsm key (obsm keys: {have}).")
        return use_rep
    for key in sorted(adata.obsm):
        if key.startswith("X_scssl_"):
            return key
    if "X_pca" in adata.obsm:
        return "X_pca"
    raise InputError(
        "no embedding to cluster on: expected obsm['X_scssl_<family>'] (scssl embed) or "
        "obsm['X_pca'] (scssl preprocess); name one with --use-rep."
    )


@contextmanager
def _keep_torch_threads() -> Iterator[None]:
    """Restore torch's intra-op thread count after numba code (scanpy's neighbour graph
    starts numba's OpenMP pool, which resets the shared OpenMP thread count to all cores:
    a later torch step in the same process, e.g. ``finetune`` in ``scssl run``, would
    otherwise ignore ``--threads``)."""
    torch = sys.modules.get("torch")
    n = torch.get_num_threads() if torch is not None else None
    try:
        yield
    finally:
        if torch is not None and torch.get_num_threads() != n:
            torch.set_num_threads(n)


def _kmeans(X: np.ndarray, n_clusters: int, seed: int) -> np.ndarray:
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=n_clusters, n_init=10, random_state=seed).fit_predict(X)


def _categorical(codes: np.ndarray) -> pd.Categorical:
    """Cluster codes as a categorical of '0', '1', ... ordered numerically."""
    cats = [str(c) for c in np.unique(codes)]
    return pd.Categorical(np.asarray(codes).astype(str), categories=cats)


def cluster(
    adata: ad.AnnData,
    *,
    use_rep: str | None = "auto",
    resolutions: Sequence[float] = (1.0,),
    n_clusters: int | None = None,
    n_neighbors: int = 15,
    umap: bool = True,
    seed: int = 0,
) -> dict:
    """Neighbour graph of ``obsm[use_rep]``, Leiden per resolution, KMeans, UMAP.

    The graph is exact (sklearn) up to :data:`EXACT_NEIGHBORS_MAX` cells and approximate
    (pynndescent) above. Leiden uses igraph's implementation (2 iterations).

    Returns
    -------
    The ``uns['scssl_cluster']`` record. Writes ``obsp['distances', 'connectivities']`` and
    ``uns['neighbors']`` (scanpy's), ``obs['leiden_<resolution>']`` for each resolution,
    ``obs['kmeans']`` when ``n_clusters`` is given, ``obsm['X_umap']`` when ``umap`` and
    ``uns['scssl_cluster']`` (representation, keys, clusters per key, params, seconds per
    stage).
    """
    import scanpy as sc

    rep = resolve_rep(adata, use_rep)
    if not resolutions and n_clusters is None:
        raise InputError("give at least one --resolution or --n-clusters.")
    if any(r <= 0 for r in resolutions):
        raise InputError(f"--resolution must be > 0, got {list(resolutions)}.")
    if n_clusters is not None and not 2 <= n_clusters <= adata.n_obs:
        raise InputError(f"--n-clusters must be in [2, {adata.n_obs}], got {n_clusters}.")
    if adata.n_obs <= n_neighbors:
        raise InputError(f"{adata.n_obs} cells: need more than --n-neighbors {n_neighbors}.")
    keys: list[str] = []
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[name] = round(now - clock, 3)
        clock = now

    with step(f"cluster on {rep}") as added, _keep_torch_threads():
        exact = adata.n_obs <= EXACT_NEIGHBORS_MAX
        sc.pp.neighbors(
            adata,
            n_neighbors=n_neighbors,
            use_rep=rep,
            random_state=seed,
            transformer="sklearn" if exact else None,
        )
        lap("neighbors")
        for res in dict.fromkeys(float(r) for r in resolutions):
            key = leiden_key(res)
            sc.tl.leiden(
                adata,
                resolution=res,
                key_added=key,
                flavor="igraph",
                n_iterations=2,
                directed=False,
                random_state=seed,
            )
            adata.obs[key] = _categorical(adata.obs[key].astype(int).to_numpy())
            keys.append(key)
            lap(key)
        if n_clusters is not None:
            codes = _kmeans(np.asarray(adata.obsm[rep], dtype=np.float64), n_clusters, seed)
            adata.obs["kmeans"] = _categorical(codes)
            keys.append("kmeans")
            lap("kmeans")
        if umap:
            sc.tl.umap(adata, random_state=seed)
            added.append("obsm['X_umap']")
            lap("umap")
        record = {
            "use_rep": rep,
            "key": keys[0],
            "keys": keys,
            "n_clusters": {k: int(adata.obs[k].nunique()) for k in keys},
            "params": {
                "resolutions": [float(r) for r in resolutions],
                "n_clusters": n_clusters,
                "n_neighbors": n_neighbors,
                "neighbors": "exact" if exact else "pynndescent",
                "umap": umap,
                "seed": seed,
            },
            "seconds": seconds,
        }
        adata.uns["scssl_cluster"] = record
        added += [f"obs['{k}']" for k in keys] + ["obsp['connectivities']"]
    return record
