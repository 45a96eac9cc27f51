"""Resident (device-side) training data: built one row block at a time, same minibatches."""

from __future__ import annotations

import tracemalloc

import numpy as np
import torch
from scipy import sparse

from scssl.data.dataset import COUNTS, LIBRARY, CellData, X, dense_on_device


def _counts(n: int, g: int, seed: int = 0) -> sparse.csr_matrix:
    rng = np.random.default_rng(seed)
    return sparse.random(n, g, density=0.1, format="csr", random_state=rng, dtype=np.float32)


def test_dense_on_device_equals_the_matrix_for_any_chunk_size():
    M = _counts(1003, 57)
    for chunk in (1, 7, 1000, 5000):
        out = dense_on_device(M, torch.device("cpu"), chunk_rows=chunk)
        assert out.dtype == torch.float32 and out.shape == M.shape
        np.testing.assert_array_equal(out.numpy(), M.toarray())


def test_dense_on_device_holds_one_block_on_the_host_at_a_time():
    M = _counts(20_000, 500)  # 40 MB dense
    tracemalloc.start()
    dense_on_device(M, torch.device("cpu"), chunk_rows=1000)  # the tensor itself: torch's
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 8e6  # ~2 MB per block (+ scipy's slice); a whole toarray() is 40 MB


def test_resident_and_sparse_data_give_the_same_minibatches():
    expr, counts = _counts(300, 40, 1), _counts(300, 40, 2)
    lib = np.asarray(counts.sum(1)).ravel()
    sparse_data = CellData(expr, counts, lib, np.zeros(300, np.int64))
    resident = CellData(expr, counts, lib, np.zeros(300, np.int64), resident=True)
    idx = np.random.default_rng(0).permutation(300)[:64]
    a, b = sparse_data.batch(idx), resident.batch(idx)
    for key in (X, COUNTS, LIBRARY):
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    assert set(resident.batch(idx, frozenset({X}))) == {X, LIBRARY, "batch"}
