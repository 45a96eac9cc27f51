"""Memory-lean reads and in-place annotation writes of the steps after preprocess."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from scipy import sparse

from scssl import io
from scssl._errors import InputError
from scssl.data.prepare import build_cell_data, spec_from_anndata
from scssl.io import h5ad_parts
from scssl.io.h5ad_parts import LIBRARY_COL


def test_gene_subset_read_equals_the_full_matrices_in_row_blocks(pre_file, monkeypatch):
    monkeypatch.setattr(h5ad_parts, "BLOCK_NNZ", 5_000)  # many row blocks
    full = io.read_h5ad(pre_file)
    hvg = h5ad_parts.hvg_names(pre_file)
    assert hvg == full.var_names[full.var["highly_variable"]].tolist()
    part = io.read_h5ad_parts(pre_file, genes=hvg)
    assert part.var_names.tolist() == hvg and part.n_obs == full.n_obs
    assert (part.X != full[:, hvg].X).nnz == 0
    assert (part.layers["counts"] != full[:, hvg].layers["counts"]).nnz == 0
    # library size: raw counts over all genes, not the subset
    np.testing.assert_allclose(part.obs[LIBRARY_COL], full.layers["counts"].sum(1).A1)
    # the model inputs are the same as from the whole file
    spec = spec_from_anndata(full)
    assert spec_from_anndata(part) == spec
    a, _ = build_cell_data(full, spec)
    b, _ = build_cell_data(part, spec)
    idx = np.arange(full.n_obs)
    for key, value in a.batch(idx).items():
        torch_eq = (value == b.batch(idx)[key]).all()
        assert bool(torch_eq), key


def test_parts_without_matrices_keep_obs_and_embeddings(pre_file):
    shell = io.read_h5ad_parts(pre_file, x=False, layers=False)
    assert shell.X is None and not shell.layers
    assert "X_pca" in shell.obsm and "protein_clr" in shell.obsm
    no_layers = io.read_h5ad_parts(pre_file, layers=False)
    assert no_layers.X is not None and not no_layers.layers


def test_update_copies_matrices_and_replaces_annotations(pre_file, tmp_path):
    part = io.read_h5ad_parts(pre_file, genes=h5ad_parts.hvg_names(pre_file))
    part.obsm["X_new"] = np.arange(part.n_obs * 2, dtype=np.float32).reshape(-1, 2)
    part.obs["label"] = np.where(np.arange(part.n_obs) % 2, "a", "b")
    part.uns["note"] = {"step": "test"}
    out = io.update_h5ad(pre_file, tmp_path / "out.h5ad", part)
    src, new = io.read_h5ad(pre_file), io.read_h5ad(out)
    assert new.shape == src.shape  # all genes, though only the HVGs were read
    assert (new.X != src.X).nnz == 0
    assert (new.layers["counts"] != src.layers["counts"]).nnz == 0
    np.testing.assert_array_equal(new.obsm["X_new"], part.obsm["X_new"])
    np.testing.assert_array_equal(new.obsm["X_pca"], src.obsm["X_pca"])
    assert (new.obs["label"] == part.obs["label"]).all()
    assert LIBRARY_COL not in new.obs and new.uns["note"] == {"step": "test"}
    with h5py.File(out) as f:  # compressed like the pipeline's other files
        assert f["obsm"]["X_new"].compression == "gzip"


def test_update_refuses_other_cells_and_leaves_no_file(pre_file, tmp_path):
    part = io.read_h5ad_parts(pre_file, x=False, layers=False)[:10].copy()
    with pytest.raises(InputError, match="cells in the file"):
        io.update_h5ad(pre_file, tmp_path / "out.h5ad", part)
    assert not list(tmp_path.iterdir())


def test_dense_x_is_read_whole_then_subset(tmp_path):
    import anndata as ad

    X = np.arange(12, dtype=np.float32).reshape(4, 3)
    a = ad.AnnData(X=X, layers={"counts": sparse.csr_matrix(X)})
    a.var_names = ["g1", "g2", "g3"]
    io.write_h5ad(a, tmp_path / "d.h5ad")
    part = io.read_h5ad_parts(tmp_path / "d.h5ad", genes=["g3", "g1"])
    assert part.var_names.tolist() == ["g1", "g3"]  # file order
    np.testing.assert_array_equal(sparse.csr_matrix(part.X).toarray(), X[:, [0, 2]])
    np.testing.assert_allclose(part.obs[LIBRARY_COL], X.sum(1))
