"""Cells for training: CSR matrices sliced one minibatch at a time, optionally GPU-resident."""

from __future__ import annotations

import numpy as np
import torch
from scipy import sparse

# keys of the tensor dict every module reads (module code never sees AnnData)
X = "x"  # log-normalized expression of the model genes, float32 (cells x genes)
COUNTS = "counts"  # raw counts of the model genes, float32
LIBRARY = "library"  # total raw counts of the cell over all genes, float32 (cells,)
BATCH = "batch"  # batch code, int64 (cells,)
PROTEIN = "protein"  # protein CLR values, float32 (cells x proteins), when present


#: rows densified at a time on the host when a matrix is made resident (~64 MB at 2,000 genes)
RESIDENT_CHUNK_ROWS = 8192


def dense_on_device(
    M: sparse.csr_matrix, device: torch.device, chunk_rows: int = RESIDENT_CHUNK_ROWS
) -> torch.Tensor:
    """``M`` as a dense float32 tensor on ``device``, filled one row block at a time.

    The host never holds more than ``chunk_rows`` dense rows (1M cells x 2,000 genes would
    otherwise need a transient 8 GB host array per matrix on the way to the GPU).
    """
    out = torch.empty(M.shape, dtype=torch.float32, device=device)
    for start in range(0, M.shape[0], chunk_rows):
        block = M[start : start + chunk_rows].toarray().astype(np.float32, copy=False)
        out[start : start + len(block)] = torch.from_numpy(block).to(device)
    return out


def _moments(blocks, n_genes: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-gene mean and mean square over the rows of CSR ``blocks`` (float64)."""
    total, sq, n = np.zeros(n_genes), np.zeros(n_genes), 0
    for M in blocks:
        M = M.astype(np.float64)  # float32 sums over many cells would drift
        total += np.asarray(M.sum(axis=0)).ravel()
        sq += np.asarray(M.multiply(M).sum(axis=0)).ravel()
        n += M.shape[0]
    return total / max(n, 1), sq / max(n, 1)


class CellData:
    """Per-cell arrays for one dataset, sliced by :meth:`batch` into a dict of tensors.

    ``expr`` (log-normalized) and ``counts`` stay sparse (CSR) on the CPU and only the
    requested rows are densified; with ``resident=True`` they are densified once onto
    ``device`` (fast GPU training when the HVG matrix fits in device memory).
    """

    def __init__(
        self,
        expr: sparse.csr_matrix,
        counts: sparse.csr_matrix,
        library: np.ndarray,
        batch: np.ndarray,
        protein: np.ndarray | None = None,
        *,
        device: str | torch.device = "cpu",
        resident: bool = False,
    ) -> None:
        self.X = sparse.csr_matrix(expr, dtype=np.float32)
        self.counts = sparse.csr_matrix(counts, dtype=np.float32)
        self.library = torch.as_tensor(np.asarray(library, dtype=np.float32))
        self.batch_codes = torch.as_tensor(np.asarray(batch, dtype=np.int64))
        self.protein = (
            None if protein is None else torch.as_tensor(np.asarray(protein, dtype=np.float32))
        )
        self.device = torch.device(device)
        self.resident = resident
        self._dense: dict[str, torch.Tensor] = {}
        if resident:
            self._dense = {
                X: dense_on_device(self.X, self.device),
                COUNTS: dense_on_device(self.counts, self.device),
            }
            self.library = self.library.to(self.device)
            self.batch_codes = self.batch_codes.to(self.device)
            if self.protein is not None:
                self.protein = self.protein.to(self.device)

    def moved(self, device: str | torch.device, *, resident: bool = False) -> CellData:
        """The same cells for another device (the CSR arrays are shared, not copied)."""
        return CellData(
            self.X,
            self.counts,
            self.library.cpu().numpy(),
            self.batch_codes.cpu().numpy(),
            None if self.protein is None else self.protein.cpu().numpy(),
            device=device,
            resident=resident,
        )

    def gene_moments(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-gene mean and mean square of ``X`` over every cell (float64)."""
        return _moments([self.X], self.n_genes)

    def shuffled(self, idx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """An epoch's order of the cells ``idx`` (a seeded permutation)."""
        return rng.permutation(idx)

    @property
    def n_cells(self) -> int:
        return self.X.shape[0]

    @property
    def n_genes(self) -> int:
        return self.X.shape[1]

    def batch(self, idx: np.ndarray, keys: frozenset[str] | None = None) -> dict[str, torch.Tensor]:
        """The tensors of cells ``idx`` (one indexing call per matrix), on ``self.device``.

        ``keys`` limits the matrices densified to those a module reads (default: all).
        """
        want = [k for k in (X, COUNTS) if keys is None or k in keys]
        if self.resident:
            t = torch.as_tensor(idx, device=self.device)
            out = {k: self._dense[k][t] for k in want}
        else:
            order = np.argsort(idx, kind="stable")
            srt = idx[order]
            inv = np.empty_like(order)
            inv[order] = np.arange(len(order))
            mats = {X: self.X, COUNTS: self.counts}
            out = {k: torch.as_tensor(mats[k][srt].toarray()[inv]) for k in want}
            t = torch.as_tensor(idx)
        return self._with_cell_vectors(out, t)

    def _with_cell_vectors(
        self, out: dict[str, torch.Tensor], t: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """``out`` plus the library, batch and protein rows of cells ``t``, on the device."""
        out[LIBRARY] = self.library[t]
        out[BATCH] = self.batch_codes[t]
        if self.protein is not None:
            out[PROTEIN] = self.protein[t]
        return {k: v.to(self.device, non_blocking=True) for k, v in out.items()}
