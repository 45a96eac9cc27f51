"""``scssl run`` with ``federated: true`` on the bundled test input: each sample a site."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import scanpy as sc

from scssl.run_fed import site_groups

from ..conftest import REPO
from .test_run import scssl_run


def test_sites_are_samplesheet_groups():
    sheet = pd.DataFrame(
        {"site": ["A", None, "A", "B"]}, index=pd.Index(["s1", "s2", "s3", "s4"], name="sample")
    )
    assert site_groups(sheet) == {"A": ["s1", "s3"], "s2": ["s2"], "B": ["s4"]}
    assert site_groups(sheet.drop(columns="site")) == {s: [s] for s in sheet.index}


@pytest.fixture(scope="module")
def fed_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fedrun")
    params = tmp / "params.yml"
    params.write_text(
        (REPO / "conf" / "test_params.yaml").read_text()
        + "federated: true\nfed_rounds: 2\nfed_local_epochs: 2\n"
    )
    out = tmp / "results"
    res = scssl_run(
        "--samplesheet",
        "assets/test_data/samplesheet.csv",
        "--outdir",
        out,
        "--params-file",
        params,
        cwd=REPO,
    )
    assert res.returncode == 0, res.stderr
    return out


def test_federated_run_gives_every_site_its_own_results(fed_run):
    out = fed_run
    glob = json.loads((out / "federated" / "global" / "config.json").read_text())
    assert glob["federated"]["round"] == 2 and glob["federated"]["sites"] == ["sim_1", "sim_2"]
    union = set()
    for site in ("sim_1", "sim_2"):
        union |= set((out / "federated" / "genes" / f"{site}.txt").read_text().split())
        sent = sorted(p.name for p in (out / "federated" / "sites" / site).iterdir())
        assert sent == ["config.json", "history.tsv", "model.safetensors", "site.json"]
        base = out / "sites" / site
        pre = sc.read_h5ad(base / "preprocess" / "preprocessed.h5ad")
        assert set(pre.obs["sample"]) == {site}  # a site's cells stay at the site
        ann = sc.read_h5ad(base / "annotate" / "annotated.h5ad")
        assert ann.n_obs == pre.n_obs and "scssl_label" in ann.obs
        assert ann.obsm["X_scssl_mae"].shape == (pre.n_obs, 32)
        assert ann.uns["scssl_embed"]["X_scssl_mae"]["checkpoint"].endswith("federated/global")
        assert (base / "report" / f"{site}.report.html").is_file()
        assert json.loads((base / "evaluate" / "metrics.json").read_text())
        assert (base / "pipeline_info" / "summary.json").is_file()
    assert set(glob["spec"]["genes"]) == union
    mqc = (out / "multiqc" / "multiqc_report_data" / "multiqc_scssl_fedloss_plot.txt").read_text()
    assert "global" in mqc and "site sim_1" in mqc
    assert not (out / "merge").exists() and not (out / "pretrain").exists()


def test_federated_run_publishes_what_the_federated_pipeline_publishes(fed_run):
    from ..pipeline.nfcheck import published_files

    missing = []
    for site in ("sim_1", "sim_2"):
        values = {"meta.id": site, "meta.site": site, "prefix": site, "family": "mae"}
        for proc, files in published_files(REPO, values, federated=True).items():
            if proc == "SCSSL_FINETUNE":  # runs with --reference only
                continue
            missing += [f"{proc}: {f}" for f in files if not list(fed_run.glob(f))]
    assert not missing, missing
