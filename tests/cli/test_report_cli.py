"""``scssl report``, ``scssl summary`` and ``scssl multiqc`` on the bundled simulated run."""

from __future__ import annotations

import base64
import importlib.util
import io as _io
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scssl import steps_report
from scssl._errors import InputError
from scssl.report.render import blank_fraction, find_chromium, screenshot

from .._report_data import add_fake_analysis, fake_checkpoint, preprocessed, qc_samples
from ..conftest import REPO

BUNDLED = REPO / "assets" / "test_data"
IMG = re.compile(r'<img alt="([^"]*)" src="data:image/png;base64,([A-Za-z0-9+/=]+)">')


def scssl(*args, env=None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "scssl.cli", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, env=env)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict[str, Path]:
    """QC'd, merged, preprocessed bundled samples plus clusters, map, labels, a checkpoint."""
    out = tmp_path_factory.mktemp("run")
    samples = {s: BUNDLED / s / "outs" for s in ("sim_1", "sim_2")}
    qc_files = qc_samples(samples, out)
    pre = preprocessed(qc_files, out)
    final = add_fake_analysis(pre, out / "final.h5ad")
    ckpt = fake_checkpoint(out / "pretrain" / "mae")
    return {"out": out, "pre": pre, "final": final, "qc": out / "qc", "ckpt": ckpt}


