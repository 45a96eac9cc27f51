"""Contrastive family: CLEAR augmentations, the five objectives, checkpoints, config checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from scssl.io import read_sample
from scssl.models import config_from_dict, config_to_dict
from scssl.models.contrastive import OBJECTIVES, ContrastiveConfig
from scssl.nn import augment as A
from scssl.nn.contrastive_losses import barlow_twins, nt_xent, vicreg
from scssl.pp import PreprocessParams, preprocess
from scssl.sim import simulate
from scssl.tl.embed import embed_module
from scssl.tl.pretrain import pretrain
from scssl.train.checkpoint import load_checkpoint, save_checkpoint
from scssl.train.config import TrainConfig

FAST = TrainConfig(max_epochs=8, batch_size=128, lr=2e-3, patience=100, seed=0)
SMALL = {"hidden": [128], "n_latent": 16, "proj_hidden": 64, "proj_dim": 32, "queue_size": 256}


@pytest.fixture(scope="module")
def sim_adata(tmp_path_factory):
    """One simulated sample: 500 singlets of 5 types, 300 HVGs, log-normalized."""
    out = tmp_path_factory.mktemp("sim_ctr")
    simulate(out, n_samples=1, n_cells=500, n_genes=800, n_proteins=0, n_cell_types=5,
             doublet_rate=0.0, low_quality_rate=0.0, seed=1)  # fmt: skip
    adata = read_sample(out / "sim_1" / "outs", sample=None)
    truth = pd.read_csv(out / "sim_1" / "truth.csv").set_index("barcode")
    adata.obs["cell_type"] = truth["cell_type"].reindex(adata.obs["barcode"]).to_numpy()
    return preprocess(adata, PreprocessParams(n_top_genes=300))


def _ari(emb: np.ndarray, labels: np.ndarray) -> float:
    k = len(set(labels))
    return adjusted_rand_score(labels, KMeans(k, n_init=5, random_state=0).fit_predict(emb))


# --- augmentations ------------------------------------------------------------------------
def test_mask_genes_rate_and_cells():
    torch.manual_seed(0)
    x = torch.rand(400, 500) + 0.5
    out = A.mask_genes(x, 0.3)
    assert out.shape == x.shape
    assert abs(float((out == 0).float().mean()) - 0.3) < 0.02
    out = A.mask_genes(x, 0.3, p=0.5)
    touched = (out == 0).any(1).float().mean()
    assert abs(float(touched) - 0.5) < 0.1
    assert torch.equal(A.mask_genes(x, 0.3, p=0.0), x)


def test_gaussian_noise_std_and_rate():
    torch.manual_seed(0)
    x = torch.rand(400, 500)
    d = A.gaussian_noise(x, 0.2) - x
    assert abs(float(d.std()) - 0.2) < 0.01
    d = A.gaussian_noise(x, 0.2, p=1.0, rate=0.25) - x
    assert abs(float((d != 0).float().mean()) - 0.25) < 0.02
    assert torch.equal(A.gaussian_noise(x, 0.2, p=0.0), x)


def test_count_noise_keeps_zeros_and_mean():
    torch.manual_seed(0)
    mu = torch.full((300, 400), 20.0)
    mu[:, :100] = 0
    x = torch.log1p(mu)
    out = A.count_noise(x, 0.2)
    assert out.shape == x.shape
    assert torch.all(out[:, :100] == 0)
    back = torch.expm1(out[:, 100:])
    assert abs(float(back.mean()) - 20.0) < 0.5
    # NB variance: mu + dispersion * mu^2 = 20 + 80
    assert abs(float(back.var()) - 100.0) < 10.0
    half = A.count_noise(x, 0.2, p=0.5)
    changed = (half != x).any(1).float().mean()
    assert abs(float(changed) - 0.5) < 0.1


def test_swap_genes_permutes_within_cell():
    torch.manual_seed(0)
    x = torch.rand(200, 300)
    out = A.swap_genes(x, 0.2)
    assert torch.equal(out.sort(1).values, x.sort(1).values)  # same values, new places
    assert abs(float((out != x).float().mean()) - 0.2) < 1e-6  # 30 pairs of 300 genes
    part = A.swap_genes(x, 0.2, p=0.5)
    assert abs(float((part != x).any(1).float().mean()) - 0.5) < 0.15


def test_crossover_takes_values_from_other_cells():
    torch.manual_seed(0)
    x = torch.arange(300 * 200, dtype=torch.float32).reshape(300, 200)  # all values distinct
    out = A.crossover(x, 0.25)
    changed = out != x
    assert abs(float(changed.float().mean()) - 0.25) < 0.02
    # a changed entry holds the same gene's value of another cell
    rows = (out - torch.arange(200.0)) / 200
    assert torch.all(rows == rows.round())
    assert torch.all((rows[changed] >= 0) & (rows[changed] < 300))
    # one partner per cell
    for i in range(5):
        assert len(set(rows[i][changed[i]].tolist())) == 1


def test_clear_view_shape_and_change():
    torch.manual_seed(0)
    x = torch.log1p(torch.poisson(torch.full((64, 100), 3.0)))
    v = A.clear_view(x, count=(1, 0.2), swap=(1, 0.1), crossover_=(1, 0.2), mask=(1, 0.2),
                     noise=(1, 0.1))  # fmt: skip
    assert v.shape == x.shape and v.dtype == x.dtype
    assert float((v != x).float().mean()) > 0.5


# --- losses -------------------------------------------------------------------------------
def test_losses_prefer_matching_views():
    torch.manual_seed(0)
    z = torch.randn(64, 16)
    other = torch.randn(64, 16)
    assert nt_xent(z, z, 0.2) < nt_xent(z, other, 0.2)
    assert barlow_twins(z, z, 5e-3) < barlow_twins(z, other, 5e-3)
    assert vicreg(z, z)[0] < vicreg(z, other)[0]


# --- config -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "bad",
    [
        {"objective": "simsiam"},
        {"temperature": 0.0},
        {"p_mask": 1.5},
        {"mask_rate": 1.0},
        {"momentum": 1.0},
        {"hidden": ()},
        {"queue_size": 0},
        {"n_latent": 0},
        {"dropout": -0.1},
        {"barlow_lambda": 0.0},
        {"vicreg_weights": (25.0, 25.0)},
        {"p_count": 0, "p_swap": 0, "p_crossover": 0, "p_mask": 0, "p_noise": 0},
    ],
)
def test_invalid_config_raises(bad):
    with pytest.raises(ValueError):
        ContrastiveConfig(**bad)


def test_config_json_round_trip():
    c = ContrastiveConfig(objective="vicreg", hidden=(64, 32), vicreg_weights=(10.0, 10.0, 1.0))
    assert config_from_dict(ContrastiveConfig, config_to_dict(c)) == c


# --- training -----------------------------------------------------------------------------
@pytest.mark.parametrize("objective", OBJECTIVES)
def test_objective_trains_and_separates_types(sim_adata, objective):
    cfg = {**SMALL, "objective": objective}
    module, hist, _, trainer = pretrain(
        sim_adata, family="contrastive", model_config=cfg, train_config=FAST, progress=False
    )
    # from epoch 2: MoCo's first epoch still has random vectors (easy negatives) in its queue
    assert hist[-1]["train_loss"] < hist[1]["train_loss"]
    emb = embed_module(module, trainer.data)
    assert emb.shape == (sim_adata.n_obs, 16)
    assert _ari(emb, sim_adata.obs["cell_type"].to_numpy()) > 0.3


@pytest.mark.parametrize("objective", ["moco", "byol"])
def test_checkpoint_round_trip(sim_adata, tmp_path, objective):
    tcfg = TrainConfig(max_epochs=2, batch_size=128, seed=0)
    module, hist, dh, trainer = pretrain(
        sim_adata,
        family="contrastive",
        model_config={**SMALL, "objective": objective},
        train_config=tcfg,
        progress=False,
    )
    # the target network moved away from its initial copy and is saved with the weights
    assert not torch.equal(module.target_encoder[0].weight, module.encoder[0].weight)
    save_checkpoint(tmp_path / "ckpt", module, tcfg, history=hist, data_hash=dh)
    loaded, ckpt = load_checkpoint(tmp_path / "ckpt")
    assert ckpt.family == "contrastive" and loaded.config == module.config
    for k, v in module.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k
    np.testing.assert_array_equal(
        embed_module(loaded, trainer.data), embed_module(module, trainer.data)
    )
