"""Report building blocks: warnings, keys, mixing, markers, QC tables, MultiQC headers."""

from __future__ import annotations

import gzip
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import sparse

from scssl._errors import InputError
from scssl.io import write_h5ad
from scssl.pp.qc_report import cells_tsv_gz
from scssl.report.checks import ReportThresholds, sample_warnings
from scssl.report.facts import find_keys, qc_facts, sample_specific_fraction
from scssl.report.load import RunData, qc_cells
from scssl.report.markers import quick_markers, read_markers, top_markers
from scssl.report.mqc import multiqc_config_text, sample_files
from scssl.report.plots_qc import thresholds

from ..conftest import REPO

QC = {
    "n_cells_input": 1000,
    "n_cells_pass": 800,
    "pct_cells_pass": 80.0,
    "removed_by": {"mad_pct_mt": 150, "doublet": 50},
    "median_after": {"n_genes": 900.0, "total_counts": 2500.0, "pct_mt": 3.0},
    "median_before": {"pct_mt": 4.0},
    "doublets": {"method": "scrublet", "n_doublets": 50, "doublet_rate": 0.059},
}


def facts(**qc_changes) -> dict:
    summary = {**QC, **qc_changes}
    return {"sample": "s1", "n_cells": 800, "qc": qc_facts(summary), "clusters": None,
            "annotation": None, "metadata": {}}  # fmt: skip


def test_no_warning_for_a_good_sample():
    assert sample_warnings(facts(), ReportThresholds()) == []


@pytest.mark.parametrize(
    ("changes", "code", "needle"),
    [
        ({"n_cells_pass": 300}, "low_cell_count", "300 cells after QC (warning below 500)"),
        ({"pct_cells_pass": 20.0}, "low_pct_kept", "kept only 20.0% of 1,000 cells"),
        ({"median_before": {"pct_mt": 18.0}}, "high_mito", "median 18.0% of counts before QC"),
        (
            {"doublets": {"n_doublets": 150, "doublet_rate": 0.16, "expected_rate": 0.08}},
            "high_doublet_rate",
            "16.0% of cells called doublets; expected 8.0% (warning above 10%)",
        ),
    ],
)
def test_each_warning_names_its_threshold(changes, code, needle):
    warnings = sample_warnings(facts(**changes), ReportThresholds())
    assert [w["code"] for w in warnings] == [code]
    assert needle in warnings[0]["message"]


def test_poor_mixing_and_unassigned():
    f = facts()
    f["clusters"] = {"sample_specific_fraction": 0.8}
    f["annotation"] = {"pct_unassigned": 45.0}
    codes = [w["code"] for w in sample_warnings(f, ReportThresholds(max_sample_specific=0.6))]
    assert codes == ["poor_mixing", "many_unassigned"]


def test_sample_specific_fraction():
    table = pd.DataFrame(
        {"0": [95, 5], "1": [50, 50], "2": [0, 100]}, index=["a", "b"]
    )  # cluster 0 is 95% a, cluster 2 100% b
    assert sample_specific_fraction(table, "a") == pytest.approx(95 / 145)
    assert sample_specific_fraction(table, "b") == pytest.approx(100 / 155)
    assert sample_specific_fraction(table.loc[["a"]], "a") is None  # one sample: no contrast


def _run(obs: pd.DataFrame, obsm=None) -> RunData:
    return RunData(path="x.h5ad", obs=obs, obsm=obsm or {}, uns={}, n_vars=10)


def test_find_keys_prefers_leiden_near_one_and_finds_the_score():
    obs = pd.DataFrame(
        {"leiden_0.5": ["0"], "leiden_1.0": ["1"], "leiden_2.0": ["2"], "kmeans": ["1"],
         "scssl_label": ["T"], "scssl_label_score": [0.9]}
    )  # fmt: skip
    keys = find_keys(_run(obs, {"X_umap": np.zeros((1, 2))}))
    assert (keys.cluster, keys.label, keys.score, keys.umap) == (
        "leiden_1.0", "scssl_label", "scssl_label_score", "X_umap",
    )  # fmt: skip
    assert find_keys(_run(obs[["kmeans"]])).cluster == "kmeans"
    assert find_keys(_run(obs[["kmeans"]])).label is None
    with pytest.raises(InputError, match="--label-key 'celltype' is not an obs column"):
        find_keys(_run(obs), label_key="celltype")