@pytest.fixture(scope="module")
def reports(run) -> Path:
    out = run["out"] / "report"
    res = scssl(
        "report", "--input", run["final"], "--output", out, "--qc-dir", run["qc"],
        "--checkpoint", run["ckpt"],
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    res = scssl(
        "summary", "--input", run["final"], "--output", out / "summary.json",
        "--qc-dir", run["qc"], "--checkpoint", run["ckpt"],
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    return out


def _cell(html: str, cid: str) -> float:
    m = re.search(rf'id="{re.escape(cid)}">([^<]*)<', html)
    assert m, cid
    return float(m.group(1).replace(",", ""))


def check_report(html: str, qc: dict, sections: tuple[str, ...]) -> None:
    """Sections present, QC numbers equal to the QC JSON, images real, nothing external."""
    for sid in sections:
        assert f'<section id="{sid}">' in html, sid
    assert _cell(html, "qc-n_cells_input") == qc["n_cells_input"]
    assert _cell(html, "qc-n_cells_pass") == qc["n_cells_pass"]
    assert _cell(html, "qc-n_cells_removed") == qc["n_cells_input"] - qc["n_cells_pass"]
    assert _cell(html, "qc-median_genes") == pytest.approx(qc["median_after"]["n_genes"], abs=0.01)
    assert _cell(html, "qc-median_counts") == pytest.approx(
        qc["median_after"]["total_counts"], abs=0.01
    )
    assert _cell(html, "qc-median_pct_mt") == pytest.approx(qc["median_after"]["pct_mt"], abs=0.006)
    if qc["doublets"].get("n_doublets") is not None:
        assert _cell(html, "qc-n_doublets") == qc["doublets"]["n_doublets"]
        assert _cell(html, "qc-doublet_rate") == pytest.approx(
            100 * qc["doublets"]["doublet_rate"], abs=0.006
        )
    from PIL import Image

    images = IMG.findall(html)
    assert len(images) >= 3
    for alt, b64 in images:
        png = base64.b64decode(b64)
        assert png[:8] == b"\x89PNG\r\n\x1a\n", alt
        with Image.open(_io.BytesIO(png)) as im:
            assert im.width >= 400 and im.height >= 200, alt
            assert im.convert("L").getextrema()[0] < 200, f"{alt}: blank image"
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html.lower() and "<link" not in html.lower()
    assert re.findall(r'src="(?!data:image/png;base64,)', html) == []


def test_report_sections_numbers_images(run, reports):
    for sample in ("sim_1", "sim_2"):
        html = (reports / f"{sample}.report.html").read_text()
        qc = json.loads((run["qc"] / f"{sample}_qc_summary.json").read_text())
        check_report(
            html, qc,
            ("warnings", "overview", "qc", "model", "umap", "composition", "markers", "protein"),
        )  # fmt: skip
        assert "Low cell count" in html  # 300-cell samples: below the 500-cell threshold
        assert "Barcode ranks</b>: no raw" in html and "Metrics</b>: no metrics JSON" in html


def test_mqc_files_equal_the_qc_json(run, reports):
    qc = json.loads((run["qc"] / "sim_1_qc_summary.json").read_text())
    text = (reports / "sim_1_scssl_cells_removed_mqc.tsv").read_text()
    assert "# id: scssl_cells_removed" in text and "plot_type: bargraph" in text
    header, row = [ln.split("\t") for ln in text.splitlines() if not ln.startswith("#")]
    values = dict(zip(header, row, strict=True))
    assert values["Sample"] == "sim_1" and int(values["kept"]) == qc["n_cells_pass"]
    for name, n in qc["removed_by"].items():
        assert int(values[name]) == n
    comp = (reports / "sim_1_scssl_cluster_composition_mqc.tsv").read_text().splitlines()[-1]
    assert sum(int(v) for v in comp.split("\t")[1:]) == qc["n_cells_pass"]
    loss = json.loads((reports / "scssl_loss_mqc.json").read_text())
    assert loss["plot_type"] == "linegraph" and loss["data"]["mae train"][:2] == [
        [1, 3.0],
        [2, 1.5],
    ]
    assert "scssl report:" in (reports / "scssl_mqc_versions.yml").read_text()


def test_summary_json_per_sample_figures(run, reports):
    summary = json.loads((reports / "summary.json").read_text())
    assert summary["format"] == "scssl-run-summary" and summary["run"]["n_samples"] == 2
    for sample, facts in summary["samples"].items():
        qc = json.loads((run["qc"] / f"{sample}_qc_summary.json").read_text())
        assert facts["qc"]["n_cells_pass"] == qc["n_cells_pass"] == facts["n_cells"]
        assert facts["qc"]["removed_by"] == qc["removed_by"]
        assert facts["qc"]["doublet_rate"] == qc["doublets"]["doublet_rate"]
        assert sum(facts["clusters"]["counts"].values()) == facts["n_cells"]
        assert facts["warnings"][0]["code"] == "low_cell_count"
    model = summary["models"][0]
    assert (model["family"], model["epochs"], model["best_epoch"]) == ("mae", 8, 8)
    assert model["final_train_loss"] == pytest.approx(3.0 / 8, abs=1e-4)
    assert summary["run"]["keys"]["cluster"] == "leiden_1.0"


def test_sections_without_data_are_left_out_with_a_note(run, tmp_path):
    """Only the preprocessed file: QC from uns, no map, clusters, labels, model or markers."""
    res = scssl("report", "--input", run["pre"], "--output", tmp_path, "--sample", "sim_2")
    assert res.returncode == 0, res.stderr
    html = (tmp_path / "sim_2.report.html").read_text()
    qc = json.loads((run["qc"] / "sim_2_qc_summary.json").read_text())
    check_report(html, qc, ("warnings", "overview", "qc", "protein", "omitted"))
    for sid in ("umap", "composition", "markers", "model", "metrics", "knee"):
        assert f'<section id="{sid}">' not in html
    for note in ("Cell map (UMAP)", "Model training", "Composition", "Top markers"):
        assert f"<b>{note}</b>" in html
    assert "show the 254 kept cells only" in html or "kept cells only" in html
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["sim_2.report.html"]
        + [f"sim_2_scssl_{k}_mqc.tsv" for k in ("report", "warnings", "qc_table", "cells_removed")]
    )


def test_knee_plot_from_a_raw_matrix(run, tmp_path):
    """Raw = the sample's cells plus 2,000 empty droplets; the plot marks called and kept."""
    from scipy import sparse

    from scssl.io import read_h5ad
    from scssl.io.write_10x import write_10x_mtx

    ing = read_h5ad(run["out"] / "ingest" / "sim_1.h5ad")
    rng = np.random.default_rng(0)
    empty = sparse.random(2000, ing.n_vars, density=0.002, random_state=0, format="csr")
    empty.data = rng.integers(1, 3, empty.nnz).astype(float)
    X = sparse.vstack([ing.layers["counts"], empty]).tocsr()
    barcodes = [*ing.obs["barcode"], *(f"EMPTY{i:08d}-1" for i in range(2000))]
    var = ing.var
    raw = write_10x_mtx(
        tmp_path / "raw", X, barcodes, var["gene_ids"], var["gene_symbols"], var["feature_types"]
    )
    out = tmp_path / "rep"
    steps_report.report(run["final"], out, samples=["sim_1"], qc_dir=run["qc"], raw={"sim_1": raw})
    html = (out / "sim_1.report.html").read_text()
    assert '<section id="knee">' in html and 'alt="barcode rank (knee) plot"' in html
    assert "Barcode ranks</b>" not in html


def test_same_inputs_same_bytes(run, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    for out in ("a", "b"):
        steps_report.report(run["final"], tmp_path / out, samples=["sim_1"], qc_dir=run["qc"])
    a, b = (tmp_path / d / "sim_1.report.html" for d in ("a", "b"))
    assert a.read_bytes() == b.read_bytes()
    assert "generated 2023-11-14 22:13 UTC" in a.read_text()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"samples": ["nope"]}, "no cells of sample 'nope' (samples there: sim_1, sim_2)"),
        ({"qc_dir": "{tmp}"}, "sim_1_qc_summary.json: no such file"),
        ({"cluster_key": "louvain"}, "--cluster-key 'louvain' is not an obs column"),
        ({"checkpoints": ["{tmp}"]}, "not a checkpoint folder with history.tsv"),
        ({"metrics": "{tmp}/m.json"}, "m.json: no such file (a metrics JSON)"),
        ({"raw": {"x": "/nope"}}, "--raw names sample(s) ['x'] not reported"),
    ],
)
def test_bad_inputs_name_the_problem_and_write_nothing(run, tmp_path, kwargs, message):
    empty = tmp_path / "empty"
    empty.mkdir()

    def fill(v):
        if isinstance(v, str):
            return v.replace("{tmp}", str(empty))
        return [fill(x) for x in v] if isinstance(v, list) else v

    out = tmp_path / "out"
    with pytest.raises(InputError) as err:
        steps_report.report(run["final"], out, **{k: fill(v) for k, v in kwargs.items()})
    assert message in str(err.value)
    assert not out.exists()


