"""Fine-tuning: each mode transfers labels, checkpoint round trip, gene overlap, real data."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import f1_score

from scssl._errors import InputError
from scssl.data.prepare import build_cell_data
from scssl.models.classifier import MODES, ClassifierConfig
from scssl.tl.embed import embed_module
from scssl.tl.finetune import finetune, finetune_train_config, predict_proba
from scssl.train import load_checkpoint
from scssl.train.checkpoint import load_classifier, save_classifier
from tests._annot_data import quick_encoder, sim_preprocessed


@pytest.fixture(scope="module")
def sim(sim_dir):
    return sim_preprocessed(sim_dir)


@pytest.fixture(scope="module")
def encoder(sim, tmp_path_factory):
    return quick_encoder(sim, tmp_path_factory.mktemp("enc") / "mae")


def _split(adata, ref_batch: str):
    ref = adata.obs["batch"].astype(str).to_numpy() == ref_batch
    return adata[ref].copy(), adata[~ref].copy()


def _predict(module, adata, min_overlap: float = 0.5):
    data, overlap = build_cell_data(adata, module.spec, min_overlap=min_overlap)
    p = predict_proba(module, data)
    return np.asarray(module.classes)[p.argmax(1)], p, overlap


def _tc(mode: str = "full", **kw):
    return finetune_train_config({"max_epochs": 30, **kw}, mode=mode)


@pytest.mark.parametrize("mode", MODES)
def test_each_mode_transfers_labels_to_another_sample(sim, encoder, mode):
    ref, query = _split(sim, "b_sim_1")
    res = finetune(
        ref, encoder, label_key="cell_type", config=ClassifierConfig(mode=mode),
        train_config=_tc(mode), progress=False,
    )  # fmt: skip
    pred, _, _ = _predict(res.module, query)
    truth = query.obs["cell_type"].astype(str).to_numpy()
    assert (pred == truth).mean() >= 0.95
    assert f1_score(truth, pred, average="macro") >= 0.9
    assert res.summary["validation"]["accuracy"] >= 0.9
    assert res.summary["classes"] == ref.obs["cell_type"].value_counts().sort_index().to_dict()
    if mode == "knn":
        assert res.history == [] and res.module.knn_z.shape[0] == ref.n_obs
    else:
        assert res.history and all(np.isfinite(r["train_loss"]) for r in res.history)


def test_standardized_encoder_transfers_labels(sim, tmp_path):
    """mae standardize=true (genes and proteins divided by their sd) at protein weight 1:
    a frozen encoder's linear probe still transfers labels to another sample. (Trained for
    8 epochs, 16 optimizer steps, the same probe reached 0.63: the family's schedule is
    what makes an encoder.)"""
    enc = quick_encoder(
        sim, tmp_path / "mae", model_config={"standardize": True, "protein_weight": 1.0}
    )
    assert load_checkpoint(enc)[0].config.standardize
    ref, query = _split(sim, "b_sim_1")
    res = finetune(
        ref, enc, label_key="cell_type", config=ClassifierConfig(mode="linear"),
        train_config=_tc("linear"), progress=False,
    )  # fmt: skip
    pred, _, _ = _predict(res.module, query)
    assert (pred == query.obs["cell_type"].astype(str).to_numpy()).mean() >= 0.95


def test_frozen_modes_leave_the_encoder_unchanged_and_full_changes_it(sim, encoder):
    ref, _ = _split(sim, "b_sim_1")
    enc, _ = load_checkpoint(encoder)
    data, _ = build_cell_data(ref, enc.spec)
    z0 = embed_module(enc, data)
    for mode, same in (("linear", True), ("full", False)):
        res = finetune(
            ref, encoder, label_key="cell_type", config=ClassifierConfig(mode=mode),
            train_config=_tc(mode, max_epochs=3), progress=False,
        )  # fmt: skip
        z = embed_module(res.module.backbone, data)
        assert np.allclose(z, z0, atol=1e-6) == same


def test_classifier_checkpoint_round_trip_and_same_seed(sim, encoder, tmp_path):
    ref, query = _split(sim, "b_sim_1")
    kw = dict(label_key="cell_type", config=ClassifierConfig(), train_config=_tc(max_epochs=4))
    res = finetune(ref, encoder, progress=False, **kw)
    folder = save_classifier(
        tmp_path / "clf", res.module, res.train_config, history=res.history,
        data_hash=res.data_hash, encoder=res.encoder, summary=res.summary,
    )  # fmt: skip
    meta = json.loads((folder / "config.json").read_text())
    assert meta["task"] == "classifier" and meta["classifier"]["extras"]["classes"] == sorted(
        ref.obs["cell_type"].unique()
    )
    assert json.loads((folder / "summary.json").read_text())["mode"] == "full"
    loaded, _ = load_classifier(folder)
    _, p, _ = _predict(res.module, query)
    _, p_loaded, _ = _predict(loaded, query)
    np.testing.assert_allclose(p_loaded, p, atol=1e-6)
    # the folder also serves as an encoder checkpoint: its fine-tuned encoder
    backbone, _ = load_checkpoint(folder)
    data, _ = build_cell_data(query, backbone.spec)
    np.testing.assert_allclose(
        embed_module(backbone, data), embed_module(res.module.backbone, data), atol=1e-6
    )
    again = finetune(ref, encoder, progress=False, **kw)
    np.testing.assert_array_equal(_predict(again.module, query)[1], p)
    with pytest.raises(InputError, match="an encoder checkpoint"):
        load_classifier(encoder)


def test_partly_different_genes_work_and_too_few_are_refused(sim, encoder):
    ref, query = _split(sim, "b_sim_1")
    genes = list(load_checkpoint(encoder)[1].spec.genes)
    rng = np.random.default_rng(0)
    drop_ref = set(rng.choice(genes, len(genes) // 5, replace=False))
    res = finetune(
        ref[:, ~ref.var_names.isin(drop_ref)].copy(), encoder, label_key="cell_type",
        train_config=_tc(), progress=False,
    )  # fmt: skip
    assert res.summary["gene_overlap"] == pytest.approx(0.8, abs=0.01)
    drop_q = set(rng.choice(genes, len(genes) // 4, replace=False))
    part = query[:, ~query.var_names.isin(drop_q)].copy()
    pred, _, overlap = _predict(res.module, part)
    assert overlap == pytest.approx(0.75, abs=0.01)
    assert (pred == part.obs["cell_type"].to_numpy()).mean() >= 0.9
    few = query[:, ~query.var_names.isin(genes[: int(0.7 * len(genes))])].copy()
    with pytest.raises(InputError, match=r"only 30\.0% of the checkpoint's 500 genes"):
        _predict(res.module, few)


def test_unlabelled_and_rare_classes(sim, encoder):
    ref, _ = _split(sim, "b_sim_1")
    ref.obs["cell_type"] = ref.obs["cell_type"].astype(str)
    ref.obs.iloc[:30, ref.obs.columns.get_loc("cell_type")] = "?"
    rare = ref.obs_names[ref.obs["cell_type"] == "NK"][:2]
    ref.obs.loc[rare, "cell_type"] = "rare"
    cfg = ClassifierConfig(mode="knn", min_cells_class=3)
    res = finetune(ref, encoder, label_key="cell_type", config=cfg, progress=False)
    assert res.summary["n_unlabelled"] == 30 and res.summary["dropped_classes"] == {"rare": 2}
    assert "?" not in res.module.classes and "rare" not in res.module.classes
    with pytest.raises(InputError, match=r"--label-key 'celltype': no such obs column"):
        finetune(ref, encoder, label_key="celltype", progress=False)


@pytest.mark.realdata
def test_baron_donor1_to_donor2(data, tmp_path):
    from scssl.io.benchmark_data import load_benchmark

    adata = load_benchmark("baron_mouse", data)
    enc = quick_encoder(adata, tmp_path / "mae")  # the mae defaults
    ref, query = _split(adata, "mouse1")
    truth = query.obs["label"].astype(str).to_numpy()
    scores = {}
    for mode in MODES:
        res = finetune(
            ref, enc, label_key="label", config=ClassifierConfig(mode=mode), progress=False
        )
        pred, _, _ = _predict(res.module, query)
        scores[mode] = ((pred == truth).mean(), f1_score(truth, pred, average="macro"))
    # 13 types, 4 of them with 2-4 reference cells: macro-F1 weighs those alike
    assert scores["full"][0] >= 0.95 and scores["full"][1] >= 0.88, scores
    assert scores["linear"][0] >= 0.9 and scores["linear"][1] >= 0.8, scores
    assert scores["knn"][0] >= 0.85, scores
