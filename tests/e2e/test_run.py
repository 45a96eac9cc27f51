"""``scssl run`` on the bundled test input and on the real Kang 2018 ctrl + stim pair."""

from __future__ import annotations

import filecmp
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import scanpy as sc

from scssl.sim import simulate

from ..conftest import REPO

BUNDLED = REPO / "assets" / "test_data"


def scssl_run(*args, cwd=None) -> subprocess.CompletedProcess:
    """``scssl run`` in a fresh interpreter, as a user would call it."""
    cmd = [sys.executable, "-m", "scssl.cli", "run", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)


def test_bundled_test_data_is_the_seeded_simulation(tmp_path):
    simulate(tmp_path, n_samples=2, n_cells=300, n_genes=1500, n_proteins=10, seed=0)
    for f in sorted(BUNDLED.rglob("*")):
        if f.is_file():
            assert filecmp.cmp(f, tmp_path / f.relative_to(BUNDLED), shallow=False), f


@pytest.fixture(scope="module")
def bundled_run(tmp_path_factory):
    """``scssl run`` with the test profile's params (conf/test_params.yaml), from the repo
    root as the README's first command runs it."""
    out = tmp_path_factory.mktemp("run") / "results"
    res = scssl_run(
        "--samplesheet",
        "assets/test_data/samplesheet.csv",
        "--outdir",
        out,
        "--params-file",
        "conf/test_params.yaml",
        cwd=REPO,
    )
    assert res.returncode == 0, res.stderr
    return out


def test_run_publishes_what_the_pipeline_publishes(bundled_run):
    """Every non-optional output of every module, in its publishDir folder."""
    from ..pipeline.nfcheck import published_files

    missing = []
    for sample in ("sim_1", "sim_2"):
        values = {"prefix": sample, "meta.id": sample, "family": "mae"}
        for proc, files in published_files(REPO, values).items():
            if proc == "SCSSL_FINETUNE":  # runs with --reference only
                continue
            missing += [f"{proc}: {f}" for f in files if not list(bundled_run.glob(f))]
    assert not missing, missing


def test_run_on_bundled_input(bundled_run):
    out = bundled_run
    pre = sc.read_h5ad(out / "preprocess" / "preprocessed.h5ad")
    assert set(pre.obs["sample"]) == {"sim_1", "sim_2"}
    assert 450 < pre.n_obs < 600
    assert pre.obsm["protein_counts"].shape[1] == 10
    assert pre.var["highly_variable"].sum() == 500  # the test params, not the defaults
    emb = sc.read_h5ad(out / "embed" / "embedded.h5ad")
    assert emb.obsm["X_scssl_mae"].shape == (pre.n_obs, 32)
    ann = sc.read_h5ad(out / "annotate" / "annotated.h5ad")
    assert {"leiden_1.0", "scssl_label", "scssl_label_score"} <= set(ann.obs)
    assert ann.obsm["X_umap"].shape == (pre.n_obs, 2)
    # raw counts and protein counts survive every step
    assert (ann.layers["counts"] != pre.layers["counts"]).nnz == 0
    np.testing.assert_array_equal(
        np.asarray(ann.obsm["protein_counts"]), np.asarray(pre.obsm["protein_counts"])
    )
    # the simulator's marker table names the true types of most single cells
    truth = pd.concat(
        pd.read_csv(BUNDLED / s / "truth.csv").assign(sample=s) for s in ("sim_1", "sim_2")
    )
    truth.index = truth["sample"] + "_" + truth["barcode"]
    t = truth.loc[ann.obs_names, "cell_type"]
    single = ~t.str.contains(r"\+").to_numpy()
    called = (ann.obs["scssl_label"] == t).to_numpy()[single]
    assert called.mean() > 0.8, called.mean()
    summary = json.loads((out / "pipeline_info" / "summary.json").read_text())
    assert json.dumps(summary).count("sim_1") >= 1
    # every step's wall time and peak RSS (the kernel's high-water mark, reset per step)
    trace = pd.read_csv(out / "pipeline_info" / "scssl_run_trace.tsv", sep="\t")
    assert trace["step"].tolist()[:5] == [
        "ingest sim_1",
        "qc sim_1",
        "ingest sim_2",
        "qc sim_2",
        "merge",
    ]
    assert {"pretrain", "embed", "cluster", "report", "multiqc"} <= set(trace["step"])
    assert (trace["wall_s"] >= 0).all() and (trace["peak_rss_mib"] > 50).all()
    assert (trace["peak_rss_mib"] >= trace["rss_end_mib"] - 1).all()
    html = (out / "report" / "sim_1.report.html").read_text()
    assert "data:image/png;base64," in html and "http://" not in html and "https://" not in html
    assert (out / "multiqc" / "multiqc_report.html").stat().st_size > 10_000


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
