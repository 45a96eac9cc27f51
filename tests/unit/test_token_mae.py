"""token_mae: gene-patch tokens, transformer / TTT-linear mixers, uniform / MAM masking."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import torch
from scipy import sparse

from scssl.data.dataset import PROTEIN, X
from scssl.data.spec import DataSpec
from scssl.models import config_from_dict, get_family
from scssl.models.token_mae import TokenMAEConfig, TokenMAEModule
from scssl.nn.mam import MultinomialAttentionMasker
from scssl.nn.ttt import TTTLinear, ttt_linear_scan

N_GENES, N_PROT = 120, 6
SMALL = {"d_model": 32, "n_heads": 2, "patch_size": 8, "ttt_mini_batch": 4}


def _spec(n_prot: int = 0) -> DataSpec:
    genes = tuple(f"g{i}" for i in range(N_GENES))
    return DataSpec(genes=genes, gene_ids=genes, proteins=tuple(f"p{i}" for i in range(n_prot)))


def _batch(n: int = 96, n_prot: int = 0, seed: int = 0) -> dict[str, torch.Tensor]:
    """Three cell types, each with its own gene programme (and protein levels)."""
    g = torch.Generator().manual_seed(seed)
    types = torch.arange(n) % 3
    prog = torch.rand(3, N_GENES, generator=g) ** 4 * 20
    counts = torch.poisson(prog[types] + 0.05, generator=g)
    out = {X: torch.log1p(counts)}
    if n_prot:
        out[PROTEIN] = torch.randn(3, n_prot, generator=g)[types] + 0.1 * torch.randn(
            n, n_prot, generator=g
        )
    return out


def _fixed_loss(module: TokenMAEModule, batch: dict) -> float:
    torch.manual_seed(123)
    with torch.no_grad():
        return float(module.loss(batch).loss)


@pytest.mark.parametrize(
    ("mixer", "masking", "order", "n_prot"),
    [
        ("transformer", "uniform", "genome", 0),
        ("ttt", "uniform", "genome", 0),
        ("transformer", "mam", "rank", 0),
        ("ttt", "mam", "genome", 0),
        ("ttt", "uniform", "rank", 0),
        ("transformer", "uniform", "genome", N_PROT),
        ("ttt", "mam", "rank", N_PROT),
    ],
)
def test_loss_falls(mixer, masking, order, n_prot):
    torch.manual_seed(0)
    cfg = TokenMAEConfig(mixer=mixer, masking=masking, gene_order=order, **SMALL)
    module = TokenMAEModule(cfg, _spec(n_prot))
    batch = _batch(n_prot=n_prot)
    opt = torch.optim.AdamW(module.parameters(), lr=3e-3)
    before = _fixed_loss(module, batch)
    for _ in range(40):
        out = module.loss(batch)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
    assert set(out.parts) >= {"recon_masked"}
    if n_prot:
        assert "protein_masked" in out.parts
    if masking == "mam":
        assert "mam" in out.parts
    after = _fixed_loss(module, batch)
    assert after < 0.7 * before, (before, after)


def test_mam_masks_exact_count_and_scores_get_gradients():
    torch.manual_seed(0)
    masker = MultinomialAttentionMasker(16, n_queries=3)
    mask, pi = masker(torch.randn(10, 20, 16), 7)
    assert mask.shape == (10, 20) and (mask.sum(1) == 7).all()
    assert torch.allclose(pi.sum(1), torch.ones(10), atol=1e-5)

    cfg = TokenMAEConfig(masking="mam", mask_ratio=0.4, **SMALL)
    module = TokenMAEModule(cfg, _spec())
    assert module.n_mask == round(0.4 * module.n_patches)
    tok, _ = module.tokenizer(_batch()[X])
    mask, _ = module.masker(tok, module.n_mask)
    assert (mask.sum(1) == module.n_mask).all()
    out = module.loss(_batch())
    out.loss.backward()
    for p in (module.masker.queries, module.masker.key.weight):
        assert p.grad is not None and p.grad.abs().sum() > 0
    # the REINFORCE term trains the masker without changing the reported loss
    parts = out.parts
    assert torch.isclose(out.loss, parts["recon_masked"])


def test_mam_learns_to_avoid_trivial_positions():
    """Patches that are always zero are reconstructed perfectly: MAM stops masking them."""
    torch.manual_seed(0)
    module = TokenMAEModule(TokenMAEConfig(masking="mam", **SMALL), _spec())
    batch = _batch()
    batch[X][:, :64] = 0  # the first 8 of 15 patches
    opt = torch.optim.AdamW(module.parameters(), lr=3e-3)
    for _ in range(80):
        out = module.loss(batch)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
    with torch.no_grad():
        pi = module.masker.probs(module.tokenizer(batch[X])[0])
    assert float(pi[:, :8].sum(1).mean()) < 0.3  # uniform: 8 / 15; floor: 0.2 * 8 / 15


def _naive_ttt(q, k, v, eta, w0, b):
    """Token-by-token mini-batch TTT (primal form) for one sequence."""
    w_prev, outs = w0.clone(), []
    for start in range(0, q.shape[0], b):
        grads = torch.zeros_like(w0)
        for t in range(start, min(start + b, q.shape[0])):
            err = k[t : t + 1] @ w_prev - v[t : t + 1]
            grads = grads + eta[t] * k[t : t + 1].T @ err
            outs.append(q[t : t + 1] @ (w_prev - grads))
        w_prev = w_prev - grads
    return torch.cat(outs), w_prev


def test_ttt_dual_form_matches_primal_and_updates_weights():
    torch.manual_seed(0)
    t, d = 11, 5
    q, k, v = (torch.randn(2, t, d) for _ in range(3))
    eta = torch.rand(2, t)
    w0 = torch.randn(d, d) * 0.1
    z, w = ttt_linear_scan(q, k, v, eta, w0, mini_batch=4)
    for i in range(2):
        z_ref, w_ref = _naive_ttt(q[i], k[i], v[i], eta[i], w0, 4)
        assert torch.allclose(z[i], z_ref, atol=1e-5)
        assert torch.allclose(w[i], w_ref, atol=1e-5)
    assert not torch.allclose(w, w0.expand_as(w))


@pytest.mark.parametrize("reverse", [False, True])
def test_ttt_layer_output_depends_on_tokens_seen(reverse):
    torch.manual_seed(0)
    layer = TTTLinear(16, 2, mini_batch=3, reverse=reverse)
    x = torch.randn(4, 10, 16)
    y, w = layer(x, return_state=True)
    assert not torch.allclose(w, layer.w0.expand_as(w))
    x2 = x.clone()
    first, last = (9, 0) if reverse else (0, 9)
    x2[:, first] += 1.0  # a token seen early changes a later token's output
    y2 = layer(x2)
    assert not torch.allclose(y[:, last], y2[:, last])
    # ... while a token seen late does not change an earlier one's output
    x3 = x.clone()
    x3[:, last] += 1.0
    assert torch.allclose(y[:, first], layer(x3)[:, first], atol=1e-6)
    y.sum().backward()
    assert layer.w0.grad.abs().sum() > 0 and layer.lr_base.grad.abs().sum() > 0


def _adata(n: int = 150) -> ad.AnnData:
    rng = np.random.default_rng(0)
    types = np.arange(n) % 3
    prog = rng.random((3, N_GENES)) ** 4 * 20
    counts = rng.poisson(prog[types] + 0.05).astype(np.float32)
    a = ad.AnnData(X=sparse.csr_matrix(np.log1p(counts)))
    a.var_names = [f"g{i}" for i in range(N_GENES)]
    a.obs_names = [f"c{i}" for i in range(n)]
    a.layers["counts"] = sparse.csr_matrix(counts)
    a.var["highly_variable"] = True
    a.uns["log1p"] = {}
    prot = rng.normal(size=(3, N_PROT))[types] + 0.1 * rng.normal(size=(n, N_PROT))
    a.obsm["protein_clr"] = pd.DataFrame(
        prot.astype(np.float32), index=a.obs_names, columns=[f"p{i}" for i in range(N_PROT)]
    )
    return a


@pytest.mark.parametrize("mixer", ["transformer", "ttt"])
def test_checkpoint_roundtrip_gives_same_embedding(tmp_path, mixer):
    from scssl.tl.embed import embed_module
    from scssl.tl.pretrain import pretrain, train_config_for
    from scssl.train.checkpoint import load_checkpoint, save_checkpoint

    cfg = {**SMALL, "mixer": mixer, "masking": "mam", "pool": "cls", "gene_order": "rank"}
    tcfg = train_config_for("token_mae", {"max_epochs": 2, "batch_size": 64, "device": "cpu"})
    module, history, dhash, trainer = pretrain(
        _adata(), family="token_mae", model_config=cfg, train_config=tcfg, progress=False
    )
    assert module.n_proteins == N_PROT and len(history) == 2
    emb = embed_module(module, trainer.data)
    assert emb.shape == (150, 32) and np.isfinite(emb).all()
    np.testing.assert_array_equal(emb, embed_module(module, trainer.data))  # deterministic
    save_checkpoint(tmp_path / "ckpt", module, tcfg, history=history, data_hash=dhash)
    loaded, ckpt = load_checkpoint(tmp_path / "ckpt")
    assert ckpt.family == "token_mae" and loaded.config == module.config
    np.testing.assert_allclose(embed_module(loaded, trainer.data), emb, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "bad",
    [
        {"mixer": "rnn"},
        {"masking": "block"},
        {"gene_order": "random"},
        {"pool": "max"},
        {"mask_ratio": 1.0},
        {"mask_ratio": 0.0},
        {"patch_size": 0},
        {"d_model": 30, "n_heads": 4},
        {"n_layers": 1.5},
        {"dropout": 1.0},
        {"mam_mix": 2.0},
        {"ttt_lr": 0.0},
        {"ttt_mini_batch": 0},
        {"protein_weight": -1.0},
    ],
)
def test_invalid_config_raises(bad):
    with pytest.raises(ValueError):
        TokenMAEConfig(**bad)


def test_registry_and_too_few_patches():
    cfg_cls, module_cls = get_family("token_mae")
    assert cfg_cls is TokenMAEConfig and module_cls.family == "token_mae"
    assert config_from_dict(cfg_cls, {"mixer": "ttt"}).mixer == "ttt"
    with pytest.raises(ValueError, match="patch"):
        TokenMAEModule(TokenMAEConfig(patch_size=N_GENES), _spec())
