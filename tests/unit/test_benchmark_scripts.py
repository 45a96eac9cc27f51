"""The GPU throughput script runs end to end (its CPU functional mode), so a GPU session
does not find it broken."""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from scssl.models import FAMILIES

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def _bench(name: str):
    """Import ``benchmarks/<name>.py`` (benchmark scripts import their siblings by name)."""
    sys.path.insert(0, str(BENCH))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCH))


@pytest.fixture(scope="module")
def throughput_gpu():
    # kept on sys.path for the test: the script imports siblings (SCVI's runner) when it runs
    sys.path.insert(0, str(BENCH))
    try:
        yield importlib.import_module("throughput_gpu")
    finally:
        sys.path.remove(str(BENCH))


def test_gpu_throughput_script_trains_every_family_in_cpu_mode(throughput_gpu, tmp_path):
    out_json, out_md = tmp_path / "gpu.json", tmp_path / "bench.md"
    argv = ["--device", "cpu", "--n-cells", "1500", "--batch-sizes", "256", "--epochs", "2"]
    rc = throughput_gpu.main([*argv, "--out-json", str(out_json), "--out-md", str(out_md)])
    assert rc == 0
    res = json.loads(out_json.read_text())
    assert [r["family"] for r in res["runs"]] == list(FAMILIES)
    for r in res["runs"]:
        assert r["cells_per_s"] > 0 and r["epochs"] == 2
        assert 0 < r["data_fraction"] < 1
    md = out_md.read_text()
    assert "| model | batch | cells/s | ÷ SCVI | data wait | peak GiB |" in md
    assert "not applicable (CPU functional check)" in md
    if importlib.util.find_spec("scvi") is None:  # an optional benchmark dependency
        assert set(res["skipped"]) == {"scvi"} and ".[bench]" in res["skipped"]["scvi"]
    else:
        assert res["skipped"] == {}
        assert res["scvi"]["cells_per_s"] > 0 and res["scvi"]["epochs"] == 3
        mae = res["runs"][0]["cells_per_s"] / res["scvi"]["cells_per_s"]
        assert f"| {mae:.1f}× |" in md and "| scvi-tools SCVI | 128 |" in md


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal without CUDA")
def test_gpu_throughput_script_refuses_without_cuda(throughput_gpu, tmp_path, capsys):
    assert throughput_gpu.main(["--out-json", str(tmp_path / "x.json")]) == 2
    assert "no CUDA device is available" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


def _ari_rows(aris: dict[tuple[str, str], float]) -> list[dict]:
    """quality.py result records with only a KMeans ARI: {(dataset, config): ari}."""
    return [{"dataset": d, "config": c, "metrics": {"kmeans_ari": a}} for (d, c), a in aris.items()]


# the two PCAs and the mae default on one RNA and one CITE-seq data set
_BASE_ARIS = {
    ("pbmc", "pca"): 0.60,
    ("pbmc", "pca scaled"): 0.68,
    ("pbmc", "mae"): 0.70,
    ("cbmc", "pca"): 0.50,
    ("cbmc", "pca scaled"): 0.55,
    ("cbmc", "mae"): 0.51,
    ("cbmc", "mae +protein"): 0.56,
}


def test_quality_summary_counts_cite_seq_as_run_with_its_proteins():
    """The summary's 'as run' row scores CBMC with the +protein run (what `scssl pretrain`
    does on CITE-seq by default) and every other data set with the plain default run."""
    report = _bench("_quality_report")
    lines = report._summary(report._by(_ari_rows(_BASE_ARIS)), ["mae"])
    plain = next(x for x in lines if x.startswith("| `mae` (defaults) |"))
    as_run = next(x for x in lines if "as `scssl pretrain` runs it" in x)
    # margins over PCA, then over scaled PCA, each with the data sets won by >= 0.03
    assert "| 0.605 | +0.055 | 1/2: pbmc | -0.010 | 0/2 |" in plain
    assert "| 0.630 | +0.080 | 2/2: pbmc, cbmc | +0.015 | 0/2 |" in as_run
    scaled = next(x for x in lines if x.startswith("| scaled PCA |"))
    assert "| 0.615 | +0.065 | 2/2: pbmc, cbmc | – | – |" in scaled


