"""Data-parallel pretraining (DDP) on the CPU with gloo: 2 spawned processes on tiny data."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from scssl import pp
from scssl._errors import InputError
from scssl.data.prepare import build_cell_data, spec_from_anndata
from scssl.io import read_sample
from scssl.models.base import LossOutput, SSLModule
from scssl.tl.pretrain import pretrain, train_config_for
from scssl.train import Trainer, load_checkpoint, save_checkpoint
from scssl.train.distributed import fit_distributed

pytestmark = pytest.mark.skipif(
    not torch.distributed.is_available(), reason="torch.distributed is not available"
)


@pytest.fixture(scope="module")
def adata(sim_dir):
    parts = []
    for name in ("sim_1", "sim_2"):
        a = read_sample(sim_dir / name / "outs", sample=name, metadata={"batch": name})
        parts.append(pp.run_qc(a, pp.QCParams(doublet_method="none")).adata)
    return pp.preprocess(pp.merge_samples(parts), pp.PreprocessParams(n_top_genes=300, n_pcs=10))


def _tcfg(batch_size: int, **kw):
    over = {"max_epochs": 4, "batch_size": batch_size, "device": "cpu", "patience": 50}
    return replace(train_config_for("mae", over), **kw)


def _weights(module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


class _LinearAE(SSLModule):
    """A deterministic model (no corruption noise): DDP must take exactly the same steps."""

    family = "linear_ae_test"

    def __init__(self, config, spec, extras=None):
        super().__init__(config, spec, extras)
        self.enc = torch.nn.Linear(spec.n_genes, 8)
        self.dec = torch.nn.Linear(8, spec.n_genes)
        self.idle = torch.nn.Linear(2, 2)  # never used: DDP must cope

    def loss(self, batch, *, progress=1.0):
        x = batch["x"]
        err = ((self.dec(torch.tanh(self.enc(x))) - x) ** 2).mean()
        return LossOutput(loss=err, parts={"mse": err.detach()})


def test_ddp_two_ranks_equal_one_process_with_the_global_batch(adata):
    """2 ranks x 32 cells take the same optimizer steps as 1 process x 64 cells."""
    sub = adata[:356].copy()  # 36 validation cells, 320 training cells: 5 batches of 64
    spec = spec_from_anndata(sub)
    data, _ = build_cell_data(sub, spec)
    torch.manual_seed(0)
    one = _LinearAE(None, spec)
    trainer = Trainer(one, data, _tcfg(64), progress=False)
    assert len(trainer.train_idx) == 320
    h1 = trainer.fit()
    torch.manual_seed(0)
    two = _LinearAE(None, spec)
    res = fit_distributed(
        two, _LinearAE, None, spec, {}, data, _tcfg(32), devices=2, progress=False
    )
    assert res.finished and len(res.history) == len(h1) == 4
    for a, b in zip(h1, res.history, strict=True):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-4)
        assert b["val_loss"] == pytest.approx(a["val_loss"], rel=1e-4)
    w1, w2 = _weights(one), _weights(two)
    torch.manual_seed(0)
    start = _weights(_LinearAE(None, spec))
    for k in w1:
        # float sums in another order; Adam magnifies them where gradients are near zero,
        # by far less than half of one step (lr 2e-3), while the weights moved by much more
        assert float((w2[k] - w1[k]).abs().max()) < 1e-3
        if not k.startswith("idle"):
            assert float((w1[k] - start[k]).abs().max()) > 1e-2
    assert h1[-1]["train_loss"] < h1[0]["train_loss"]


def test_ddp_mae_resumes_loss_falls_and_rank0_writes_a_checkpoint(adata, tmp_path):
    """The mae family on 2 ranks, stopped after 2 epochs and resumed: rank 0 kept the resume
    state, the loss falls about as far as in one process with the same global batch, and
    rank 0's weights make a loadable checkpoint."""
    _, h1, hash1, _ = pretrain(adata, train_config=_tcfg(64), progress=False)
    work = tmp_path / "partial"
    kw = {"train_config": _tcfg(32), "progress": False, "devices": 2, "workdir": work}
    _, h_a, _, t_a = pretrain(adata, epochs=2, **kw)
    assert len(h_a) == 2 and not t_a.finished
    assert (work / "resume" / "state.json").is_file()
    two, h2, hash2, t2 = pretrain(adata, resume=True, **kw)
    assert t2.finished and [r["epoch"] for r in h2] == [1, 2, 3, 4] and h2[:2] == h_a
    assert hash1 == hash2
    assert h2[-1]["train_loss"] < 0.9 * h2[0]["train_loss"]
    assert h2[-1]["val_loss"] == pytest.approx(h1[-1]["val_loss"], rel=0.1)
    # the history counts every training cell once per epoch (summed over the ranks)
    n_train = round(0.9 * adata.n_obs)
    assert abs(round(h2[0]["cells_per_s"] * h2[0]["seconds"]) - n_train) <= 1
    save_checkpoint(tmp_path / "ckpt", two, _tcfg(32), history=h2, data_hash=hash2)
    back, _ = load_checkpoint(tmp_path / "ckpt")
    for k, v in back.state_dict().items():
        assert torch.equal(v, two.state_dict()[k])


def test_ddp_refuses_more_gpus_than_visible(adata):
    if torch.cuda.device_count() >= 64:
        pytest.skip("64 GPUs visible")
    with pytest.raises(InputError, match="--devices 64: only"):
        pretrain(adata, train_config=_tcfg(32, device="cuda"), progress=False, devices=64)


def test_ddp_cli_run_exits_cleanly_and_leaves_nothing_behind(pre_file, tmp_path):
    """`scssl pretrain --devices 2` in its own interpreter: exit 0, a checkpoint, and neither
    a native abort nor a leaked semaphore (ranks end without teardown; see _leave)."""
    import subprocess
    import sys

    out = tmp_path / "ckpt"
    cmd = [sys.executable, "-m", "scssl", "pretrain", "--input", str(pre_file)]
    cmd += ["--output", str(out), "--max-epochs", "2", "--devices", "2", "--device", "cpu"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert (out / "model.safetensors").is_file()
    for bad in ("leaked semaphore", "terminate called", "Fatal Python error", "Traceback"):
        assert bad not in run.stderr
    back, _ = load_checkpoint(out)
    assert back.spec.n_genes == 300


def test_ddp_rank_error_reaches_the_caller_as_the_same_error(adata, tmp_path):
    """An InputError raised inside the ranks (--resume with no resume state) comes back to
    the caller as that InputError, with its message, not as a dead-process error."""
    kw = {"train_config": _tcfg(32), "progress": False, "devices": 2}
    with pytest.raises(InputError, match="--resume: no resume state"):
        pretrain(adata, resume=True, workdir=tmp_path / "empty", **kw)