def test_quick_markers_find_the_planted_genes(tmp_path):
    rng = np.random.default_rng(0)
    groups = np.repeat(["a", "b", "c"], 60)
    X = rng.poisson(1.0, (180, 30)).astype(np.float32)
    for k, g in enumerate("abc"):
        X[groups == g, 10 + k] += 20  # gene 10+k marks group k
    adata = ad.AnnData(sparse.csr_matrix(X), var=pd.DataFrame(index=[f"G{i}" for i in range(30)]))
    path = write_h5ad(adata, tmp_path / "m.h5ad")
    top = top_markers(quick_markers(path, pd.Series(groups), n_top=3), 1)
    assert top == {"a": ["G10"], "b": ["G11"], "c": ["G12"]}


def test_markers_table(tmp_path):
    path = tmp_path / "markers.tsv"
    path.write_text("cluster\tgene\tlogfoldchanges\n1\tCD3E\t3\n1\tCD2\t2\n0\tMS4A1\t4\n")
    assert top_markers(read_markers(path), 1) == {"0": ["MS4A1"], "1": ["CD3E"]}
    path.write_text("a\tb\n1\t2\n")
    with pytest.raises(InputError, match="needs a cluster column"):
        read_markers(path)


def test_qc_cells_table_round_trip_and_same_bytes(tmp_path):
    obs = pd.DataFrame(
        {"barcode": ["A-1", "C-1"], "qc_total_counts": [1500.0, 90.0], "qc_n_genes": [700, 40],
         "qc_pct_mt": [2.5, 40.0], "qc_doublet_score": [0.1, np.nan],
         "qc_fail": pd.Categorical(["", "min_genes"])},
        index=["s_A-1", "s_C-1"],
    )  # fmt: skip
    data = cells_tsv_gz(obs)
    assert data == cells_tsv_gz(obs)
    (tmp_path / "s_qc_cells.tsv.gz").write_bytes(data)
    back = qc_cells(tmp_path, "s")
    assert list(back["qc_fail"]) == ["", "min_genes"]
    assert back.loc["s_C-1", "qc_total_counts"] == 90.0
    assert np.isnan(back.loc["s_C-1", "qc_doublet_score"])
    assert gzip.decompress(data).startswith(b"cell\tbarcode\tqc_total_counts")


def test_thresholds_on_the_log_axis():
    filters = {
        "mad_total_counts": {
            "metric": "qc_log1p_total_counts",
            "low": np.log1p(100.0),
            "high": None,
        },
        "max_counts": {"metric": "qc_total_counts", "low": None, "high": 10000},
        "max_pct_mt": {"metric": "qc_pct_mt", "low": None, "high": 20.0},
    }
    lines = thresholds(filters, ("qc_total_counts", "qc_log1p_total_counts"), True)
    assert [(round(v, 6), n) for v, n in lines] == [(2.0, "mad_total_counts"), (4.0, "max_counts")]
    assert thresholds(filters, ("qc_pct_mt",), False) == [(20.0, "max_pct_mt")]


def test_multiqc_config_is_packaged_and_names_every_section():
    assert (REPO / "assets" / "multiqc_config.yml").read_text() == multiqc_config_text()
    config = yaml.safe_load(multiqc_config_text())
    f = facts()
    f["warnings"] = []
    f["clusters"] = {"n_clusters": 2, "counts": {"0": 500, "1": 300}}
    f["annotation"] = {"counts": {"T": 800}, "median_score": 0.9}
    files = sample_files(f)
    for suffix, text in files.items():
        sid = suffix.rsplit("_mqc", 1)[0]
        header = yaml.safe_load("\n".join(ln[2:] for ln in text.splitlines() if ln[:2] == "# "))
        assert header["id"] == sid and sid in config["custom_data"]
        assert header.get("section_name") == config["custom_data"][sid].get("section_name")
    assert set(config["custom_data"]) - {"scssl_report"} <= set(config["custom_content"]["order"])
    assert config["no_version_check"] is True and config["no_ai"] is True


def test_raw_option_maps_samples_to_paths():
    import click

    from scssl.cli_report import _raw_map

    assert _raw_map(("s1=/data/raw",), ()) == {"s1": Path("/data/raw")}
    assert _raw_map(("/data/raw",), ("s1",)) == {"s1": Path("/data/raw")}
    with pytest.raises(click.BadParameter, match="give SAMPLE=PATH"):
        _raw_map(("/data/raw",), ("s1", "s2"))


def test_composition_orders_cluster_numbers_numerically():
    from scssl.report.facts import composition

    obs = pd.DataFrame({"sample": ["a", "a", "b", "b"], "k": pd.Categorical(["10", "2", "2", "0"])})
    table = composition(obs, "k")
    assert list(table.columns) == ["0", "2", "10"]
    assert table.loc["a"].tolist() == [0, 1, 1]
