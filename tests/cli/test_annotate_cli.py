"""scssl cluster / finetune / annotate / evaluate end to end on files, and their bad inputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from scssl.cli import cli
from scssl.io import read_h5ad, write_h5ad
from tests._annot_data import quick_encoder, sim_preprocessed


@pytest.fixture(scope="module")
def files(sim_dir, tmp_path_factory):
    """pre.h5ad (two samples), ref.h5ad (sample 1 only), an encoder and a marker CSV."""
    out = tmp_path_factory.mktemp("annot_cli")
    adata = sim_preprocessed(sim_dir)
    write_h5ad(adata, out / "pre.h5ad")
    write_h5ad(adata[adata.obs["batch"] == "b_sim_1"].copy(), out / "ref.h5ad")
    quick_encoder(adata, out / "enc")
    return out


def run(*args) -> None:
    res = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert res.exit_code == 0, res.output


def test_cluster_finetune_annotate_evaluate(files):
    d = files
    run(
        "cluster", "--input", d / "pre.h5ad", "--output", d / "cl" / "c.h5ad",
        "--resolution", 0.5, "--resolution", 1.0, "--n-clusters", 5, "--threads", 1,
    )  # fmt: skip
    for f in ("c_markers.tsv", "c_clusters.json", "c_clusters_mqc.tsv", "c_umap.png"):
        assert (d / "cl" / f).is_file(), f
    pre, c = read_h5ad(d / "pre.h5ad"), read_h5ad(d / "cl" / "c.h5ad")
    assert {"leiden_0.5", "leiden_1.0", "kmeans"} <= set(c.obs) and c.obsm["X_umap"].shape[1] == 2
    assert (c.layers["counts"] != pre.layers["counts"]).nnz == 0
    pd.testing.assert_frame_equal(c.obsm["protein_counts"], pre.obsm["protein_counts"])
    markers = pd.read_csv(d / "cl" / "c_markers.tsv", sep="\t")
    assert set(markers["cluster"].astype(str)) == set(c.obs["leiden_0.5"])
    summary = json.loads((d / "cl" / "c_clusters.json").read_text())
    assert summary["metrics"]["batch"]["n_batches"] == 2
    assert (d / "cl" / "c_clusters_mqc.tsv").read_text().startswith("# id: scssl_clusters")

    run(
        "finetune", "--reference", d / "ref.h5ad", "--checkpoint", d / "enc",
        "--label_key", "cell_type", "--output", d / "clf", "--max-epochs", 20, "--device", "cpu",
    )  # fmt: skip
    for f in ("model.safetensors", "config.json", "summary.json", "validation_mqc.tsv"):
        assert (d / "clf" / f).is_file(), f

    run(
        "annotate", "--input", d / "cl" / "c.h5ad", "--classifier", d / "clf",
        "--output", d / "an" / "a.h5ad", "--device", "cpu",
    )  # fmt: skip
    a = read_h5ad(d / "an" / "a.h5ad")
    truth = a.obs["cell_type"].astype(str)
    assert (a.obs["scssl_label"].astype(str) == truth).mean() >= 0.95
    assert {"scssl_label_prob", "scssl_label_evidence", "scssl_label_cluster"} <= set(a.obs)
    assert (a.layers["counts"] != pre.layers["counts"]).nnz == 0 and "protein_counts" in a.obsm
    for f in ("a_annotation.json", "a_annotation_clusters.tsv", "a_labels_mqc.tsv"):
        assert (d / "an" / f).is_file(), f

    run("evaluate", "--input", d / "an" / "a.h5ad", "--output", d / "ev" / "m.json",
        "--label-key", "cell_type")  # fmt: skip
    m = json.loads((d / "ev" / "m.json").read_text())
    assert m["labels"]["scssl_label"]["macro_f1"] >= 0.9 and m["clusters"]["kmeans"]["ari"] > 0.8
    for f in ("m_mqc.tsv", "m_confusion.tsv", "m_confusion.png", "m_confusion_mqc.yaml"):
        assert (d / "ev" / f).is_file(), f
    assert not list(d.rglob("*.tmp*"))


def test_marker_annotation_from_a_user_table(files):
    d = files
    pre = read_h5ad(d / "pre.h5ad")
    ref = pre[pre.obs["batch"] == "b_sim_1"]
    rows = []
    for t in sorted(ref.obs["cell_type"].unique()):
        inside = np.asarray(ref[ref.obs["cell_type"] == t].X.mean(axis=0)).ravel()
        rest = np.asarray(ref[ref.obs["cell_type"] != t].X.mean(axis=0)).ravel()
        rows += [(t, g) for g in ref.var_names[np.argsort(rest - inside)[:5]]]
    pd.DataFrame(rows, columns=["cell_type", "gene"]).to_csv(d / "m.csv", index=False)
    run("annotate", "--input", d / "pre.h5ad", "--markers", d / "m.csv",
        "--output", d / "mk" / "a.h5ad")  # fmt: skip
    a = read_h5ad(d / "mk" / "a.h5ad")
    assert (a.obs["scssl_label"].astype(str) == a.obs["cell_type"].astype(str)).mean() >= 0.9
    assert "scssl_label_score" in a.obs and "scssl_label_cluster" not in a.obs  # no clustering


def test_same_seed_same_clusters(files, tmp_path):
    outs = []
    for i in (1, 2):
        run("cluster", "--input", files / "pre.h5ad", "--output", tmp_path / f"c{i}.h5ad",
            "--n-marker-genes", 0, "--seed", 3)  # fmt: skip
        outs.append(read_h5ad(tmp_path / f"c{i}.h5ad"))
    assert (outs[0].obs["leiden_1.0"] == outs[1].obs["leiden_1.0"]).all()
    np.testing.assert_array_equal(outs[0].obsm["X_umap"], outs[1].obsm["X_umap"])


def main_exit(capsys, *args) -> tuple[int, str]:
    """Run ``scssl.cli.main`` in-process (the CLI's error-to-exit-code path); code, stderr."""
    from scssl.cli import main

    argv = sys.argv
    sys.argv = ["scssl", *map(str, args)]
    try:
        with pytest.raises(SystemExit) as exc:
            main()
    finally:
        sys.argv = argv
    return exc.value.code, capsys.readouterr().err


def _empty(folder: Path) -> bool:
    return not folder.exists() or not any(folder.iterdir())


def test_bad_inputs_exit_2_with_a_message_and_no_output(files, tmp_path, capsys):
    d = files
    out = tmp_path / "out"
    pre = read_h5ad(d / "pre.h5ad")
    write_h5ad(pre[:, : pre.n_vars // 5].copy(), tmp_path / "few.h5ad")
    cases = [
        (("finetune", "--reference", d / "ref.h5ad", "--checkpoint", d / "enc",
          "--label-key", "celltype", "--output", out / "clf"),
         ("--label-key 'celltype': no such obs column", "cell_type")),
        (("finetune", "--reference", tmp_path / "few.h5ad", "--checkpoint", d / "enc",
          "--label-key", "cell_type", "--output", out / "clf"),
         ("of the checkpoint's 500 genes are in the data", "--min-overlap")),
        (("annotate", "--input", d / "pre.h5ad", "--output", out / "a.h5ad"),
         ("give either --classifier",)),
        (("annotate", "--input", d / "pre.h5ad", "--output", out / "a.h5ad",
          "--markers", tmp_path / "none.csv"),
         ("none.csv: marker table not found", "pbmc_human")),
        (("annotate", "--input", d / "pre.h5ad", "--output", out / "a.h5ad",
          "--classifier", d / "enc"),
         ("an encoder checkpoint", "scssl finetune")),
        (("cluster", "--input", d / "pre.h5ad", "--output", out / "c.h5ad",
          "--use-rep", "X_nope"),
         ("--use-rep 'X_nope': no such obsm key", "X_pca")),
        (("evaluate", "--input", d / "pre.h5ad", "--output", out / "m.json",
          "--label-key", "truth"),
         ("--label-key 'truth': no such obs column",)),
    ]  # fmt: skip
    for args, needles in cases:
        code, err = main_exit(capsys, *args)
        assert code == 2, (args, err)
        assert all(n in err for n in needles), (needles, err)
        assert "Traceback" not in err and _empty(out), list(out.iterdir())
    # and once as a separate process, as Nextflow runs it
    res = subprocess.run(
        [sys.executable, "-m", "scssl.cli", "annotate", "--input", str(d / "pre.h5ad"),
         "--output", str(out / "a.h5ad"), "--markers", "pancreas_mouse"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert res.returncode == 2 and "only 0 of its 41 genes are in the data" in res.stderr
    assert _empty(out)


def test_help_lists_the_new_steps_with_defaults():
    runner = CliRunner()

    def text(*args: str) -> str:
        return " ".join(runner.invoke(cli, list(args)).output.split())

    top = text("--help")
    for step in ("cluster", "finetune", "annotate", "evaluate"):
        assert step in top
    ft = text("finetune", "--help")
    assert "--label-key" in ft and "[default: full]" in ft and "knn|linear|full" in ft
    an = text("annotate", "--help")
    assert "--min-confidence" in an and "[default: 0.5]" in an and "pbmc_human" in an
    cl = text("cluster", "--help")
    assert "--resolution" in cl and "--n-clusters" in cl and "[default: wilcoxon]" in cl
