"""Each subcommand end to end on files, as the Nextflow modules call them."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scanpy as sc
from click.testing import CliRunner

from scssl import __version__
from scssl.cli import cli
from scssl.io import read_h5ad

STEPS = ("ingest", "qc", "merge", "preprocess", "simulate", "run")


def scssl(*args) -> subprocess.CompletedProcess:
    res = subprocess.run(
        [sys.executable, "-m", "scssl.cli", *map(str, args)], capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    return res


def test_help_lists_every_option_with_defaults():
    runner = CliRunner()
    res = runner.invoke(cli, ["--help"])
    assert res.exit_code == 0
    for step in STEPS:
        assert step in res.output
    qc = runner.invoke(cli, ["qc", "--help"]).output
    assert "--n-mads" in qc and "[default: 5.0]" in qc and "--max-pct-mt" in qc
    assert runner.invoke(cli, ["--version"]).output.strip().endswith(__version__)


def _hash(adata) -> str:
    h = hashlib.sha256()
    for m in (adata.X, adata.layers["counts"]):
        h.update(m.data.tobytes() + m.indices.tobytes() + m.indptr.tobytes())
    for k in sorted(adata.obsm):
        h.update(np.ascontiguousarray(np.asarray(adata.obsm[k])).tobytes())
    h.update(adata.obs_names.to_numpy().astype(str).tobytes())
    return h.hexdigest()


def _chain(sim_dir: Path, out: Path, seed: int) -> Path:
    qc_files = []
    for s in ("sim_1", "sim_2"):
        scssl(
            "ingest",
            "--input",
            sim_dir / s / "outs",
            "--output",
            out / f"{s}.h5ad",
            "--sample",
            s,
            "--meta",
            f"batch=b_{s}",
            "--meta",
            "condition=ctrl",
            "--meta",
            "expected_cells=400",
        )
        scssl(
            "qc",
            "--input",
            out / f"{s}.h5ad",
            "--output",
            out / "qc" / f"{s}.h5ad",
            "--seed",
            seed,
            "--threads",
            1,
        )
        qc_files += ["--input", out / "qc" / f"{s}.h5ad"]
    scssl("merge", *qc_files, "--output", out / "merged.h5ad")
    scssl(
        "preprocess",
        "--input",
        out / "merged.h5ad",
        "--output",
        out / "pre.h5ad",
        "--n-top-genes",
        500,
        "--hvg-output",
        out / "hvg.h5ad",
        "--seed",
        seed,
    )
    return out / "pre.h5ad"


@pytest.fixture(scope="module")
def chain(sim_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("chain")
    return _chain(sim_dir, out, 0)


def test_chain_outputs_open_in_scanpy(chain, sim_dir):
    out = chain.parent
    pre = sc.read_h5ad(chain)  # plain scanpy, as a user would
    assert pre.layers["counts"].dtype == np.float32
    assert "X_pca" in pre.obsm and pre.obsm["X_pca"].shape[1] == 50
    assert pre.var["highly_variable"].sum() == 500
    assert set(pre.obs["batch"]) == {"b_sim_1", "b_sim_2"}
    assert set(pre.obs["condition"]) == {"ctrl"}
    # raw counts in layers['counts'] equal the Cell Ranger input for the kept cells
    raw = sc.read_10x_mtx(sim_dir / "sim_1" / "outs" / "filtered_feature_bc_matrix", gex_only=True)
    raw.obs_names = "sim_1_" + raw.obs_names
    cells = pre.obs_names[pre.obs["sample"] == "sim_1"]
    ref = raw[
        cells, pre.var["gene_ids"].map(dict(zip(raw.var["gene_ids"], raw.var_names, strict=True)))
    ].X
    assert (pre[cells].layers["counts"] != ref).nnz == 0
    # protein counts survive every step, named
    prot = pre.obsm["protein_counts"]
    assert isinstance(prot, pd.DataFrame) and prot.shape[1] == 12
    assert all(c.endswith("_TotalSeqB") for c in prot.columns)
    hvg = read_h5ad(out / "hvg.h5ad")
    assert hvg.n_vars == 500 and list(hvg.var_names) == list(pre.uns["hvg"]["genes"])
    for f in ("sim_1_qc_summary.tsv", "sim_1_qc_summary.json", "sim_1_qc_mqc.tsv", "sim_1_qc.png"):
        assert (out / "qc" / f).is_file()
    assert not list(out.rglob("*.tmp*"))


def test_preprocess_pca_is_of_scaled_genes_unless_no_scale_pca(chain, tmp_path):
    """Default: PCA of the z-scored HVGs (clipped at 10); --no-scale-pca: of log-normalized."""
    pre = read_h5ad(chain)
    assert pre.uns["pca"]["params"]["scale"]
    X = pre.X[:, pre.var["highly_variable"].to_numpy()].toarray()
    z = np.clip((X - X.mean(0)) / X.std(0, ddof=1).clip(1e-12), -10, 10)
    pc1 = np.linalg.svd(z - z.mean(0), full_matrices=False)[0][:, 0]
    assert abs(np.corrcoef(pc1, pre.obsm["X_pca"][:, 0])[0, 1]) > 0.999
    scssl(
        "preprocess",
        "--input",
        chain.parent / "merged.h5ad",
        "--output",
        tmp_path / "plain.h5ad",
        "--n-top-genes",
        500,
        "--no-scale-pca",
    )
    plain = read_h5ad(tmp_path / "plain.h5ad")
    assert not plain.uns["pca"]["params"]["scale"]
    lc = X - X.mean(0)
    pc1 = np.linalg.svd(lc, full_matrices=False)[0][:, 0]
    assert abs(np.corrcoef(pc1, plain.obsm["X_pca"][:, 0])[0, 1]) > 0.999


def test_same_seed_same_bytes(chain, sim_dir, tmp_path):
    again = _chain(sim_dir, tmp_path, 0)
    assert _hash(read_h5ad(again)) == _hash(read_h5ad(chain))


def _options(command: str) -> set[str]:
    return {p.name for p in cli.commands[command].params}


def test_every_step_setting_is_a_cli_option():
    from dataclasses import fields

    from scssl.pp import PreprocessParams, QCParams, QCThresholds

    renamed = {"mode": "filter_mode", "remove_doublets": "keep_doublets"}
    qc_fields = {renamed.get(f.name, f.name) for f in fields(QCThresholds) + fields(QCParams)}
    assert qc_fields - {"thresholds", "extra"} <= _options("qc")
    assert {f.name for f in fields(PreprocessParams)} <= _options("preprocess")
