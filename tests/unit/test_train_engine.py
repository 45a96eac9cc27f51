"""Trainer, checkpoints and embedding with the MAE family on simulated CITE-seq data."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from scssl import pp
from scssl._errors import InputError
from scssl.data.prepare import build_cell_data, data_hash
from scssl.io import read_sample
from scssl.tl.embed import embed, embed_module
from scssl.tl.pretrain import pretrain, train_config_for
from scssl.tl.smooth import smooth_embedding
from scssl.train import Trainer, TrainingError, load_checkpoint, save_checkpoint

FAST = {"max_epochs": 6, "batch_size": 64}  # explicit max_epochs: no min_steps


@pytest.fixture(scope="module")
def adata(sim_dir):
    parts = []
    for name in ("sim_1", "sim_2"):
        a = read_sample(sim_dir / name / "outs", sample=name, metadata={"batch": name})
        truth = pd.read_csv(sim_dir / name / "truth.csv").set_index("barcode")
        a.obs["truth"] = truth.loc[a.obs["barcode"], "cell_type"].to_numpy()
        parts.append(pp.run_qc(a, pp.QCParams(doublet_method="none")).adata)
    m = pp.merge_samples(parts)
    return pp.preprocess(m, pp.PreprocessParams(n_top_genes=500, n_pcs=20))


def _tcfg(**kw):
    return replace(train_config_for("mae", FAST), **kw)


@pytest.mark.parametrize("masker", ["random", "swap"])
@pytest.mark.parametrize("loss", ["mse", "nb"])
def test_mae_loss_falls_and_separates_types(adata, masker, loss):
    module, hist, _, _ = pretrain(
        adata, model_config={"masker": masker, "loss": loss}, train_config=_tcfg(), progress=False
    )
    assert hist[-1]["train_loss"] < 0.8 * hist[0]["train_loss"]
    data, _ = build_cell_data(adata, module.spec)
    z = embed_module(module, data)
    single = ~adata.obs["truth"].str.contains(r"\+").to_numpy()
    n = adata.obs["truth"][single].nunique()
    pred = KMeans(n, n_init=10, random_state=0).fit_predict(z[single])
    assert adjusted_rand_score(adata.obs["truth"][single], pred) > 0.5


def test_programme_masker_reads_gmt(adata, tmp_path):
    genes = list(module_genes := adata.var_names[adata.var["highly_variable"]])
    gmt = tmp_path / "sets.gmt"
    gmt.write_text(
        "".join(f"SET{i}\tdesc\t" + "\t".join(genes[i::7][:20]) + "\n" for i in range(7))
    )
    module, hist, _, _ = pretrain(
        adata,
        model_config={"masker": "programme", "gmt": str(gmt)},
        train_config=_tcfg(max_epochs=3),
        progress=False,
    )
    assert len(module.extras["programmes"]) == 7
    assert module.membership.shape == (7, len(module_genes))
    assert hist[-1]["train_loss"] < hist[0]["train_loss"]


def test_programme_masker_without_gmt_masks_coexpression_programmes(adata, tmp_path):
    module, hist, dhash, tr = pretrain(
        adata,
        model_config={"masker": "programme", "n_programmes": 12},
        train_config=_tcfg(),
        progress=False,
    )
    sets = module.extras["programmes"]
    n_genes = module.spec.n_genes
    assert len(sets) == 12 and sorted(i for s in sets for i in s) == list(range(n_genes))
    assert module.membership.sum(0).eq(1).all()  # each gene in exactly one programme
    assert hist[-1]["train_loss"] < 0.8 * hist[0]["train_loss"]
    save_checkpoint(tmp_path / "ck", module, tr.config, history=hist, data_hash=dhash)
    loaded, _ = load_checkpoint(tmp_path / "ck")  # the sets travel with the weights
    assert loaded.extras["programmes"] == sets
    data, _ = build_cell_data(adata, module.spec)
    np.testing.assert_array_equal(embed_module(loaded, data), embed_module(module, data))


def test_checkpoint_round_trip_same_embedding(adata, tmp_path):
    module, hist, dhash, tr = pretrain(adata, train_config=_tcfg(max_epochs=2), progress=False)
    data, _ = build_cell_data(adata, module.spec)
    before = embed_module(module, data)
    save_checkpoint(tmp_path / "ck", module, tr.config, history=hist, data_hash=dhash)
    meta = json.loads((tmp_path / "ck" / "config.json").read_text())
    assert meta["family"] == "mae" and meta["spec"]["genes"] == list(module.spec.genes)
    assert meta["data_hash"] == dhash and meta["seed"] == 0
    assert (tmp_path / "ck" / "history.tsv").read_text().startswith("epoch\ttrain_loss")
    loaded, _ckpt = load_checkpoint(tmp_path / "ck")
    np.testing.assert_array_equal(embed_module(loaded, data), before)
    unit = before / np.linalg.norm(before, axis=1, keepdims=True)  # mae: unit_embedding
    a = adata.copy()
    key = embed(a, tmp_path / "ck")  # default: the per-cell output, unit length for mae
    np.testing.assert_allclose(a.obsm[key], unit, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(np.linalg.norm(a.obsm[key], axis=1), 1.0, rtol=1e-5)
    assert a.uns["scssl_embed"][key]["gene_overlap"] == 1.0
    assert f"{key}_cell" not in a.obsm and a.uns["scssl_embed"][key]["smooth_k"] == 0
    assert a.uns["scssl_embed"][key]["unit_length"] is True
    b = adata.copy()
    embed(b, tmp_path / "ck", smooth_k=15)  # neighbour-smoothed, the per-cell output kept
    np.testing.assert_allclose(b.obsm[f"{key}_cell"], unit, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(b.obsm[key], smooth_embedding(before, 15), rtol=1e-5, atol=1e-7)
    assert b.uns["scssl_embed"][key]["smooth_k"] == 15


def test_stored_embedding_is_unit_length_only_where_the_family_says(adata):
    from scssl.tl.embed import stored_embedding

    mae, *_, tr = pretrain(adata, train_config=_tcfg(max_epochs=1), progress=False)
    raw = embed_module(mae, tr.data)
    assert not np.allclose(np.linalg.norm(raw, axis=1), 1.0)  # the encoder output itself
    np.testing.assert_allclose(
        stored_embedding(mae, tr.data), raw / np.linalg.norm(raw, axis=1, keepdims=True)
    )
    np.testing.assert_array_equal(stored_embedding(mae, tr.data, unit=False), raw)
    tcfg = train_config_for("srsa_vae", {**FAST, "max_epochs": 1})
    vae, *_, tr2 = pretrain(adata, family="srsa_vae", train_config=tcfg, progress=False)
    assert not type(vae).unit_embedding
    np.testing.assert_array_equal(stored_embedding(vae, tr2.data), embed_module(vae, tr2.data))


def test_same_seed_same_weights_and_resume_matches(adata, tmp_path):
    cfg = _tcfg(max_epochs=5)
    full, *_ = pretrain(adata, train_config=cfg, progress=False)
    again, *_ = pretrain(adata, train_config=cfg, progress=False)
    for k, v in full.state_dict().items():
        assert torch.equal(v, again.state_dict()[k]), k
    work = tmp_path / "work"
    _, _, _, tr = pretrain(adata, train_config=cfg, workdir=work, epochs=2, progress=False)
    assert not tr.finished and (work / "resume" / "state.safetensors").is_file()
    resumed, hist, _, tr2 = pretrain(
        adata, train_config=cfg, workdir=work, resume=True, progress=False
    )
    assert tr2.finished and len(hist) == 5
    for k, v in full.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k


def test_nan_loss_stops_with_message_and_keeps_last_state(adata, tmp_path):
    module, _, _, _tr = pretrain(
        adata, train_config=_tcfg(max_epochs=1), workdir=tmp_path, progress=False
    )
    data, _ = build_cell_data(adata, module.spec)
    bad = data.X.copy()
    bad.data[:] = np.nan
    data.X = bad
    trainer = Trainer(module, data, _tcfg(max_epochs=3), workdir=tmp_path, progress=False)
    assert trainer.load_state()
    with pytest.raises(TrainingError, match=r"loss became nan at epoch 2.*last good checkpoint"):
        trainer.fit()
    assert (tmp_path / "resume" / "state.safetensors").is_file()


def test_corrupted_and_foreign_checkpoints_refused(adata, tmp_path):
    module, hist, dhash, tr = pretrain(adata, train_config=_tcfg(max_epochs=1), progress=False)
    ck = save_checkpoint(tmp_path / "ck", module, tr.config, history=hist, data_hash=dhash)
    (ck / "model.safetensors").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(InputError, match="corrupted weights"):
        load_checkpoint(ck)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "model.safetensors").write_bytes(b"")
    (foreign / "config.json").write_text(json.dumps({"model": "scvi"}))
    with pytest.raises(InputError, match="not an scssl checkpoint config"):
        load_checkpoint(foreign)
    with pytest.raises(InputError, match="not an scssl checkpoint"):
        load_checkpoint(tmp_path / "nothing")
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    torch.save(module.state_dict(), pickled / "model.safetensors")
    (pickled / "config.json").write_text(
        (tmp_path / "ck" / "config.json").read_text()
        if (tmp_path / "ck" / "config.json").exists()
        else "{}"
    )
    with pytest.raises(InputError):
        load_checkpoint(pickled)


def test_gene_mismatch_aligned_or_refused(adata, tmp_path):
    module, hist, dhash, tr = pretrain(adata, train_config=_tcfg(max_epochs=1), progress=False)
    ck = save_checkpoint(tmp_path / "ck", module, tr.config, history=hist, data_hash=dhash)
    genes = list(module.spec.genes)
    keep = [g for g in adata.var_names if g not in set(genes[:100])]
    part = adata[:, keep].copy()  # 100 of the model's 500 genes missing
    key = embed(part, ck, min_overlap=0.5)
    assert part.uns["scssl_embed"][key]["gene_overlap"] == pytest.approx(0.8)
    assert np.isfinite(part.obsm[key]).all()
    few = adata[:, [g for g in adata.var_names if g not in set(genes[:400])]].copy()
    with pytest.raises(InputError, match=r"only 20.0% of the checkpoint's 500 genes"):
        embed(few, ck, min_overlap=0.5)
    shuffled = adata[:, adata.var_names[::-1]].copy()  # same genes, other order
    key = embed(shuffled, ck)
    ref = adata.copy()
    embed(ref, ck)
    np.testing.assert_allclose(shuffled.obsm[key], ref.obsm[key], atol=1e-5)


def test_model_gene_data_is_used_without_a_copy_and_hashes_alike(adata):
    module, _, dhash, _ = pretrain(adata, train_config=_tcfg(max_epochs=1), progress=False)
    cut = adata[:, list(module.spec.genes)].copy()  # already the model genes, in order
    data, overlap = build_cell_data(cut, module.spec)
    assert overlap == 1.0
    assert np.shares_memory(data.X.data, cut.X.data)  # 1M cells: no second 5 GB matrix
    assert np.shares_memory(data.counts.data, cut.layers["counts"].data)
    full, _ = build_cell_data(adata, module.spec)  # a column subset: a copy, same values
    assert not np.shares_memory(full.X.data, adata.X.data)
    np.testing.assert_array_equal(data.X.toarray(), full.X.toarray())
    np.testing.assert_array_equal(data.counts.toarray(), full.counts.toarray())
    assert data_hash(data, module.spec) == data_hash(full, module.spec) == dhash
    reference = hashlib.sha256()  # the documented definition: CSR arrays' bytes + genes
    for arr in (full.X.data, full.X.indices, full.X.indptr):
        reference.update(arr.tobytes())
    reference.update("\n".join(module.spec.genes).encode())
    assert dhash == reference.hexdigest()


def test_mae_scales_genes_by_their_sd_and_the_scale_survives_checkpoint(adata, tmp_path):
    """standardize=true: each gene divided by its sd over the training cells, not centred
    (zeros stay zeros); the sds are saved with the weights, so a reloaded model embeds alike."""
    module, hist, dhash, tr = pretrain(
        adata, model_config={"standardize": True}, train_config=_tcfg(max_epochs=2), progress=False
    )
    assert module.config.standardize and not module.config.center
    assert "gene_mean" not in module.extras
    data, _ = build_cell_data(adata, module.spec)
    X = data.X.toarray().astype(np.float64)
    np.testing.assert_allclose(module.extras["gene_std"], X.std(0), rtol=1e-4, atol=1e-3)
    x = data.batch(np.arange(adata.n_obs))["x"]
    xs = module._x({"x": x})
    assert torch.equal(xs == 0, x == 0)
    expected = np.minimum(X / np.asarray(module.extras["gene_std"]), 10.0)
    np.testing.assert_allclose(xs.numpy(), expected, rtol=1e-5, atol=1e-5)
    assert (expected == 10.0).any()  # rare genes' detections reach the clip
    # the proteins (CLR) are divided by their sd too, so they sit on the genes' scale
    assert module.n_prot > 0
    every_cell = data.batch(np.arange(adata.n_obs))
    prot = every_cell["protein"].numpy().astype(np.float64)
    np.testing.assert_allclose(module.extras["protein_std"], prot.std(0), rtol=1e-4)
    ps = module._p(every_cell).numpy()
    np.testing.assert_allclose(ps, np.clip(prot / prot.std(0), -10, 10), rtol=1e-4, atol=1e-5)
    ck = save_checkpoint(tmp_path / "ck", module, tr.config, history=hist, data_hash=dhash)
    loaded, _ = load_checkpoint(ck)
    np.testing.assert_array_equal(embed_module(loaded, data), embed_module(module, data))
    # center=True: z-scores, the means saved too
    centred, *_ = pretrain(
        adata,
        model_config={"standardize": True, "center": True},
        train_config=_tcfg(max_epochs=1),
        progress=False,
    )
    z = centred._x({"x": x}).numpy()
    expected = np.clip((X - X.mean(0)) / np.asarray(centred.extras["gene_std"]), -10, 10)
    np.testing.assert_allclose(z, expected, rtol=1e-4, atol=1e-4)


def test_cpu_bf16_autocast_only_where_native(adata, monkeypatch):
    from scssl.train import trainer as trainer_mod

    module, _, _, tr = pretrain(adata, train_config=_tcfg(max_epochs=1), progress=False)
    assert tr.config.cpu_bf16  # the mae default
    for native in (True, False):
        monkeypatch.setattr(trainer_mod, "native_cpu_bf16", lambda n=native: n)
        with tr._autocast():
            y = module.encoder(torch.randn(4, module.encoder[0].in_features))
        assert y.dtype == (torch.bfloat16 if native else torch.float32)
    tr.config = replace(tr.config, bf16=False)  # --no-bf16 turns it off everywhere
    monkeypatch.setattr(trainer_mod, "native_cpu_bf16", lambda: True)
    with tr._autocast():
        assert module.encoder(torch.randn(4, module.encoder[0].in_features)).dtype == torch.float32


def test_min_steps_adds_epochs_on_small_data_and_explicit_max_epochs_caps(adata):
    from scssl.data.prepare import spec_from_anndata
    from scssl.models import get_family

    assert train_config_for("mae").min_steps > 0  # the mae default: a step budget
    tcfg = replace(train_config_for("mae"), max_epochs=2, min_steps=10, batch_size=256)
    spec = spec_from_anndata(adata, batch_key="batch", use_protein=False)
    data, _ = build_cell_data(adata, spec)
    cfg_cls, module_cls = get_family("mae")
    tr = Trainer(module_cls(cfg_cls(), spec), data, tcfg, progress=False)
    assert tr.steps_per_epoch < 5  # few steps per epoch: min_steps adds epochs
    assert tr.max_epochs == -(-10 // tr.steps_per_epoch) > 2
    assert tr.patience == round(tcfg.patience * tr.max_epochs / 2)
    hist = tr.fit()
    assert len(hist) > 2
    # an explicit max_epochs is a hard cap: the family's min_steps is dropped
    assert train_config_for("mae", {"max_epochs": 3}).min_steps == 0
    assert train_config_for("mae", {"max_epochs": 3, "min_steps": 50}).min_steps == 50


def test_history_records_the_share_of_step_time_spent_getting_data(adata):
    import time

    from scssl.data.dataset import CellData
    from scssl.data.prepare import spec_from_anndata
    from scssl.models import get_family

    class SlowData(CellData):  # a loader that starves the model: 20 ms per minibatch
        def batch(self, idx, keys=None):
            time.sleep(0.02)
            return super().batch(idx, keys)

    spec = spec_from_anndata(adata, batch_key="batch", use_protein=False)
    data, _ = build_cell_data(adata, spec)
    slow = SlowData(data.X, data.counts, data.library.numpy(), data.batch_codes.numpy())
    cfg_cls, module_cls = get_family("mae")
    fracs = {}
    for name, d in (("fast", data), ("slow", slow)):
        tr = Trainer(module_cls(cfg_cls(), spec), d, _tcfg(max_epochs=2), progress=False)
        hist = tr.fit()
        fracs[name] = [h["data_fraction"] for h in hist]
    assert all(0 < f < 1 for f in fracs["fast"] + fracs["slow"])
    assert min(fracs["slow"]) > 0.5 > max(fracs["fast"])
