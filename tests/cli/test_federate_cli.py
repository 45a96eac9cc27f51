"""``scssl federate`` through the real CLI: a round by hand, and refusals with exit code 2,
a message naming the site's file, and no output."""

from __future__ import annotations

import json
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from scssl import io

from .test_bad_inputs import assert_fails, scssl

GENES = [f"G{i}" for i in range(30)]


def _site(path: Path, genes: list[str], seed: int) -> Path:
    rng = np.random.default_rng(seed)
    counts = sparse.csr_matrix(rng.poisson(2.0, (80, len(genes))).astype(np.float32))
    a = ad.AnnData(X=counts, var=pd.DataFrame(index=genes), layers={"counts": counts.copy()})
    a.X = sparse.csr_matrix(np.log1p(counts.toarray()).astype(np.float32))
    a.uns["log1p"] = {"base": None}
    a.var["highly_variable"] = True
    return io.write_h5ad(a, path)


@pytest.fixture(scope="module")
def round1(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("fedcli")
    a = _site(tmp / "a.h5ad", GENES, 0)
    b = _site(tmp / "b.h5ad", [*GENES[5:], "X1", "X2"], 1)  # lacks G0..G4
    for site, h5ad in (("a", a), ("b", b)):
        res = scssl("federate", "genes", "--input", h5ad, "--output", tmp / f"{site}.txt")
        assert res.returncode == 0, res.stderr
    init = ["--genes", tmp / "a.txt", "--genes", tmp / "b.txt", "--set", "hidden=[16]"]
    res = scssl("federate", "init", *init, "--output", tmp / "g0")
    assert res.returncode == 0, res.stderr
    for site, h5ad in (("a", a), ("b", b)):
        res = scssl(
            "federate", "local-train", "--input", h5ad, "--global", tmp / "g0",
            "--output", tmp / site, "--site", site, "--local-epochs", "1", "--device", "cpu",
        )  # fmt: skip
        assert res.returncode == 0, res.stderr
        if site == "b":  # missing genes are zero-filled and reported
            assert "2 of 32 genes of the shared list are not measured here" not in res.stderr
            assert "5 of 32 genes of the shared list are not measured here" in res.stderr
    return {"tmp": tmp, "g0": tmp / "g0", "a": tmp / "a", "b": tmp / "b"}


def test_a_round_by_hand(round1):
    out = round1["tmp"] / "g1"
    res = scssl(
        "federate", "aggregate", "--input", round1["a"], "--input", round1["b"],
        "--global", round1["g0"], "--output", out,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["federated"]["round"] == 1 and cfg["federated"]["sites"] == ["a", "b"]
    assert cfg["spec"]["genes"] == [*GENES, "X1", "X2"]
    assert json.loads((round1["b"] / "site.json").read_text())["genes"]["n_missing"] == 5


def _copy_site(src: Path, dst: Path, edit) -> Path:
    dst.mkdir()
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    cfg = json.loads((dst / "config.json").read_text())
    edit(cfg)
    (dst / "config.json").write_text(json.dumps(cfg))
    return dst


@pytest.mark.parametrize(
    ("name", "edit", "needle"),
    [
        ("genes", lambda c: c["spec"]["genes"].pop(), "gene list differs from the global"),
        ("config", lambda c: c["model_config"].update(hidden=[32]), "model config differs"),
    ],
)
def test_incompatible_site_is_refused(round1, tmp_path, name, edit, needle):
    bad = _copy_site(round1["b"], tmp_path / f"b_{name}", edit)
    out = tmp_path / "g1"
    res = scssl(
        "federate", "aggregate", "--input", round1["a"], "--input", bad,
        "--global", round1["g0"], "--output", out,
    )  # fmt: skip
    assert_fails(res, out, f"{bad}/config.json", needle, "refusing to average it")


def test_site_folder_with_expression_data_is_refused(round1, tmp_path):
    leaky = _copy_site(round1["b"], tmp_path / "leaky", lambda c: None)
    (leaky / "counts.h5ad").write_bytes((round1["tmp"] / "b.h5ad").read_bytes())
    out = tmp_path / "g1"
    res = scssl(
        "federate", "aggregate", "--input", round1["a"], "--input", leaky,
        "--global", round1["g0"], "--output", out,
    )  # fmt: skip
    assert_fails(res, out, f"{leaky}: holds ['counts.h5ad']", "expression data never leaves")


def test_local_train_refuses_a_plain_checkpoint_and_foreign_genes(round1, tmp_path):
    plain = _copy_site(round1["a"], tmp_path / "plain", lambda c: c.pop("federated"))
    (plain / "site.json").unlink()
    out = tmp_path / "site"
    res = scssl(
        "federate", "local-train", "--input", round1["tmp"] / "a.h5ad", "--global", plain,
        "--output", out, "--site", "a",
    )  # fmt: skip
    assert_fails(res, out, f"{plain}/config.json: not a federated global model")
    other = _site(tmp_path / "other.h5ad", [f"Y{i}" for i in range(30)], 2)
    res = scssl(
        "federate", "local-train", "--input", other, "--global", round1["g0"],
        "--output", out, "--site", "c",
    )  # fmt: skip
    assert_fails(res, out, "site c: only 0 of the 32 genes of the shared gene list")
