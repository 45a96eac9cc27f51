"""Normalization, HVG, CLR and PCA against reference implementations on simulated counts."""

from __future__ import annotations

import importlib

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
from scipy import sparse
from sklearn.decomposition import PCA

from scssl import pp
from scssl.io import read_sample
from scssl.pp._sparse import col_sums, row_sums, subset_csr


@pytest.fixture(scope="module")
def merged(sim_dir):
    samples = []
    for name in ("sim_1", "sim_2", "sim_3"):
        a = read_sample(sim_dir / name / "outs", sample=name, metadata={"batch": name})
        samples.append(pp.run_qc(a, pp.QCParams(doublet_method="none")).adata)
    return pp.merge_samples(samples)


def test_normalize_matches_scanpy_and_keeps_counts(merged):
    a = merged.copy()
    before = a.layers["counts"].copy()
    pp.normalize_log1p(a, target_sum=1e4)
    ref = ad.AnnData(before.copy())
    sc.pp.normalize_total(ref, target_sum=1e4)
    sc.pp.log1p(ref)
    np.testing.assert_allclose(a.X.toarray(), ref.X.toarray(), rtol=1e-5, atol=1e-6)
    assert (a.layers["counts"] != before).nnz == 0
    # normalized values share the counts' sparsity structure (no second index array)
    assert np.shares_memory(a.X.indices, a.layers["counts"].indices)


@pytest.mark.parametrize("batch_key", [None, "batch"])
def test_hvg_matches_scanpy_seurat_v3(merged, batch_key):
    a = merged.copy()
    pp.highly_variable_genes(a, n_top_genes=500, batch_key=batch_key)
    ref = ad.AnnData(a.layers["counts"].copy(), obs=a.obs[["batch"]].copy())
    ref.var_names = a.var_names
    sc.pp.highly_variable_genes(ref, flavor="seurat_v3", n_top_genes=500, batch_key=batch_key)
    assert a.var["highly_variable"].sum() == 500
    assert (a.var["highly_variable"].to_numpy() == ref.var["highly_variable"].to_numpy()).all()
    np.testing.assert_allclose(a.var["variances_norm"], ref.var["variances_norm"], rtol=1e-6)
    assert len(a.uns["hvg"]["genes"]) == 500
    view = pp.subset_hvg(a)
    assert view.is_view and view.n_vars == 500
    assert list(view.var_names) == a.uns["hvg"]["genes"]


def test_hvg_picks_cell_type_markers_not_housekeeping(merged):
    a = merged.copy()
    pp.highly_variable_genes(a, n_top_genes=200, batch_key="batch")
    pp.normalize_log1p(a)
    hv = a.var["highly_variable"].to_numpy()
    # HVGs vary more (after normalization) than the rest on average
    X = a.X.toarray()
    assert X[:, hv].var(axis=0).mean() > 1.5 * X[:, ~hv].var(axis=0).mean()


def test_protein_clr(merged):
    a = merged.copy()
    pp.protein_clr(a)
    clr = a.obsm["protein_clr"]
    assert list(clr.columns) == list(a.obsm["protein_counts"].columns)
    np.testing.assert_allclose(clr.to_numpy().sum(axis=1), 0, atol=1e-4)
    raw = np.log1p(a.obsm["protein_counts"].to_numpy(dtype=float))
    np.testing.assert_allclose(clr.to_numpy(), raw - raw.mean(1, keepdims=True), atol=1e-5)


def test_pca_matches_sklearn(merged):
    a = merged.copy()
    pp.preprocess(a, pp.PreprocessParams(n_top_genes=300, n_pcs=20, scale_pca=False))
    X = a.X[:, a.var["highly_variable"].to_numpy()].toarray()
    ref = PCA(20, svd_solver="full").fit(X)
    ours = a.obsm["X_pca"]
    np.testing.assert_allclose(np.abs(ours), np.abs(ref.transform(X)), rtol=1e-3, atol=2e-3)
    np.testing.assert_allclose(a.uns["pca"]["variance"], ref.explained_variance_, rtol=1e-4)
    assert a.varm["PCs"].shape == (a.n_vars, 20)


def test_scaled_pca_matches_scanpy_scale_then_pca(merged, monkeypatch):
    """z-scored (clipped at 10) PCA, built block by block, equals scanpy's scale + PCA; the
    log-normalized X_pca is left as it was."""
    pca_mod = importlib.import_module("scssl.pp.pca")  # the module (scssl.pp.pca is the function)
    a = merged.copy()
    pp.preprocess(a, pp.PreprocessParams(n_top_genes=300, n_pcs=20, scale_pca=False))
    before = a.obsm["X_pca"].copy()
    monkeypatch.setattr(pca_mod, "_CHUNK", 97)  # several blocks, the last one short
    pca_mod.pca(a, n_comps=20, scale=True, key_added="pca_scaled")
    ref = ad.AnnData(a.X[:, a.var["highly_variable"].to_numpy()].toarray())
    sc.pp.scale(ref, max_value=10)
    assert ref.X.max() == 10  # the clip is exercised
    sc.pp.pca(ref, n_comps=20, svd_solver="full")
    ours = a.obsm["X_pca_scaled"]
    np.testing.assert_allclose(np.abs(ours), np.abs(ref.obsm["X_pca"]), rtol=1e-3, atol=2e-3)
    var = a.uns["pca_scaled"]["variance"]
    np.testing.assert_allclose(var, ref.uns["pca"]["variance"], rtol=1e-4)
    assert a.uns["pca_scaled"]["params"]["scale"] is True
    assert a.varm["PCs_pca_scaled"].shape == (a.n_vars, 20)
    np.testing.assert_array_equal(a.obsm["X_pca"], before)


