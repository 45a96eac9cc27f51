"""Out-of-core training data: the HVG columns of an .h5ad read from disk one row block at a time.

``scssl pretrain --backed`` never loads ``X`` or ``layers['counts']`` whole: the file's
obs/var/uns/obsm are read (:func:`read_shell`), and :class:`BackedCellData` reads contiguous
blocks of CSR rows (``indptr`` slice, then ``data``/``indices`` slices) with h5py, keeps the
model genes of each block, and holds at most two blocks in memory. An epoch visits the blocks
in a seeded random order and the cells of each block in a seeded random order
(:meth:`BackedCellData.shuffled`), so minibatches hit one block at a time. Peak memory is
about two blocks of model genes plus the per-cell vectors, whatever the file's size; every
epoch reads the file once for training and once for the validation cells.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import anndata as ad
import h5py
import numpy as np
import torch
from scipy import sparse

from .._errors import InputError
from .._keys import COUNTS_LAYER
from ..io.h5ad_parts import BLOCK_NNZ, csr_rows
from .dataset import COUNTS, CellData, X, _moments
from .prepare import _columns, align_genes, cell_vectors
from .spec import DataSpec

COUNTS_LAYER_KEY = f"layers/{COUNTS_LAYER}"


def read_shell(path: str | Path) -> ad.AnnData:
    """``obs``, ``var``, ``uns`` and ``obsm`` of an .h5ad, without ``X`` or layers."""
    from anndata.io import read_elem

    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            parts = {k: read_elem(f[k]) for k in ("obs", "var", "uns", "obsm") if k in f}
            layers = set(f["layers"].keys()) if "layers" in f else set()
    except OSError as err:
        raise InputError(f"{path}: not a readable .h5ad ({err}).") from None
    shell = ad.AnnData(obs=parts["obs"], var=parts["var"], uns=parts.get("uns", {}))
    for k, v in parts.get("obsm", {}).items():
        shell.obsm[k] = v
    shell.uns["_backed_layers"] = sorted(layers)
    return shell


def _group(f: h5py.File, key: str, path: Path) -> h5py.Group | h5py.Dataset:
    if key not in f:
        raise InputError(f"{path}: no {key}; give the output of `scssl preprocess`.")
    g = f[key]
    enc = g.attrs.get("encoding-type", "array")
    if isinstance(enc, bytes):
        enc = enc.decode()
    if enc not in ("csr_matrix", "array"):
        raise InputError(
            f"{path}: {key} is stored as {enc}; --backed reads row blocks of CSR or dense "
            "matrices. Rewrite it as CSR (adata.X = adata.X.tocsr()) or drop --backed."
        )
    return g


class BackedCellData(CellData):
    """:class:`CellData` whose expression and counts stay in the .h5ad at ``path``."""

    def __init__(
        self,
        path: str | Path,
        shell: ad.AnnData,
        spec: DataSpec,
        *,
        device: str | torch.device = "cpu",
        block_rows: int | None = None,
    ) -> None:
        self.path = Path(path)
        if "log1p" not in shell.uns:
            raise InputError(f"{self.path}: X is not log-normalized; run `scssl preprocess`.")
        if COUNTS_LAYER not in shell.uns.get("_backed_layers", ()):
            raise InputError(f"{self.path}: no layers['counts']; run `scssl preprocess`.")
        self.pos, _ = align_genes(shell, spec)
        self._n_obs, self._n_vars = shell.n_obs, shell.n_vars
        self.device = torch.device(device)
        self.resident = False
        with h5py.File(self.path, "r") as f:
            g = _group(f, "X", self.path)
            nnz = g["data"].shape[0] if isinstance(g, h5py.Group) else self._n_obs * self._n_vars
        per_row = max(1.0, nnz / max(1, self._n_obs))
        self.block_rows = int(block_rows or min(self._n_obs, max(1024, BLOCK_NNZ / per_row)))
        self._cache: OrderedDict[tuple[int, str], sparse.csr_matrix] = OrderedDict()
        self._f: h5py.File | None = None
        library = np.zeros(self._n_obs, np.float64)
        for a, M in self._row_blocks(COUNTS_LAYER_KEY, model_genes=False):
            library[a : a + M.shape[0]] = np.asarray(M.sum(axis=1)).ravel()
        batch, protein = cell_vectors(shell, spec)
        self.library = torch.as_tensor(library.astype(np.float32))
        self.batch_codes = torch.as_tensor(batch)
        self.protein = None if protein is None else torch.as_tensor(protein)
        self._dense: dict[str, torch.Tensor] = {}

    # --- reading ----------------------------------------------------------------------
    def _file(self) -> h5py.File:
        if self._f is None:
            self._f = h5py.File(self.path, "r")
        return self._f

    def _read(self, key: str, a: int, b: int, model_genes: bool = True) -> sparse.csr_matrix:
        g = self._file()[key]
        if isinstance(g, h5py.Dataset):  # dense
            M = sparse.csr_matrix(g[a:b])
        else:
            M = csr_rows(g, a, b, self._n_vars)
        if model_genes:
            M = sparse.csr_matrix(_columns(M, self.pos), dtype=np.float32)
        return M

    def _row_blocks(self, key: str, model_genes: bool = True):
        for a in range(0, self._n_obs, self.block_rows):
            yield a, self._read(key, a, min(a + self.block_rows, self._n_obs), model_genes)

    def _block(self, b: int, k: str) -> sparse.csr_matrix:
        hit = self._cache.get((b, k))
        if hit is not None:
            self._cache.move_to_end((b, k))
            return hit
        a = b * self.block_rows
        key = "X" if k == X else COUNTS_LAYER_KEY
        M = self._read(key, a, min(a + self.block_rows, self._n_obs))
        self._cache[(b, k)] = M
        while len(self._cache) > 4:  # two blocks of each matrix
            self._cache.popitem(last=False)
        return M

    # --- the CellData interface -------------------------------------------------------
    @property
    def n_cells(self) -> int:
        return self._n_obs

    @property
    def n_genes(self) -> int:
        return len(self.pos)

    def gene_moments(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-gene mean and mean square of ``X`` over every cell: one pass over the file."""
        return _moments((M for _, M in self._row_blocks("X")), self.n_genes)

    def shuffled(self, idx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Blocks in random order, the cells of each block in random order."""
        blk = idx // self.block_rows
        parts = [rng.permutation(idx[blk == b]) for b in rng.permutation(int(blk.max()) + 1)]
        return np.concatenate(parts) if parts else idx

    def batch(self, idx: np.ndarray, keys: frozenset[str] | None = None) -> dict[str, torch.Tensor]:
        idx = np.asarray(idx)
        want = [k for k in (X, COUNTS) if keys is None or k in keys]
        blk = idx // self.block_rows
        out: dict[str, torch.Tensor] = {}
        for k in want:
            dense = np.empty((len(idx), self.n_genes), np.float32)
            for b in np.unique(blk):
                sel = blk == b
                dense[sel] = self._block(int(b), k)[idx[sel] - b * self.block_rows].toarray()
            out[k] = torch.from_numpy(dense)
        return self._with_cell_vectors(out, torch.as_tensor(idx))

    def moved(self, device: str | torch.device, *, resident: bool = False) -> BackedCellData:
        if resident:
            raise InputError("--backed and --resident exclude each other; drop one.")
        new = object.__new__(BackedCellData)
        new.__dict__.update(self.__getstate__())
        new.device = torch.device(device)
        return new

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_f"], state["_cache"] = None, OrderedDict()
        return state

    def content_hash(self, spec: DataSpec) -> str:
        """:func:`scssl.data.prepare.data_hash` of the in-memory data, computed in one pass."""
        h = hashlib.sha256()
        indptr = [np.zeros(1, np.int64)]
        with tempfile.TemporaryFile() as spill:
            for _, M in self._row_blocks("X"):
                h.update(np.ascontiguousarray(M.data, np.float32).tobytes())
                spill.write(np.ascontiguousarray(M.indices, np.int32).tobytes())
                indptr.append(indptr[-1][-1] + np.diff(M.indptr).cumsum())
            ip = np.concatenate(indptr)
            spill.seek(0)
            while chunk := spill.read(2**24):
                h.update(chunk)
        h.update(ip.astype(np.int32 if ip[-1] < 2**31 - 1 else np.int64).tobytes())
        h.update("\n".join(spec.genes).encode())
        return h.hexdigest()
