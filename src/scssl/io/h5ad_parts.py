"""Memory-lean .h5ad access for the steps after ``preprocess``.

Those steps add annotations (an embedding, clusters, labels) to a file whose matrices they
barely need. :func:`read_h5ad_parts` reads only what a step uses: no ``X`` or layers, or the
matrices without ``layers``, or ``X`` and the layers restricted to some genes (read in row
blocks, so the whole matrix is never in memory). :func:`update_h5ad` writes the step's output
as a byte copy of its input with ``obs``, ``obsm``, ``obsp`` and ``uns`` replaced: ``X`` and
the raw counts travel unchanged, and peak memory no longer grows with the matrices' size.
"""

from __future__ import annotations

import shutil
from collections.abc import Collection
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pandas as pd
from anndata.io import read_elem, write_elem
from scipy import sparse

from .._atomic import atomic_path
from .._errors import InputError
from .._keys import COUNTS_LAYER

LIBRARY_COL = "_scssl_library"
"""obs column a gene-subset read adds: the cell's raw counts summed over *all* genes."""
UPDATED = ("obs", "obsm", "obsp", "uns")
"""The elements :func:`update_h5ad` rewrites; everything else is copied byte for byte."""
BLOCK_NNZ = 32 * 2**20  # stored values read at a time (~256 MiB of CSR)


def csr_rows(g: h5py.Group, a: int, b: int, n_cols: int) -> sparse.csr_matrix:
    """Rows ``a:b`` of the CSR matrix stored in ``g`` (one indptr, data, indices slice)."""
    ip = g["indptr"][a : b + 1].astype(np.int64)
    p0, p1 = int(ip[0]), int(ip[-1])
    return sparse.csr_matrix(
        (g["data"][p0:p1], g["indices"][p0:p1], ip - p0), shape=(b - a, n_cols)
    )


def _encoding(node: h5py.Group | h5py.Dataset) -> str:
    enc = node.attrs.get("encoding-type", "array")
    return enc.decode() if isinstance(enc, bytes) else str(enc)


def _read_columns(
    node: h5py.Group | h5py.Dataset, cols: np.ndarray, shape: tuple[int, int]
) -> tuple[sparse.csr_matrix, np.ndarray]:
    """``M[:, cols]`` as CSR and the row sums of the whole ``M``, one row block at a time."""
    n_obs, n_vars = shape
    if _encoding(node) != "csr_matrix":  # dense or CSC: no row blocks to read
        M = sparse.csr_matrix(read_elem(node))
        return sparse.csr_matrix(M[:, cols]), np.asarray(M.sum(axis=1)).ravel()
    per_row = max(1.0, node["data"].shape[0] / max(1, n_obs))
    step = int(min(max(n_obs, 1), max(1024, BLOCK_NNZ / per_row)))
    parts, sums = [], np.zeros(n_obs, np.float64)
    for a in range(0, n_obs, step):
        M = csr_rows(node, a, min(a + step, n_obs), n_vars)
        sums[a : a + M.shape[0]] = np.asarray(M.sum(axis=1)).ravel()
        parts.append(M[:, cols])
    if not parts:
        return sparse.csr_matrix((0, len(cols)), dtype=np.float32), sums
    return sparse.vstack(parts, format="csr"), sums


def _gene_columns(var: pd.DataFrame, genes: Collection[str]) -> np.ndarray:
    """Positions (file order) of the genes named by var_name or ``gene_ids``."""
    want = pd.Index([str(g) for g in genes])
    hit = pd.Index(var.index.astype(str)).isin(want)
    if "gene_ids" in var:
        hit |= pd.Index(var["gene_ids"].astype(str)).isin(want)
    return np.flatnonzero(hit)