def test_pearson_residuals_and_pca_on_them(merged):
    a = merged.copy()
    pp.preprocess(a, pp.PreprocessParams(n_top_genes=300, n_pcs=10, pearson_residuals=True))
    hv = a.var["highly_variable"].to_numpy()
    ref = ad.AnnData(a.layers["counts"][:, hv].copy())
    sc.experimental.pp.normalize_pearson_residuals(ref, theta=100)
    ours = a.obsm["pearson_residuals"]
    # scanpy computes the expected counts from the selected genes only; we use each cell's
    # full library, so compare the (rank) structure rather than exact values
    corr = np.corrcoef(ours.ravel(), ref.X.ravel())[0, 1]
    assert corr > 0.95
    assert a.obsm["X_pca"].shape == (a.n_obs, 10)
    assert a.uns["pca"]["params"]["input"] == "pearson_residuals"


def test_preprocess_keeps_counts_and_protein(merged):
    a = merged.copy()
    counts = a.layers["counts"].copy()
    prot = a.obsm["protein_counts"].copy()
    pp.preprocess(a, pp.PreprocessParams(n_top_genes=300))
    assert (a.layers["counts"] != counts).nnz == 0
    pd.testing.assert_frame_equal(a.obsm["protein_counts"], prot)
    assert "protein_clr" in a.obsm


def test_sparse_helpers_match_scipy():
    rng = np.random.default_rng(3)
    X = sparse.random(300, 80, density=0.2, format="csr", random_state=rng, dtype=np.float32)
    rows, cols = rng.random(300) > 0.3, rng.random(80) > 0.4
    sub = subset_csr(X, rows, cols)
    assert (sub != X[rows][:, cols]).nnz == 0
    np.testing.assert_allclose(row_sums(X), np.asarray(X.sum(1)).ravel(), rtol=1e-6)
    np.testing.assert_allclose(
        col_sums(X, power=2), np.asarray(X.multiply(X).sum(0)).ravel(), rtol=1e-5
    )


def test_merge_fills_batch_and_keeps_missing_metadata_missing(sim_dir):
    a = read_sample(sim_dir / "sim_1" / "outs", sample="sim_1", metadata={"condition": "ctrl"})
    b = read_sample(sim_dir / "sim_2" / "outs", sample="sim_2", metadata={"batch": "run2"})
    m = pp.merge_samples([a, b], min_cells_gene=1)
    assert m.n_obs == a.n_obs + b.n_obs
    assert set(m.obs["batch"]) == {"sim_1", "run2"}  # no batch given: the sample is the batch
    assert m.obs.loc[m.obs["sample"] == "sim_2", "condition"].isna().all()
    assert (m.obs.loc[m.obs["sample"] == "sim_1", "condition"] == "ctrl").all()
    pd.testing.assert_frame_equal(
        m.obsm["protein_counts"].loc[a.obs_names], a.obsm["protein_counts"], check_names=False
    )


def test_merge_outer_join_zero_fills_and_filters_before_stacking(sim_dir):
    a = read_sample(sim_dir / "sim_1" / "outs", sample="sim_1")
    b = read_sample(sim_dir / "sim_2" / "outs", sample="sim_2")
    b = b[:, b.var_names[5:]].copy()  # sim_2 lacks the first 5 genes
    b = b[:, b.var_names[::-1]].copy()  # and lists its genes in reverse order
    outer = pp.merge_samples([a, b], join="outer", min_cells_gene=1)
    inner = pp.merge_samples([a, b], join="inner", min_cells_gene=1)
    ids = outer.var["gene_ids"].astype(str)
    assert len(inner.var) < len(outer.var)
    for name, part in (("sim_1", a), ("sim_2", b)):
        rows = (outer.obs["sample"] == name).to_numpy()
        have = ids.isin(part.var["gene_ids"].astype(str)).to_numpy()
        pos = pd.Index(part.var["gene_ids"].astype(str)).get_indexer(ids[have])
        got = outer.layers["counts"][rows][:, have].toarray()
        np.testing.assert_array_equal(got, part.layers["counts"][:, pos].toarray())
        assert outer.layers["counts"][rows][:, ~have].nnz == 0  # absent genes count 0
    detected = np.asarray((outer.layers["counts"] > 0).sum(0)).ravel()
    np.testing.assert_array_equal(outer.var["n_cells"], detected)
    strict = pp.merge_samples([a, b], join="outer", min_cells_gene=50)
    kept = outer.var["gene_ids"][detected >= 50].tolist()
    assert strict.var["gene_ids"].tolist() == kept
