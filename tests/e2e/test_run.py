"""``scssl run`` on the bundled test input and on the real Kang 2018 ctrl + stim pair."""

from __future__ import annotations

import filecmp
import subprocess
import sys

import pytest
import scanpy as sc

from scssl.sim import simulate

from ..conftest import REPO

BUNDLED = REPO / "assets" / "test_data"


def scssl_run(*args) -> subprocess.CompletedProcess:
    """``scssl run`` in a fresh interpreter, as a user would call it."""
    cmd = [sys.executable, "-m", "scssl.cli", "run", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True)


def test_bundled_test_data_is_the_seeded_simulation(tmp_path):
    simulate(tmp_path, n_samples=2, n_cells=300, n_genes=1500, n_proteins=10, seed=0)
    for f in sorted(BUNDLED.rglob("*")):
        if f.is_file():
            assert filecmp.cmp(f, tmp_path / f.relative_to(BUNDLED), shallow=False), f


def test_run_on_bundled_input(tmp_path):
    out = tmp_path / "results"
    res = scssl_run("--samplesheet", BUNDLED / "samplesheet.csv", "--outdir", out)
    assert res.returncode == 0, res.stderr
    for rel in (
        "ingest/sim_1.h5ad",
        "qc/sim_2.h5ad",
        "qc/sim_1_qc.png",
        "merge/merged.h5ad",
        "preprocess/preprocessed.h5ad",
        "preprocess/preprocessed_hvg.h5ad",
        "pipeline_info/versions.yml",
        "pipeline_info/samplesheet.valid.csv",
    ):
        assert (out / rel).is_file(), rel
    pre = sc.read_h5ad(out / "preprocess" / "preprocessed.h5ad")
    assert set(pre.obs["sample"]) == {"sim_1", "sim_2"}
    assert 450 < pre.n_obs < 600
    assert pre.obsm["protein_counts"].shape[1] == 10
    emb = sc.read_h5ad(out / "embed" / "embedded.h5ad")
    assert emb.obsm["X_scssl_mae"].shape == (pre.n_obs, 32)


@pytest.mark.realdata
def test_kang_ctrl_stim_through_the_chain(cellranger, tmp_path):
    sheet = tmp_path / "kang.csv"
    sheet.write_text(
        "sample,path,batch,condition\n"
        f"ctrl,{cellranger / 'kang2018_ifnb_ctrl'},b1,ctrl\n"
        f"stim,{cellranger / 'kang2018_ifnb_stim'},b2,stim\n"
    )
    params = tmp_path / "params.yml"
    params.write_text("n_top_genes: 1000\nmin_genes: 100\nmax_epochs: 3\n")
    out = tmp_path / "res"
    res = scssl_run("--samplesheet", sheet, "--outdir", out, "--params-file", params)
    assert res.returncode == 0, res.stderr
    pre = sc.read_h5ad(out / "preprocess" / "preprocessed.h5ad")
    assert set(pre.obs["condition"]) == {"ctrl", "stim"}
    assert pre.obs["sample"].value_counts().min() > 900
    assert pre.var["highly_variable"].sum() == 1000
    # IFN-beta response genes separate the conditions on PC space or are HVGs
    assert {"ISG15", "IFI6"} & set(pre.var_names[pre.var["highly_variable"]])
    raw = sc.read_10x_mtx(cellranger / "kang2018_ifnb_ctrl" / "filtered_feature_bc_matrix")
    cells = pre.obs_names[pre.obs["sample"] == "ctrl"]
    raw.obs_names = "ctrl_" + raw.obs_names
    assert (pre[cells].layers["counts"] != raw[cells, pre.var_names].X).nnz == 0
