"""Reports and the MultiQC report on real data: Kang 2018 ctrl + stim, and 10x pbmc4k.

The chain up to preprocess is the real one; clusters, UMAP, labels and metrics come from
``scssl cluster`` / ``annotate`` / ``evaluate`` when they are installed (else KMeans on PCA);
the model section reads a checkpoint's history and config (training is tested elsewhere).
The pages are rendered in Chromium by tests/cli/test_report_cli.py (simulated run) and by
benchmarks/report_screenshots.py (a Kang run, for docs/images).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pandas as pd
import pytest

from scssl import io, pp, steps_report

from .._report_data import add_fake_analysis, fake_checkpoint, preprocessed, qc_samples
from ..cli.test_report_cli import check_multiqc, check_report

CASES = {
    "kang": {"ctrl": "kang2018_ifnb_ctrl", "stim": "kang2018_ifnb_stim"},
    "pbmc4k": {"pbmc4k": "pbmc4k_2170_labeled"},
}
HAS_ANNOTATE = importlib.util.find_spec("scssl.steps_annotate") is not None


def analysed(pre: Path, out: Path, labels: Path | None) -> tuple[Path, Path | None]:
    """Cluster + UMAP + marker annotation (+ metrics against known labels)."""
    if not HAS_ANNOTATE:
        return add_fake_analysis(pre, out / "final.h5ad"), None
    from scssl.steps_annotate import ClusterParams, annotate, cluster, evaluate

    cluster(pre, out / "cluster.h5ad", params=ClusterParams(n_marker_genes=10))
    annotate(out / "cluster.h5ad", out / "final.h5ad", markers="pbmc_human")
    if labels is None:
        return out / "final.h5ad", None
    adata = io.read_h5ad(out / "final.h5ad")
    truth = pd.read_csv(labels, index_col="barcode")["Annotation"]
    adata.obs["truth"] = truth.reindex(adata.obs["barcode"].astype(str)).fillna("?").to_numpy()
    io.write_h5ad(adata, out / "final.h5ad")
    evaluate(out / "final.h5ad", out / "metrics.json", label_key="truth")
    return out / "final.h5ad", out / "metrics.json"


@pytest.fixture(scope="module", params=list(CASES))
def real_run(request, cellranger, tmp_path_factory):
    name = request.param
    out = tmp_path_factory.mktemp(name)
    samples = {s: cellranger / d for s, d in CASES[name].items()}
    qc_files = qc_samples(samples, out, thresholds=pp.QCThresholds(min_genes=100))
    pre = preprocessed(qc_files, out, n_top_genes=1000)
    labels = samples["pbmc4k"] / "cell_labels.csv" if name == "pbmc4k" else None
    final, metrics = analysed(pre, out, labels)
    ckpt = fake_checkpoint(out / "pretrain" / "mae")
    rep = out / "report"
    steps_report.report(final, rep, qc_dir=out / "qc", checkpoints=[ckpt], metrics=metrics)
    steps_report.summary(final, rep / "summary.json", qc_dir=out / "qc", checkpoints=[ckpt])
    return {"name": name, "out": out, "report": rep, "qc": out / "qc", "samples": list(samples)}


@pytest.mark.realdata
def test_real_reports_contents(real_run):
    sections = ["warnings", "overview", "qc", "model", "umap", "composition", "markers"]
    if HAS_ANNOTATE:
        sections.append("annotation")
    if real_run["name"] == "pbmc4k" and HAS_ANNOTATE:
        sections.append("metrics")
    summary = json.loads((real_run["report"] / "summary.json").read_text())
    for sample in real_run["samples"]:
        html = (real_run["report"] / f"{sample}.report.html").read_text()
        qc = json.loads((real_run["qc"] / f"{sample}_qc_summary.json").read_text())
        check_report(html, qc, tuple(sections))
        facts = summary["samples"][sample]
        assert facts["qc"]["n_cells_pass"] == qc["n_cells_pass"] == facts["n_cells"]
        assert facts["clusters"]["n_clusters"] >= 3
        assert qc["n_cells_pass"] > 900
    if real_run["name"] == "kang" and HAS_ANNOTATE:
        # IFN-beta stimulation shifts every cell type and nothing integrates the samples: most
        # clusters belong to one condition, and the report says so at the top of both pages
        for sample in ("ctrl", "stim"):
            facts = summary["samples"][sample]
            assert facts["clusters"]["sample_specific_fraction"] > 0.5
            assert "poor_mixing" in [w["code"] for w in facts["warnings"]]
    if real_run["name"] == "pbmc4k" and HAS_ANNOTATE:
        metrics = json.loads((real_run["out"] / "metrics.json").read_text())
        ari = metrics["clusters"]["leiden_1.0"]["ari"]
        html = (real_run["report"] / "pbmc4k.report.html").read_text()
        assert (
            "<h3>clusters</h3>" in html
            and f'<td>leiden_1.0 / ari</td><td class="num">{ari:,.4f}' in html
        )


@pytest.mark.realdata
@pytest.mark.skipif(importlib.util.find_spec("multiqc") is None, reason="MultiQC not installed")
def test_real_multiqc_report(real_run, tmp_path):
    out = tmp_path / "multiqc"
    steps_report.multiqc([real_run["report"], real_run["qc"]], out)
    check_multiqc(out, real_run["qc"], real_run["samples"])
