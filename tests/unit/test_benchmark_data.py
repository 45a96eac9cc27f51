"""Loaders of the labelled benchmark sets: shapes, labels, batches, proteins, preprocessing."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from scipy import sparse

from scssl._errors import InputError
from scssl.io.benchmark_data import _read_plain_h5, load_benchmark

# name -> (cells, classes among scored cells, scored cells, batches)
EXPECTED = {
    "10x_pbmc_4271": (4271, 8, 4271, 1),
    "mouse_bladder_2746": (2746, 16, 2746, 1),
    "pbmc4k_2170": (2170, 5, 2150, 1),
    "baron_mouse": (822 + 1064, 13, 822 + 1064, 2),
    "cbmc": (8617, 15, 8617, 1),
}


def test_unknown_name_lists_the_sets(tmp_path):
    with pytest.raises(InputError, match="10x_pbmc_4271"):
        load_benchmark("nope", tmp_path)


def test_plain_h5_genes_in_rows_is_transposed(tmp_path):
    X = np.arange(12, dtype=np.float32).reshape(3, 4)  # 3 genes x 4 cells
    path = tmp_path / "t.h5"
    with h5py.File(path, "w") as h:
        h["X"] = X
        h["Y"] = np.array([1, 2, 2, 1], dtype=np.int32)
    counts, labels, adt = _read_plain_h5(path)
    assert counts.shape == (4, 3)
    assert (counts.toarray() == X.T).all()
    assert labels.tolist() == ["1", "2", "2", "1"]
    assert adt is None


@pytest.mark.realdata
@pytest.mark.parametrize("name", list(EXPECTED))
def test_raw_layout(data, name):
    n_cells, n_classes, n_scored, n_batches = EXPECTED[name]
    a = load_benchmark(name, data, preprocess=False)
    assert a.n_obs == n_cells
    counts = a.layers["counts"]
    assert sparse.isspmatrix_csr(counts) and counts.dtype == np.float32
    assert (counts.data == np.round(counts.data)).all() and counts.data.min() >= 0
    assert np.asarray(counts.sum(1)).min() > 0  # cells in rows: every cell has counts
    assert a.obs["scored"].dtype == bool and int(a.obs["scored"].sum()) == n_scored
    assert a.uns["benchmark"]["n_classes"] == n_classes
    assert a.obs.loc[a.obs["scored"], "label"].nunique() == n_classes
    assert a.obs["batch"].nunique() == n_batches
    assert a.var_names.is_unique


@pytest.mark.realdata
def test_baron_batches_are_donors(data):
    a = load_benchmark("baron_mouse", data, preprocess=False)
    assert a.obs["batch"].value_counts().sort_index().tolist() == [822, 1064]
    assert a.n_vars == 14878
    assert "Ins1" in a.var_names


@pytest.mark.realdata
def test_pbmc4k_unlabelled_cells_kept_but_not_scored(data):
    a = load_benchmark("pbmc4k_2170", data)
    unscored = a.obs.loc[~a.obs["scored"], "label"]
    assert len(unscored) == 20 and (unscored == "?").all()
    assert set(a.uns["benchmark"]["classes"]) == {"T_CD4", "T_CD8", "B", "NK", "MNP"}
    assert int(a.var["highly_variable"].sum()) == 2000
    assert "log1p" in a.uns and a.obsm["X_pca"].shape == (2170, 50)


@pytest.mark.realdata
def test_cbmc_proteins_survive_preprocessing(data):
    a = load_benchmark("cbmc", data)
    prot = a.obsm["protein_clr"]
    assert list(prot.columns) == [f"ADT_{j}" for j in range(10)]
    assert prot.index.equals(a.obs_names)
    with h5py.File(data / "citeseq" / "cbmc_stoeckius2017_top2000.h5", "r") as h:
        np.testing.assert_allclose(prot.to_numpy(), h["ADT_X"][:], rtol=1e-6, atol=1e-6)
    assert "protein_counts" not in a.obsm
    assert int(a.var["highly_variable"].sum()) == 2000
