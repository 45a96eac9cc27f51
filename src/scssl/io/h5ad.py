"""Atomic .h5ad writing and memory-lean reading of scssl files."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import h5py
from anndata.io import read_elem

from .._atomic import atomic_path
from .._errors import InputError


def write_h5ad(
    adata: ad.AnnData, path: str | Path, *, compression: str | None = "gzip", level: int = 1
) -> Path:
    """Write ``adata`` to ``path`` atomically (temporary name, then rename).

    gzip level 1 by default: readable by every HDF5 reader (R, Julia), several times faster
    than the default level 4 on large matrices, for files only slightly larger.

    When ``X`` is the very object stored in ``layers['counts']`` it is written once, as the
    layer, and marked so :func:`read_h5ad` restores ``X`` without a second copy in memory.
    """
    shared = adata.X is not None and adata.layers.get("counts") is adata.X
    out = adata
    if shared:
        out = ad.AnnData(
            obs=adata.obs,
            var=adata.var,
            uns=dict(adata.uns),
            obsm=adata.obsm,
            varm=adata.varm,
            obsp=adata.obsp,
            varp=adata.varp,
            layers=adata.layers,
        )
        out.uns.setdefault("scssl", {})
        out.uns["scssl"] = {**out.uns["scssl"], "X_layer": "counts"}
    elif "scssl" in adata.uns:
        adata.uns["scssl"] = {k: v for k, v in adata.uns["scssl"].items() if k != "X_layer"}
    with atomic_path(path) as tmp:
        out.write_h5ad(
            tmp,
            compression=compression,
            compression_opts=level if compression == "gzip" else None,
        )
    return Path(path)


def read_h5ad(path: str | Path) -> ad.AnnData:
    """Read an scssl .h5ad; ``X`` marked as a copy of a layer is re-linked, not duplicated."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a folder; expected an .h5ad file.")
    if not path.is_file():
        raise InputError(f"{path}: no such file.")
    try:
        with h5py.File(path, "r") as f:
            elems = {k: read_elem(f[k]) for k in f if k != "X"}
            x_layer = elems.get("uns", {}).get("scssl", {}).get("X_layer")
            X = read_elem(f["X"]) if "X" in f and x_layer is None else None
    except (OSError, KeyError) as err:
        raise InputError(f"{path}: not a readable .h5ad file ({err}).") from None
    raw = elems.pop("raw", None)
    adata = ad.AnnData(X=X, **{k: v for k, v in elems.items() if k in _SLOTS})
    if raw is not None:
        adata.raw = ad.AnnData(X=raw.get("X"), var=raw.get("var"))
    if x_layer is not None:
        adata.X = adata.layers[x_layer]
    return adata


_SLOTS = ("obs", "var", "uns", "obsm", "varm", "obsp", "varp", "layers")