def test_bad_input_exit_code_2(run, tmp_path):
    res = scssl("report", "--input", run["final"], "--output", tmp_path / "o", "--sample", "x")
    assert res.returncode == 2 and "no cells of sample 'x'" in res.stderr
    assert not (tmp_path / "o").exists()


def test_not_an_h5ad(tmp_path):
    bad = tmp_path / "x.h5ad"
    bad.write_text("not hdf5")
    with pytest.raises(InputError, match=r"x.h5ad: not a readable .h5ad file"):
        steps_report.report(bad, tmp_path / "o")


@pytest.mark.skipif(importlib.util.find_spec("multiqc") is None, reason="MultiQC not installed")
def test_multiqc_run_report(run, reports, tmp_path):
    out = tmp_path / "multiqc"
    res = scssl("multiqc", "--input", reports, "--input", run["qc"], "--output", out)
    assert res.returncode == 0, res.stderr
    check_multiqc(out, run["qc"], ["sim_1", "sim_2"])


def check_multiqc(out: Path, qc_dir: Path, samples: list[str]) -> None:
    """MultiQC's parsed data: every scssl section, QC numbers equal to the QC JSON."""
    html = (out / "multiqc_report.html").read_text()
    for name in ("QC per sample", "Cells removed by QC", "Model training loss", "Warnings",
                 "Cluster composition", "Software Versions"):  # fmt: skip
        assert name in html, name
    data = out / "multiqc_report_data"
    table = (data / "multiqc_scssl_qc_table_plot.txt").read_text().splitlines()
    header = table[0].split("\t")
    rows = {r.split("\t")[0]: dict(zip(header, r.split("\t"), strict=True)) for r in table[1:]}
    assert sorted(rows) == sorted(samples)
    for sample in samples:
        qc = json.loads((qc_dir / f"{sample}_qc_summary.json").read_text())
        assert int(rows[sample]["n_cells_pass"]) == qc["n_cells_pass"]
        assert int(rows[sample]["n_cells_input"]) == qc["n_cells_input"]
    gs = (data / "multiqc_general_stats.txt").read_text()
    assert "custom_content_scssl_report-n_clusters" in gs
    assert "scssl report" in (data / "multiqc_software_versions.txt").read_text()


def test_multiqc_without_inputs_is_a_usage_error(tmp_path):
    with pytest.raises(InputError, match="no MultiQC files"):
        steps_report.multiqc([tmp_path], tmp_path / "o")


@pytest.mark.skipif(
    find_chromium() is None, reason="Chromium not on PATH (apt-get install chromium)"
)
def test_report_renders_in_headless_chromium(reports, tmp_path):
    png = screenshot(reports / "sim_1.report.html", tmp_path / "page.png", height=3000)
    assert blank_fraction(png) < 0.9
    from PIL import Image

    with Image.open(png) as im:
        assert im.size == (1300, 3000)
        top = im.convert("RGB").crop((0, 0, 1300, 60))
        assert top.getpixel((5, 5)) == (26, 54, 93)  # the header bar drew (#1a365d)