def test_quality_summary_lists_opt_in_settings_apart_from_the_defaults():
    """An opt-in setting (``OPT_INS``) gets its own summary rows, named as opt-in, with its
    CITE-seq row scored on its own +protein run, never mixed into the default's rows."""
    report = _bench("_quality_report")
    configs = _bench("_quality_configs")
    opt = next(iter(configs.OPT_INS))
    aris = {
        **_BASE_ARIS,
        ("pbmc", opt): 0.74,
        ("cbmc", opt): 0.57,
        ("cbmc", f"{opt} +protein"): 0.60,
    }
    lines = report._summary(report._by(_ari_rows(aris)), ["mae"])
    fam, _, setting = opt.partition(" ")
    plain = next(x for x in lines if x.startswith(f"| `{fam}` {setting} (opt-in) |"))
    as_run = next(x for x in lines if x.startswith(f"| `{fam}` {setting} (opt-in), CITE-seq"))
    assert "| 0.655 | +0.105 | 2/2: pbmc, cbmc | +0.040 | 1/2: pbmc |" in plain
    assert "| 0.670 | +0.120 | 2/2: pbmc, cbmc | +0.055 | 2/2: pbmc, cbmc |" in as_run
    default = next(x for x in lines if x.startswith("| `mae` (defaults) |"))
    assert "| 0.605 |" in default
    grid, _ = configs.build_grid(("mae",))
    names = {r.name: r for r in grid}
    assert names[opt].model_config == configs.OPT_INS[opt][1] and not names[opt].default
    assert names[f"{opt} +protein"].use_protein
    assert names[f"{opt} +protein"].datasets == configs.PROTEIN_DATASETS


def test_leiden_resolution_scores_separated_blobs_perfectly():
    lr = _bench("leiden_resolution")
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 20, (4, 6))
    labels = np.repeat(np.array(list("abcd")), 80)
    emb = centres[np.repeat(np.arange(4), 80)] + rng.normal(0, 1, (320, 6))
    scored = np.ones(320, bool)
    scored[-20:] = False  # unlabelled 'd' cells: clustered, not scored, not a match
    s = lr.scores(emb, labels, scored)
    expected = (240 + 60 * 59 / 79) / 300  # 60 labelled d cells: 59 of 79 d neighbours
    assert s["n_classes"] == 4 and s["purity"] == pytest.approx(expected, abs=0.02)
    assert s["true_k"]["n_clusters"] == 4 and s["true_k"]["ari"] == pytest.approx(1.0)
    mixed = lr.knn_purity(rng.normal(size=(320, 6)), labels, np.ones(320, bool))
    assert 0.15 < mixed < 0.4  # random points: ~1 in 4 neighbours share the label
    assert set(s["fixed"]) == {"0.25", "0.5", "1.0"}


def test_quality_training_seed_replicates_are_found_and_averaged(tmp_path):
    """Runs saved under training seeds 1 and 2 sit beside the seed-0 file of the same config
    (and not of a config whose name extends it); a row shows their mean and their sd."""
    seeds = _bench("_seeds")
    for name in (
        "cbmc__mae.json",
        "cbmc__mae__seed2.json",
        "cbmc__mae__seed1.json",
        "cbmc__mae_+protein__seed1.json",
        "pbmc__mae__seed3.json",
    ):
        (tmp_path / name).write_text("{}")
    assert seeds.saved_seeds(tmp_path, "cbmc", "mae") == [0, 1, 2]
    assert seeds.saved_seeds(tmp_path, "cbmc", "mae_+protein") == [1]
    assert seeds.run_path(tmp_path, "cbmc", "mae", 0).name == "cbmc__mae.json"
    assert seeds.run_path(tmp_path, "cbmc", "mae", 2).name == "cbmc__mae__seed2.json"

    def rec(seed, ari, k, secs):
        m = {"kmeans_ari": ari, "kmeans_ari_sd": 0.001, "leiden_n_clusters": k}
        return {
            "train_config": {"seed": seed},
            "metrics": m,
            "metrics_alt": dict(m),
            "train_seconds": secs,
            "n_epochs": 40,
        }

    merged = seeds.merge_seeds(
        [rec(2, 0.6, 20, 30.0), rec(0, 0.5, 18, 10.0), rec(1, 0.7, 19, 20.0)]
    )
    assert merged["train_seeds"] == [0, 1, 2] and merged["train_seconds"] == pytest.approx(20)
    assert merged["metrics"]["kmeans_ari"] == pytest.approx(0.6)
    assert merged["metrics"]["kmeans_ari_sd"] == pytest.approx(np.std([0.5, 0.6, 0.7]))
    assert merged["metrics"]["leiden_n_clusters"] == pytest.approx(19)
    one = seeds.merge_seeds([rec(0, 0.5, 18, 10.0)])
    assert one["train_seeds"] == [0] and one["metrics"]["kmeans_ari_sd"] == 0.001


