"""Federated pretraining: FedAvg arithmetic, the proximal term, the shared gene list, what
leaves a site, refusals of incompatible sites, and a 2-site run on simulated data."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import ClassVar

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import torch
from scipy import sparse
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from scssl import io, pp, steps_fed
from scssl._errors import InputError
from scssl.fed import ProximalModule, align_to_vocab, fedavg, read_gene_list, vocab_spec
from scssl.io import read_sample
from scssl.models.mae import MAEConfig, MAEModule
from scssl.tl.embed import embed
from scssl.train.checkpoint import load_checkpoint

FAST = {"rounds": 4, "local_epochs": 3, "train_overrides": {"batch_size": 32}}


# --- FedAvg and FedProx ------------------------------------------------------------------
def test_fedavg_is_the_cell_weighted_mean():
    a = {"w": torch.tensor([[1.0, 2.0], [3.0, 4.0]]), "n": torch.tensor(5)}
    b = {"w": torch.tensor([[5.0, 6.0], [7.0, 8.0]]), "n": torch.tensor(5)}
    out = fedavg([a, b], [100, 300])
    assert torch.equal(out["w"], torch.tensor([[4.0, 5.0], [6.0, 7.0]]))  # (1*a + 3*b) / 4
    assert out["w"].dtype == torch.float32 and int(out["n"]) == 5
    three = fedavg([a, b, a], [1, 1, 2])
    assert torch.allclose(three["w"], (3 * a["w"] + b["w"]) / 4)
    with pytest.raises(ValueError, match="differs between sites"):
        fedavg([a, {**b, "n": torch.tensor(6)}], [1, 1])
    with pytest.raises(ValueError, match="positive sum"):
        fedavg([a, b], [0, 0])


def _mae(genes=("g0", "g1", "g2", "g3")) -> MAEModule:
    torch.manual_seed(0)
    return MAEModule(MAEConfig(hidden=(8,), n_latent=4), vocab_spec(list(genes)))


def test_proximal_term_is_mu_half_squared_distance_in_training_only():
    inner = _mae()
    prox = ProximalModule(inner, mu=0.5)
    assert prox.proximal().item() == 0.0
    with torch.no_grad():
        next(inner.parameters()).add_(1.0)
    n = next(inner.parameters()).numel()
    assert prox.proximal().item() == pytest.approx(0.25 * n)  # 0.5 / 2 * n * 1^2
    batch = {"x": torch.rand(6, 4)}
    prox.train()
    torch.manual_seed(1)
    with_term = prox.loss(batch)
    torch.manual_seed(1)
    plain = inner.loss(batch)
    assert with_term.loss.item() == pytest.approx(plain.loss.item() + 0.25 * n, rel=1e-5)
    assert {"ssl", "prox"} <= set(with_term.parts)
    prox.eval()
    torch.manual_seed(1)
    assert "prox" not in prox.loss(batch).parts  # held-out loss: the model's own


# --- the shared gene list ------------------------------------------------------------------
def _tiny(genes: list[str], n: int = 20) -> ad.AnnData:
    rng = np.random.default_rng(0)
    counts = sparse.csr_matrix(rng.poisson(3.0, (n, len(genes))).astype(np.float32))
    a = ad.AnnData(X=counts.copy(), var=pd.DataFrame(index=genes), layers={"counts": counts.copy()})
    a.X = sparse.csr_matrix(np.log1p(counts.toarray()))
    a.uns["log1p"] = {"base": None}
    return a


def test_alignment_zero_fills_and_reports_missing_genes(caplog):
    site = _tiny(["A", "B", "C", "D"])
    data, rep = align_to_vocab(site, ["C", "X", "A", "Y"], min_overlap=0.5, where="site s1")
    assert (rep.n_genes, rep.n_found, rep.missing) == (4, 2, ["X", "Y"])
    X = data.X.toarray()
    assert np.array_equal(X[:, 0], site.X[:, 2].toarray().ravel())
    assert np.array_equal(X[:, 2], site.X[:, 0].toarray().ravel())
    assert not X[:, [1, 3]].any()
    assert "site s1: 2 of 4 genes of the shared list are not measured here" in caplog.text
    with pytest.raises(InputError, match=r"site s1: only 2 of the 4 genes .* minimum 75%"):
        align_to_vocab(site, ["C", "X", "A", "Y"], min_overlap=0.75, where="site s1")


def test_gene_list_files(tmp_path):
    good = tmp_path / "genes.txt"
    good.write_text("# shared\nCD3D\n\nMS4A1\n")
    assert read_gene_list(good) == ["CD3D", "MS4A1"]
    for text, msg in (("", "is empty"), ("A\nB\nA\n", "'A' is listed twice"), ("A,B\n", "one")):
        bad = tmp_path / "bad.txt"
        bad.write_text(text)
        with pytest.raises(InputError, match=f"{bad}: .*{msg}"):
            read_gene_list(bad)


@pytest.mark.parametrize("model_config", [{"standardize": True}, {"masker": "programme"}])
def test_init_refuses_statistics_from_the_cells(tmp_path, model_config):
    genes = tmp_path / "g.txt"
    genes.write_text("A\nB\nC\n")
    with pytest.raises(InputError, match="would have to leave the sites"):
        steps_fed.init([genes], tmp_path / "g0", model_config=model_config)
    assert not (tmp_path / "g0").exists()


# --- a 2-site run on simulated cells ------------------------------------------------------
@pytest.fixture(scope="module")
def sites(sim_dir, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("sites")
    files = {}
    for name in ("sim_1", "sim_2"):
        a = read_sample(sim_dir / name / "outs", sample=name, metadata={"batch": name})
        truth = pd.read_csv(sim_dir / name / "truth.csv").set_index("barcode")
        a.obs["truth"] = truth.loc[a.obs["barcode"], "cell_type"].to_numpy()
        a = pp.run_qc(a, pp.QCParams(doublet_method="none")).adata
        a = pp.preprocess(a, pp.PreprocessParams(n_top_genes=300, n_pcs=10))
        files[name] = io.write_h5ad(a, out / f"{name}.h5ad")
    return files


@pytest.fixture(scope="module")
def fed_run(sites, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fed")
    steps_fed.run_rounds(sites, out, **FAST, seed=0)
    return out


def test_two_sites_lower_the_loss_and_give_an_embedding(fed_run, sites):
    fed = steps_fed.config_summary(fed_run / "global")
    losses = [r["global_loss"] for r in fed["rounds"]]
    assert fed["round"] == 4 and len(losses) == 4
    assert losses[-1] < 0.9 * losses[0]
    r1 = fed["rounds"][0]
    n = {s: v["n_cells"] for s, v in r1["sites"].items()}
    assert r1["global_loss"] == pytest.approx(
        sum(n[s] * r1["sites"][s]["loss"] for s in n) / sum(n.values())
    )
    union = read_gene_list(fed_run / "genes" / "sim_1.txt")
    glob, ckpt = load_checkpoint(fed_run / "global")
    assert list(ckpt.spec.genes[: len(union)]) == union  # union of site HVGs, in order
    assert not glob.config.standardize  # mae's gene sds would need every site's cells
    adata = io.read_h5ad(sites["sim_2"])
    key = embed(adata, fed_run / "global")
    z = adata.obsm[key]
    assert z.shape == (adata.n_obs, MAEConfig().n_latent) and np.isfinite(z).all()
    single = ~adata.obs["truth"].str.contains(r"\+").to_numpy()
    k = adata.obs["truth"][single].nunique()
    pred = KMeans(k, n_init=10, random_state=0).fit_predict(z[single])
    assert adjusted_rand_score(adata.obs["truth"][single], pred) > 0.6
    mqc = json.loads((fed_run / "global" / steps_fed.FEDLOSS_MQC).read_text())
    assert mqc["id"] == "scssl_fedloss" and mqc["plot_type"] == "linegraph"
    assert [p[0] for p in mqc["data"]["global"]] == [1, 2, 3, 4]
    assert set(mqc["data"]) == {"global", "site sim_1", "site sim_2"}


def test_a_site_sends_only_weights_config_cell_count_and_losses(fed_run):
    for site in ("sim_1", "sim_2"):
        folder = fed_run / "sites" / site
        assert sorted(p.name for p in folder.iterdir()) == sorted(steps_fed.SITE_FILES)
        info = json.loads((folder / "site.json").read_text())
        assert set(info) == {
            "site", "round", "n_cells", "n_train", "n_val", "loss", "train_loss", "epochs",
            "local_epochs", "mu", "genes",
        }  # fmt: skip
        assert set(info["genes"]) == {"n_genes", "n_found", "n_missing"}  # counts, no names
        cfg = json.loads((folder / "config.json").read_text())
        assert cfg["data_hash"] == "" and set(cfg["federated"]) == {"site", "round", "base_sha256"}
        from safetensors.torch import load_file

        module, _ = load_checkpoint(fed_run / "global")
        weights = load_file(str(folder / "model.safetensors"))
        assert set(weights) == set(module.state_dict())  # the model's weights, nothing per cell


class _Opened:
    """Records every file Python opens while ``on`` (an audit hook cannot be removed)."""

    on = False
    paths: ClassVar[list[str]] = []
    installed = False

    @classmethod
    def hook(cls, event: str, args: tuple) -> None:
        if cls.on and event == "open" and isinstance(args[0], (str, Path)):
            cls.paths.append(str(Path(args[0]).resolve()))


def _round(sites: dict[str, Path], out: Path, mu: float = 0.0) -> tuple[Path, list[Path]]:
    lists = [steps_fed.genes(p, out / f"{s}.txt") for s, p in sites.items()]
    g0 = steps_fed.init(lists, out / "g0", seed=0)
    folders = [
        steps_fed.local_train(p, g0, out / "site" / s, site=s, local_epochs=1, mu=mu)
        for s, p in sites.items()
    ]
    return g0, folders


def test_aggregate_opens_only_weights_configs_and_cell_counts(sites, tmp_path):
    g0, folders = _round(sites, tmp_path, mu=0.01)
    if not _Opened.installed:
        sys.addaudithook(_Opened.hook)
        _Opened.installed = True
    _Opened.paths = []
    _Opened.on = True
    try:
        g1 = steps_fed.aggregate(folders, g0, tmp_path / "g1")
    finally:
        _Opened.on = False
    inside = [p for p in _Opened.paths if p.startswith(str(tmp_path.resolve()))]
    # what it wrote: the output folder and its temporary name
    top = {p: Path(p).relative_to(tmp_path.resolve()).parts[0] for p in inside}
    read = {p for p, t in top.items() if t != "g1" and not t.startswith(".g1.")}
    site_files = ("config.json", "site.json", "model.safetensors")
    allowed = {str((f / n).resolve()) for f in folders for n in site_files}
    allowed |= {str((g0 / n).resolve()) for n in ("config.json", "model.safetensors")}
    assert read and read <= allowed, read - allowed
    manifest = json.loads((g1 / steps_fed.INPUTS_MANIFEST).read_text())
    names = [Path(e["path"]).name for e in manifest]
    assert sorted(set(names)) == ["config.json", "model.safetensors", "site.json"]
    assert not any(n.endswith((".h5ad", ".h5mu", ".h5", ".mtx", ".npy", ".tsv")) for n in names)
    assert {e["kind"] for e in manifest} == {
        "global config", "global weights", "site config", "site cell count and loss",
        "site weights",
    }  # fmt: skip
    # a site folder carrying expression data is refused, naming the file
    leaky = tmp_path / "leaky"
    shutil.copytree(folders[0], leaky)
    shutil.copy(sites["sim_1"], leaky / "cells.h5ad")
    with pytest.raises(InputError, match=r"leaky: holds \['cells.h5ad'\]; a site sends only"):
        steps_fed.aggregate([leaky, folders[1]], g0, tmp_path / "g1b")
    assert not (tmp_path / "g1b").exists()


def _edit_config(folder: Path, edit) -> None:
    cfg = json.loads((folder / "config.json").read_text())
    edit(cfg)
    (folder / "config.json").write_text(json.dumps(cfg))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c["spec"]["genes"].reverse(), "gene list differs from the global model's"),
        (lambda c: c["model_config"].update(n_latent=16), r"model config differs .* n_latent=16"),
        (lambda c: c.update(family="contrastive"), "model family differs"),
        (lambda c: c["federated"].update(round=7), "trained from another global model"),
    ],
)
def test_incompatible_site_is_refused_naming_its_file(sites, tmp_path, edit, message):
    g0, folders = _round(sites, tmp_path)
    _edit_config(folders[1], edit)
    with pytest.raises(InputError, match=f"{folders[1]}/config.json: .*{message}"):
        steps_fed.aggregate(folders, g0, tmp_path / "g1")
    assert not (tmp_path / "g1").exists()


def test_site_trained_on_another_gene_list_is_refused(sites, tmp_path):
    g0, folders = _round(sites, tmp_path)
    other = tmp_path / "other.txt"
    other.write_text("\n".join(read_gene_list(tmp_path / "sim_2.txt")[:100]) + "\n")
    g_other = steps_fed.init([other], tmp_path / "g_other", seed=0)
    stray = steps_fed.local_train(
        sites["sim_2"], g_other, tmp_path / "stray", site="sim_2", local_epochs=1
    )
    with pytest.raises(InputError, match=f"{stray}/config.json: gene list differs"):
        steps_fed.aggregate([folders[0], stray], g0, tmp_path / "g1")
