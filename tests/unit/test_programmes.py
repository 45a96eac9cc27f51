"""Co-expression programmes: planted gene modules are recovered; GMT round trip; bad input."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from sklearn.metrics import adjusted_rand_score

from scssl._errors import InputError
from scssl.io.gmt import read_gmt, write_gmt
from scssl.pp import coexpression_programmes
from scssl.pp.programmes import programme_labels


def _modules(n_cells=800, n_modules=5, per_module=12, n_noise=10, seed=0):
    """Log-normalized-like data: each module's genes follow one cell-level factor."""
    rng = np.random.default_rng(seed)
    factors = rng.gamma(1.0, 1.0, size=(n_cells, n_modules))
    truth = np.repeat(np.arange(n_modules), per_module)
    X = factors[:, truth] * rng.uniform(0.5, 2.0, truth.size)
    X += rng.normal(0, 0.3, X.shape)
    noise = rng.normal(0, 1.0, (n_cells, n_noise))
    return np.log1p(np.clip(np.hstack([X, noise]), 0, None)).astype(np.float32), truth


def test_planted_modules_are_recovered_deterministically():
    X, truth = _modules()
    labels = programme_labels(sparse.csr_matrix(X), 6)
    assert adjusted_rand_score(truth, labels[: truth.size]) == pytest.approx(1.0)
    np.testing.assert_array_equal(labels, programme_labels(X, 6))  # dense = sparse, repeatable


def test_programmes_partition_the_hvgs_and_round_trip_as_gmt(tmp_path):
    X, _ = _modules()
    hvg = np.ones(X.shape[1], bool)
    hvg[-3:] = False
    a = ad.AnnData(
        sparse.csr_matrix(X),
        var=pd.DataFrame({"highly_variable": hvg}, index=[f"g{i}" for i in range(X.shape[1])]),
    )
    sets = coexpression_programmes(a, n_programmes=6)
    genes = [g for s in sets.values() for g in s]
    assert sorted(genes) == sorted(a.var_names[hvg]) and len(genes) == len(set(genes))
    assert list(sets) == [f"programme_{i}" for i in range(6)]
    path = write_gmt(sets, tmp_path / "p.gmt")
    assert read_gmt(path) == sets


def test_bad_programme_requests_are_refused():
    X, _ = _modules()
    with pytest.raises(InputError, match="n_programmes=1: give between 2"):
        programme_labels(X, 1)
    with pytest.raises(InputError, match=r"var\['highly_variable'\] missing"):
        coexpression_programmes(ad.AnnData(X), n_programmes=4)