def test_quality_table_marks_rows_averaged_over_training_seeds():
    report = _bench("_quality_report")
    m = {
        "kmeans_ari": 0.6123,
        "kmeans_ari_sd": 0.05,
        "kmeans_nmi": 0.7,
        "leiden_ari": 0.5,
        "leiden_nmi": 0.6,
        "leiden_n_clusters": 19.666,
    }
    base = {"family": "mae", "default": True, "order": 1, "label": "mae", "metrics": m}
    rows = {
        "mae": {**base, "train_seeds": [0, 1, 2], "train_seconds": 12.0, "n_epochs": 40.0},
        "pca": {
            **base,
            "family": "pca",
            "default": True,
            "order": 0,
            "label": "PCA",
            "metrics": {**m, "leiden_n_clusters": 14},
        },
    }
    lines = report._dataset_table(rows)
    mae = next(x for x in lines if x.startswith("| **mae**"))
    pca = next(x for x in lines if x.startswith("| **PCA**"))
    assert "| 0.612 ± 0.050 (3 seeds) |" in mae and "| 19.7 | 12 (40 ep) |" in mae
    assert "seeds" not in pca and "| 14 | – |" in pca


def test_annotate_benchmark_trains_its_encoder_with_the_seed_asked_for(pre_file, tmp_path):
    """``--encoder-seed`` reaches the pretraining (a saved encoder of another seed is trained
    again) and is refused for the parts that do not use it."""
    import anndata as ad

    aq = _bench("annotate_quality")
    with pytest.raises(SystemExit):
        aq._args(["--encoder-seed", "1"])
    quick = ["--pretrain-epochs", "2", "--pretrain-min-steps", "0"]
    args = aq._args(["--encoder-seed", "1", "--parts", "transfer", *quick])
    assert args.encoder_seed == 1
    adata = ad.read_h5ad(pre_file)
    folder = tmp_path / "enc"
    weights = {}
    for seed in (0, 1):
        args.encoder_seed = seed
        aq._encoder_of(adata, folder, args)
        saved = json.loads((folder / "config.json").read_text())
        assert saved["train_config"]["seed"] == seed
        weights[seed] = (folder / "model.safetensors").read_bytes()
    assert weights[0] != weights[1]


def test_annotate_report_shows_transfer_over_encoder_seeds():
    """Runs of other encoder seeds get their own table: per-seed means over the classifier
    seeds, and the target verdict from the mean over encoder seeds, not from seed 0 alone."""
    rep = _bench("_annotate_report")

    def result(full: list[float]) -> dict:
        runs = [{"mode": "full", "seed": s, "cell": {"macro_f1": f}} for s, f in enumerate(full)]
        return {"pbmc4k_2170": {"runs": runs}}

    saved = {
        "transfer": {"result": result([0.975, 0.971, 0.972])},
        "transfer_encoder_seed2": {"result": result([0.960, 0.962, 0.964]), "when": "d2"},
        "transfer_encoder_seed1": {"result": result([0.966, 0.968, 0.967]), "when": "d1"},
    }
    text = "\n".join(rep._encoder_seeds(saved))
    assert "encoder seed 0 | encoder seed 1 | encoder seed 2" in text
    assert "| 0.973 | 0.967 | 0.962 | 0.967 ± 0.005 |" in text
    assert "10x pbmc4k 0.9672 (target 0.97: **FAIL**)" in text
    assert rep._encoder_seeds({"transfer": saved["transfer"]}) == []
