"""Out-of-core pretraining (--backed): row blocks of the .h5ad read from disk."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from scssl import io
from scssl._errors import InputError
from scssl.data.backed import BackedCellData, read_shell
from scssl.data.prepare import build_cell_data, data_hash, spec_from_anndata
from scssl.steps import pretrain as pretrain_step
from scssl.tl.pretrain import pretrain, train_config_for
from scssl.train import load_checkpoint


def test_backed_batches_and_hash_equal_the_in_memory_data(pre_file):
    adata = io.read_h5ad(pre_file)
    spec = spec_from_anndata(adata)
    mem, _ = build_cell_data(adata, spec)
    shell = read_shell(pre_file)
    assert shell.X is None and not shell.layers
    disk = BackedCellData(pre_file, shell, spec, block_rows=100)  # 8 blocks
    assert (disk.n_cells, disk.n_genes) == (mem.n_cells, mem.n_genes)
    assert torch.equal(disk.library, mem.library)
    idx = np.random.default_rng(0).permutation(mem.n_cells)[:300]  # spans every block
    a, b = mem.batch(idx), disk.batch(idx)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert data_hash(disk, spec) == data_hash(mem, spec)
    # per-gene statistics (mae's gene scaling) in one pass over the file, as in memory
    for d, m in zip(disk.gene_moments(), mem.gene_moments(), strict=True):
        np.testing.assert_allclose(d, m, rtol=1e-10)
    X = mem.X.toarray().astype(np.float64)
    np.testing.assert_allclose(mem.gene_moments()[1], (X**2).mean(0), rtol=1e-10)
    # an epoch's order: every cell once, one block after another
    order = disk.shuffled(np.arange(disk.n_cells), np.random.default_rng(1))
    assert np.array_equal(np.sort(order), np.arange(disk.n_cells))
    blocks = order // 100
    assert (np.diff(blocks) != 0).sum() == blocks.max()  # each block visited in one run


def test_backed_pretrain_writes_a_checkpoint_and_learns_like_in_memory(pre_file, tmp_path):
    over = {"max_epochs": 5, "batch_size": 64, "device": "cpu", "patience": 50}
    tcfg = train_config_for("mae", over)
    _, h_mem, hash_mem, _ = pretrain(io.read_h5ad(pre_file), train_config=tcfg, progress=False)
    out = pretrain_step(
        pre_file, tmp_path / "ckpt", train_overrides=over, backed=True, progress=False
    )
    _, ckpt = load_checkpoint(out)
    hist = pd.read_csv(out / "history.tsv", sep="\t").to_dict("records")
    assert ckpt.data_hash == hash_mem
    assert len(hist) == len(h_mem) == 5
    assert hist[-1]["train_loss"] < 0.8 * hist[0]["train_loss"]
    # the same data and schedule; only the order of the cells differs
    assert hist[-1]["val_loss"] == pytest.approx(h_mem[-1]["val_loss"], rel=0.1)


def test_backed_refuses_resident(pre_file):
    shell = read_shell(pre_file)
    tcfg = replace(train_config_for("mae", {"max_epochs": 1}), device="cpu", resident=True)
    with pytest.raises(InputError, match="--backed and --resident"):
        pretrain(shell, train_config=tcfg, backed=pre_file, progress=False)


def test_backed_names_a_file_without_counts(pre_file, tmp_path):
    adata = io.read_h5ad(pre_file)
    del adata.layers["counts"]
    bad = tmp_path / "nocounts.h5ad"
    io.write_h5ad(adata, bad)
    with pytest.raises(InputError, match=r"nocounts.h5ad: no layers\['counts'\]"):
        BackedCellData(bad, read_shell(bad), spec_from_anndata(adata))


def test_backed_standardize_saves_the_in_memory_gene_scale(pre_file, tmp_path):
    """mae standardize=true out of core: the gene and protein sds come from one pass over the
    file and equal those of an in-memory run."""
    over = {"max_epochs": 1, "device": "cpu"}
    cfg = {"standardize": True}
    mem, *_ = pretrain(
        io.read_h5ad(pre_file), model_config=cfg, train_config=train_config_for("mae", over),
        progress=False,
    )  # fmt: skip
    out = pretrain_step(
        pre_file, tmp_path / "ckpt", model_config=cfg, train_overrides=over, backed=True,
        progress=False,
    )  # fmt: skip
    disk, _ = load_checkpoint(out)
    for key in ("gene_std", "protein_std"):
        np.testing.assert_allclose(disk.extras[key], mem.extras[key], rtol=1e-6)


def test_backed_refuses_options_that_need_the_whole_matrix(pre_file, tmp_path):
    with pytest.raises(InputError, match="--backed: these mae options need the whole matrix"):
        pretrain_step(
            pre_file,
            tmp_path / "ckpt",
            model_config={"masker": "programme"},
            train_overrides={"max_epochs": 1, "device": "cpu"},
            backed=True,
            progress=False,
        )
    assert not (tmp_path / "ckpt").exists()
