"""Readers against scanpy's own on every Cell Ranger layout in the real data folder."""

from __future__ import annotations

import numpy as np
import pytest
import scanpy as sc
from scipy import sparse

from scssl.io import detect_format, read_cellranger, read_sample

pytestmark = pytest.mark.realdata


def _same_counts(a, b) -> None:
    A, B = sparse.csr_matrix(a), sparse.csr_matrix(b)
    assert A.shape == B.shape
    assert (A != B).nnz == 0


@pytest.mark.parametrize(
    ("rel", "reader"),
    [
        ("pbmc1k_chr21_cr3/filtered_feature_bc_matrix", "mtx"),
        ("pbmc1k_chr21_cr3/filtered_feature_bc_matrix.h5", "h5"),
        ("hg19_chr21_cr2_legacy/filtered_gene_bc_matrices/hg19_chr21", "mtx"),
        ("hg19_chr21_cr2_legacy/filtered_gene_bc_matrices_h5.h5", "h5"),
        ("pbmc_toy_cr2_raw_filtered/filtered_gene_bc_matrices/GRCh38", "mtx"),
        ("pbmc_toy_cr2_raw_filtered/raw_gene_bc_matrices/GRCh38", "mtx"),
        ("pbmc4k_2170_labeled/filtered_feature_bc_matrix", "mtx"),
        ("kang2018_ifnb_ctrl/filtered_feature_bc_matrix", "mtx"),
        ("kang2018_ifnb_stim/filtered_feature_bc_matrix", "mtx"),
    ],
)
def test_counts_equal_scanpy_reader(cellranger, rel, reader):
    path = cellranger / rel
    ours = read_cellranger(path)
    if reader == "mtx":
        ref = sc.read_10x_mtx(path, var_names="gene_symbols", gex_only=False)
    else:
        ref = sc.read_10x_h5(path, gex_only=False)
        ref.var_names_make_unique()
    _same_counts(ours.X, ref.X)
    assert ours.layers["counts"] is ours.X
    assert list(ours.var_names) == list(ref.var_names)
    assert ours.var_names.is_unique
    assert list(ours.var["gene_ids"]) == list(ref.var["gene_ids"])
    assert list(ours.obs_names) == list(ref.obs_names)
    assert ours.X.dtype == np.float32


def test_mtx_and_h5_identical(cellranger):
    mtx = read_cellranger(cellranger / "pbmc1k_chr21_cr3" / "filtered_feature_bc_matrix")
    h5 = read_cellranger(cellranger / "pbmc1k_chr21_cr3" / "filtered_feature_bc_matrix.h5")
    assert mtx.shape == (1107, 507)
    _same_counts(mtx.X, h5.X)
    assert mtx.X.data.tobytes() == h5.X.data.tobytes()
    assert list(mtx.var["gene_ids"]) == list(h5.var["gene_ids"])
    assert mtx.uns["scssl"]["gene_id_space"] == "ensembl"


def test_outs_folder_picks_filtered_or_raw(cellranger):
    root = cellranger / "pbmc_toy_cr2_raw_filtered"
    assert detect_format(root).path.parent.name == "filtered_gene_bc_matrices"
    assert detect_format(root, raw=True).path.parent.name == "raw_gene_bc_matrices"
    filt, raw = read_cellranger(root), read_cellranger(root, raw=True)
    assert filt.shape == (62, 226)
    assert raw.shape == (1289, 226)
    # every filtered cell is a raw barcode with the same counts
    shared = raw[filt.obs_names]
    _same_counts(shared.X, filt.X)


def test_legacy_genome_subfolder_and_symbol_id_space(cellranger):
    a = read_cellranger(cellranger / "hg19_chr21_cr2_legacy")
    b = read_cellranger(cellranger / "hg19_chr21_cr2_legacy" / "filtered_gene_bc_matrices_h5.h5")
    assert a.shape == (12, 343)
    _same_counts(a.X, b.X)
    kang = read_cellranger(cellranger / "kang2018_ifnb_ctrl")
    assert kang.uns["scssl"]["gene_id_space"] == "symbol"


def test_sample_prefix_and_metadata(cellranger):
    a = read_sample(
        cellranger / "kang2018_ifnb_stim",
        sample="stim",
        metadata={"condition": "IFNb", "batch": "b2", "expected_cells": 1000},
    )
    assert a.obs_names[0].startswith("stim_")
    assert (a.obs["barcode"].radd("stim_") == a.obs_names).all()
    assert set(a.obs["condition"]) == {"IFNb"}
    assert set(a.obs["batch"]) == {"b2"}
    assert int(a.obs["expected_cells"].iloc[0]) == 1000


@pytest.mark.parametrize(
    "rel",
    [
        "pbmc1k_chr21_cr3",
        "pbmc1k_chr21_cr3/filtered_feature_bc_matrix.h5",
        "hg19_chr21_cr2_legacy",
        "hg19_chr21_cr2_legacy/filtered_gene_bc_matrices_h5.h5",
        "pbmc_toy_cr2_raw_filtered",
        "pbmc4k_2170_labeled",
        "kang2018_ifnb_ctrl",
        "kang2018_ifnb_stim",
    ],
)
def test_scssl_ingest_cli_on_every_real_input(cellranger, rel, tmp_path):
    from click.testing import CliRunner

    from scssl.cli import cli
    from scssl.io import read_h5ad

    out = tmp_path / "s.h5ad"
    res = CliRunner().invoke(
        cli, ["ingest", "--input", str(cellranger / rel), "--output", str(out), "--sample", "s"]
    )
    assert res.exit_code == 0, res.output
    got = read_h5ad(out)
    ref = read_cellranger(cellranger / rel)
    _same_counts(got.layers["counts"], ref.X)
    assert got.X is got.layers["counts"]
    assert (got.obs_names == "s_" + ref.obs_names).all()