def read_h5ad_parts(
    path: str | Path,
    *,
    x: bool = True,
    layers: bool = True,
    genes: Collection[str] | None = None,
) -> ad.AnnData:
    """Read an scssl .h5ad without the parts a step does not use.

    ``x`` / ``layers``: read ``X`` / the layers (False: the AnnData has none). ``genes``:
    keep only these genes (matched on var_names or ``var['gene_ids']``) in ``var``, ``X``
    and the layers, read in row blocks; ``obs['_scssl_library']`` then holds each cell's
    raw counts over all genes (``layers['counts']`` row sums), which the model inputs use as
    library size. Write results with :func:`update_h5ad`, never with the subset AnnData.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file.")
    try:
        with h5py.File(path, "r") as f:
            parts = {k: read_elem(f[k]) for k in ("obs", "var", "uns", "obsm", "obsp") if k in f}
            shape = (len(parts["obs"]), len(parts["var"]))
            x_layer = parts.get("uns", {}).get("scssl", {}).get("X_layer")
            cols = None if genes is None else _gene_columns(parts["var"], genes)
            mats: dict[str, object] = {}
            library = None
            names = list(f["layers"]) if layers and "layers" in f else []
            if x and x_layer is not None and x_layer not in names:
                names.append(x_layer)
            if x and x_layer is None and "X" in f:
                names.append("X")
            for name in names:
                node = f["X"] if name == "X" else f["layers"][name]
                if cols is None:
                    mats[name] = read_elem(node)
                    continue
                mats[name], sums = _read_columns(node, cols, shape)
                if name == COUNTS_LAYER:
                    library = sums
    except (OSError, KeyError) as err:
        raise InputError(f"{path}: not a readable .h5ad file ({err}).") from None
    var = parts["var"] if cols is None else parts["var"].iloc[cols]
    X = mats.pop("X", None)
    if x and x_layer is not None:
        X = mats[x_layer]
    adata = ad.AnnData(
        X=X,
        obs=parts["obs"],
        var=var,
        uns=parts.get("uns", {}),
        obsm=parts.get("obsm", {}),
        obsp=parts.get("obsp", {}),
        layers={k: v for k, v in mats.items() if layers},
    )
    if library is not None:
        adata.obs[LIBRARY_COL] = library
    return adata


def update_h5ad(src: str | Path, dst: str | Path, adata: ad.AnnData, *, level: int = 1) -> Path:
    """Write ``dst`` as ``src`` with ``adata``'s obs, obsm, obsp and uns (atomically).

    ``adata`` must hold ``src``'s cells in ``src``'s order (read with
    :func:`read_h5ad_parts`); ``X``, layers, var and varm are copied from ``src`` unchanged.
    """
    src, dst = Path(src), Path(dst)
    obs = adata.obs.drop(columns=[LIBRARY_COL], errors="ignore")
    with h5py.File(src, "r") as f:
        n_file = int(f["obs"][f["obs"].attrs["_index"]].shape[0])
    if n_file != adata.n_obs:
        raise InputError(f"{src}: {n_file} cells in the file, {adata.n_obs} to write back.")
    kw = {"compression": "gzip", "compression_opts": level}
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)
        with h5py.File(tmp, "r+") as f:
            for key, value in (
                ("obs", obs),
                ("obsm", dict(adata.obsm)),
                ("obsp", dict(adata.obsp)),
                ("uns", dict(adata.uns)),
            ):
                if key in f:
                    del f[key]
                write_elem(f, key, value, dataset_kwargs=kw)
    return dst


def hvg_names(path: str | Path) -> list[str] | None:
    """The genes flagged in ``var['highly_variable']`` of ``path`` (None: no such column)."""
    try:
        with h5py.File(path, "r") as f:
            var = read_elem(f["var"])
    except (OSError, KeyError) as err:
        raise InputError(f"{path}: not a readable .h5ad file ({err}).") from None
    if "highly_variable" not in var:
        return None
    return var.index[var["highly_variable"].to_numpy(bool)].astype(str).tolist()


def checkpoint_genes(folder: str | Path) -> list[str] | None:
    """Gene names and ids a checkpoint's model reads (None: unreadable config; the loader
    that follows explains why)."""
    from ..train.checkpoint import read_checkpoint_config

    spec = read_checkpoint_config(folder).get("spec")
    if not isinstance(spec, dict) or not isinstance(spec.get("genes"), list):
        return None
    return [*map(str, spec["genes"]), *map(str, spec.get("gene_ids") or [])]
