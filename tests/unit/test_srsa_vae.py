"""The ``srsa_vae`` family: training, batch-composition independence, checkpoints, config."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import sparse

from scssl.data.dataset import CellData
from scssl.data.spec import DataSpec
from scssl.models import config_from_dict, get_family
from scssl.models.srsa_vae import SRSAVAEConfig, SRSAVAEModule
from scssl.train.checkpoint import load_checkpoint, save_checkpoint
from scssl.train.config import TrainConfig
from scssl.train.trainer import Trainer

N_CELLS, N_GENES, N_PROT = 300, 200, 6


def _data(protein: bool, seed: int = 0) -> tuple[CellData, DataSpec]:
    """Three cell types with distinct NB expression profiles, two batches, optional proteins."""
    rng = np.random.default_rng(seed)
    types = rng.integers(0, 3, N_CELLS)
    profiles = rng.gamma(0.6, 1.0, (3, N_GENES))
    profiles /= profiles.sum(1, keepdims=True)
    lib = rng.lognormal(np.log(1500), 0.3, N_CELLS)
    mean = profiles[types] * lib[:, None]
    counts = rng.negative_binomial(5, 5 / (5 + mean)).astype(np.float32)
    expr = np.log1p(counts / counts.sum(1, keepdims=True) * 1e4)
    batch = rng.integers(0, 2, N_CELLS)
    prot = None
    if protein:
        prot = rng.normal(0, 1, (3, N_PROT))[types] + rng.normal(0, 0.3, (N_CELLS, N_PROT))
    genes = tuple(f"g{i}" for i in range(N_GENES))
    spec = DataSpec(
        genes=genes,
        gene_ids=genes,
        batch_key="batch",
        batches=("a", "b"),
        proteins=tuple(f"p{i}" for i in range(N_PROT)) if protein else (),
    )
    data = CellData(sparse.csr_matrix(expr), sparse.csr_matrix(counts), lib, batch, prot)
    return data, spec


def _train(config: SRSAVAEConfig, protein: bool, epochs: int = 6) -> tuple:
    data, spec = _data(protein)
    torch.manual_seed(0)
    module = SRSAVAEModule(config, spec)
    tcfg = TrainConfig(max_epochs=epochs, batch_size=64, lr=3e-3, device="cpu", patience=100)
    trainer = Trainer(module, data, tcfg, progress=False)
    return module, data, trainer


def _eval_loss(module: SRSAVAEModule, data: CellData) -> dict[str, float]:
    module.eval()
    torch.manual_seed(1)
    with torch.no_grad():
        out = module.loss(data.batch(np.arange(data.n_cells)), progress=1.0)
    return {"loss": float(out.loss), **{k: float(v) for k, v in out.parts.items()}}


@pytest.mark.parametrize("likelihood", ["nb", "zinb"])
@pytest.mark.parametrize("protein", [False, True])
def test_loss_falls(likelihood: str, protein: bool) -> None:
    module, data, trainer = _train(SRSAVAEConfig(likelihood=likelihood), protein)
    before = _eval_loss(module, data)
    trainer.fit()
    after = _eval_loss(module, data)
    assert set(after) == {"loss", "recon_nll", "kl"} | ({"protein_nll"} if protein else set())
    assert after["recon_nll"] < 0.9 * before["recon_nll"]
    assert after["loss"] < before["loss"]
    if protein:
        assert after["protein_nll"] < before["protein_nll"]
    assert all(np.isfinite(v) for row in trainer.history for v in row.values())


@pytest.mark.parametrize("attention", ["cells", "features"])
def test_embedding_independent_of_minibatch(attention: str) -> None:
    cfg = SRSAVAEConfig(attention=attention, n_reference=48)
    module, data, trainer = _train(cfg, protein=True, epochs=2)
    trainer.fit()
    with torch.no_grad():
        module.attn.alpha.fill_(1.0)  # make attention weigh heavily so the test has teeth
    module.eval()
    target = np.arange(10)
    batch_a = np.concatenate([target, np.arange(50, 120)])
    batch_b = np.concatenate([np.arange(290, 200, -1), target[::-1]])
    with torch.no_grad():
        alone = torch.cat([module.embed(data.batch(np.array([i]))) for i in target])
        in_a = module.embed(data.batch(batch_a))[:10]
        in_b = module.embed(data.batch(batch_b))[-10:].flip(0)
        again = module.embed(data.batch(batch_a))[:10]
    assert alone.shape == (10, cfg.n_latent)
    assert torch.allclose(alone, in_a, atol=1e-5)
    assert torch.allclose(alone, in_b, atol=1e-5)
    assert torch.equal(in_a, again)
    if attention == "cells":
        assert int(module.ref_count) == cfg.n_reference
        # the training path (attention over the minibatch) does depend on the batch
        with torch.no_grad():
            mb_a = module.encode(data.batch(batch_a), reference=False)[0][:10]
            mb_b = module.encode(data.batch(batch_b), reference=False)[0][-10:].flip(0)
        assert not torch.allclose(mb_a, mb_b, atol=1e-3)


@pytest.mark.parametrize(
    "overrides",
    [{}, {"attention": "features", "likelihood": "zinb", "hidden": (64, 32)}],
)
def test_checkpoint_roundtrip(tmp_path, overrides: dict) -> None:
    module, data, trainer = _train(SRSAVAEConfig(**overrides), protein=True, epochs=2)
    history = trainer.fit()
    folder = save_checkpoint(
        tmp_path / "ckpt", module, trainer.config, history=history, data_hash="test"
    )
    loaded, ckpt = load_checkpoint(folder)
    assert ckpt.family == "srsa_vae" and isinstance(loaded, SRSAVAEModule)
    assert loaded.config == module.config
    module.eval()
    batch = data.batch(np.arange(100))
    with torch.no_grad():
        assert torch.equal(module.embed(batch), loaded.embed(batch))


def test_kl_warmup() -> None:
    _, spec = _data(protein=False)
    module = SRSAVAEModule(SRSAVAEConfig(kl_warmup=0.4), spec)
    assert module.kl_weight(0.0) == 0.0
    assert module.kl_weight(0.2) == pytest.approx(0.5)
    assert module.kl_weight(0.4) == 1.0
    assert module.kl_weight(1.0) == 1.0
    assert SRSAVAEModule(SRSAVAEConfig(kl_warmup=0.0), spec).kl_weight(0.0) == 1.0


def test_registry_and_rna_only_without_protein_head() -> None:
    cfg_cls, mod_cls = get_family("srsa_vae")
    assert (cfg_cls, mod_cls) == (SRSAVAEConfig, SRSAVAEModule)
    cfg = config_from_dict(SRSAVAEConfig, {"hidden": [64, 32], "use_protein": False})
    assert cfg.hidden == (64, 32)
    _, spec = _data(protein=True)
    module = SRSAVAEModule(cfg, spec)
    assert module.n_prot == 0 and not hasattr(module, "prot_head")


@pytest.mark.parametrize(
    "bad",
    [
        {"attention": "genes"},
        {"likelihood": "poisson"},
        {"hidden": ()},
        {"hidden": (0,)},
        {"hidden": (64.5,)},
        {"n_latent": 0},
        {"dropout": 1.0},
        {"kl_warmup": 1.5},
        {"kl_warmup": -0.1},
        {"protein_weight": -1.0},
        {"alpha_init": float("nan")},
        {"n_reference": 0},
        {"hidden": (130,), "n_heads": 4},
        {"attention": "features", "hidden": (128,), "n_tokens": 16, "n_heads": 3},
    ],
)
def test_invalid_config(bad: dict) -> None:
    with pytest.raises(ValueError):
        SRSAVAEConfig(**bad)
