"""Chunked helpers on CSR matrices that never densify or copy the whole matrix."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from scipy import sparse

CHUNK_NNZ = 8_000_000


def row_chunks(X: sparse.csr_matrix, nnz_per_chunk: int = CHUNK_NNZ) -> Iterator[tuple[int, int]]:
    """Yield ``(start, stop)`` row ranges holding about ``nnz_per_chunk`` stored values each."""
    n = X.shape[0]
    start = 0
    while start < n:
        target = X.indptr[start] + nnz_per_chunk
        stop = int(np.searchsorted(X.indptr, target, side="right")) - 1
        stop = min(max(stop, start + 1), n)
        yield start, stop
        start = stop


def row_sums(X: sparse.csr_matrix, *, columns: np.ndarray | None = None) -> np.ndarray:
    """Per-row sums in float64, over all columns or over the boolean mask ``columns``."""
    out = np.zeros(X.shape[0])
    for a, b in row_chunks(X):
        lo, hi = X.indptr[a], X.indptr[b]
        rows = np.repeat(np.arange(a, b), np.diff(X.indptr[a : b + 1])) - a
        vals = X.data[lo:hi].astype(np.float64)
        if columns is not None:
            vals *= columns[X.indices[lo:hi]]
        out[a:b] = np.bincount(rows, weights=vals, minlength=b - a)
    return out


def row_lengths(X: sparse.csr_matrix) -> np.ndarray:
    """Stored (non-zero) values per row."""
    return np.diff(X.indptr)


def col_sums(X: sparse.csr_matrix, *, power: int = 1) -> np.ndarray:
    """Per-column sums of ``X ** power`` in float64, chunked."""
    out = np.zeros(X.shape[1])
    for a, b in row_chunks(X):
        sl = slice(X.indptr[a], X.indptr[b])
        vals = X.data[sl].astype(np.float64)
        if power != 1:
            vals **= power
        out += np.bincount(X.indices[sl], weights=vals, minlength=X.shape[1])
    return out


def col_nnz(X: sparse.csr_matrix) -> np.ndarray:
    """Per-column count of stored non-zeros (chunked: bincount would copy indices to int64)."""
    out = np.zeros(X.shape[1], dtype=np.int64)
    for a, b in row_chunks(X):
        out += np.bincount(X.indices[X.indptr[a] : X.indptr[b]], minlength=X.shape[1])
    return out


def map_rows(X: sparse.csr_matrix, fn, dtype=np.float32) -> sparse.csr_matrix:
    """A CSR sharing ``X``'s structure whose values are ``fn(values, row_of_each_value)``.

    Indices and indptr are shared with ``X`` (no copy); only a new value array is allocated.
    """
    out = np.empty(X.nnz, dtype=dtype)
    for a, b in row_chunks(X):
        lo, hi = X.indptr[a], X.indptr[b]
        rows = np.repeat(np.arange(a, b), np.diff(X.indptr[a : b + 1]))
        out[lo:hi] = fn(X.data[lo:hi], rows)
    return sparse.csr_matrix((out, X.indices, X.indptr), shape=X.shape, copy=False)


def subset_csr(X: sparse.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> sparse.csr_matrix:
    """``X[rows][:, cols]`` for boolean masks, filled chunk by chunk into preallocated arrays.

    Peak memory is the input plus the output (no intermediate full-size copy).
    """
    col_map = np.full(X.shape[1], -1, dtype=np.int64)
    col_map[cols] = np.arange(int(cols.sum()))
    keep_rows = np.flatnonzero(rows)
    counts = np.zeros(len(keep_rows), dtype=np.int64)
    pos = 0
    for a, b in row_chunks(X):
        sel = keep_rows[(keep_rows >= a) & (keep_rows < b)]
        lens = np.diff(X.indptr[a : b + 1])
        rows_of = np.repeat(np.arange(a, b), lens)
        keep = cols[X.indices[X.indptr[a] : X.indptr[b]]]
        per_row = np.bincount(rows_of[keep] - a, minlength=b - a)
        counts[pos : pos + len(sel)] = per_row[sel - a]
        pos += len(sel)
    indptr = np.zeros(len(keep_rows) + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    idx_dtype = np.int32 if indptr[-1] < np.iinfo(np.int32).max else np.int64
    data = np.empty(int(indptr[-1]), dtype=X.data.dtype)
    indices = np.empty(int(indptr[-1]), dtype=idx_dtype)
    row_keep = np.zeros(X.shape[0], bool)
    row_keep[keep_rows] = True
    out_pos = 0
    for a, b in row_chunks(X):
        lo, hi = X.indptr[a], X.indptr[b]
        rows_of = np.repeat(np.arange(a, b), np.diff(X.indptr[a : b + 1]))
        m = row_keep[rows_of] & cols[X.indices[lo:hi]]
        n = int(m.sum())
        data[out_pos : out_pos + n] = X.data[lo:hi][m]
        indices[out_pos : out_pos + n] = col_map[X.indices[lo:hi][m]]
        out_pos += n
    return sparse.csr_matrix(
        (data, indices, indptr.astype(idx_dtype)), shape=(len(keep_rows), int(cols.sum()))
    )
