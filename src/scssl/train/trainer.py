"""The training loop: AdamW, warm-up + cosine, early stopping, bf16 on GPU, resume, NaN stop."""

from __future__ import annotations

import contextlib
import copy
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from .._atomic import atomic_path
from .._errors import ScsslError
from .._log import logger
from ..data.dataset import CellData
from ..models.base import SSLModule
from .config import TrainConfig


class TrainingError(ScsslError):
    """Training cannot go on (e.g. the loss became NaN/Inf)."""


def native_cpu_bf16() -> bool:
    """True when the CPU multiplies bf16 natively (AVX512-BF16 or AMX): there bf16 autocast
    roughly doubles matmul throughput; elsewhere it would be emulated and slower."""
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # older torch
        return False


def _batches(idx: np.ndarray, batch_size: int, rng: np.random.Generator | None) -> list:
    order = rng.permutation(idx) if rng is not None else idx
    n = max(1, math.ceil(len(order) / batch_size))
    return np.array_split(order, n)


def _lr_lambda(total: int, warmup: int):
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        t = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))

    return f


class Trainer:
    """Trains an :class:`SSLModule` on :class:`CellData`.

    Randomness is re-seeded from ``(seed, epoch)`` at every epoch, so a run resumed from the
    end of epoch k follows exactly the path of an uninterrupted run on CPU. ``rank`` and
    ``world_size`` are the data-parallel hooks (:mod:`scssl.train.distributed`): an epoch then
    has ``ceil(n_train / (batch_size * world_size))`` steps, and this process trains on its
    share of each global batch.
    """

    rank: int = 0
    world_size: int = 1

    def __init__(
        self,
        module: SSLModule,
        data: CellData,
        config: TrainConfig,
        *,
        workdir: str | Path | None = None,
        progress: bool = True,
    ) -> None:
        self.module = module
        self.data = data
        self.config = config
        self.workdir = Path(workdir) if workdir else None
        self.progress = progress
        self.device = torch.device(data.device)
        self.module.to(self.device)
        rng = np.random.default_rng(config.seed)
        perm = rng.permutation(data.n_cells)
        n_val = round(config.val_frac * data.n_cells) if data.n_cells >= 50 else 0
        self.val_idx, self.train_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])
        self.global_batch = config.batch_size * self.world_size
        self.steps_per_epoch = max(1, math.ceil(len(self.train_idx) / self.global_batch))
        self.max_epochs = max(config.max_epochs, math.ceil(config.min_steps / self.steps_per_epoch))
        # patience is a share of the schedule: it stretches with the epochs min_steps adds
        self.patience = max(1, round(config.patience * self.max_epochs / max(1, config.max_epochs)))
        total = self.max_epochs * self.steps_per_epoch
        torch.manual_seed(config.seed)
        # fused AdamW: one kernel for all parameters, several times faster than the default
        self.opt = torch.optim.AdamW(
            module.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=True
        )
        warmup = max(1, int(config.warmup_frac * total))
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, _lr_lambda(total, warmup))
        self.total_steps = total
        self.epoch = 0
        self.history: list[dict[str, Any]] = []
        self.best: float = math.inf
        self.wait = 0
        self.best_state: dict[str, torch.Tensor] | None = None

    def _autocast(self):
        cfg = self.config
        if cfg.bf16 and self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        if cfg.bf16 and cfg.cpu_bf16 and self.device.type == "cpu" and native_cpu_bf16():
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _val_loss(self) -> float | None:
        if len(self.val_idx) == 0:
            return None
        self.module.eval()
        torch.manual_seed(self.config.seed + 7919)  # same corruption every epoch
        total, n = 0.0, 0
        with torch.no_grad(), self._autocast():
            for idx in _batches(self.val_idx, self.config.batch_size, None):
                out = self.module.loss(self.data.batch(idx, self.module.input_keys()), progress=1.0)
                total += float(out.loss) * len(idx)
                n += len(idx)
        return total / n

    def fit(self, *, epochs: int | None = None) -> list[dict[str, Any]]:
        """Train until ``max_epochs`` (raised to reach ``min_steps``), early stopping, or
        ``epochs`` more epochs (then resume)."""
        cfg = self.config
        stop_at = self.max_epochs if epochs is None else min(self.max_epochs, self.epoch + epochs)
        bar = tqdm(
            total=self.max_epochs,
            initial=self.epoch,
            desc=f"train {self.module.family}",
            unit="epoch",
            disable=not self.progress,
            leave=False,
        )
        stopped = False
        while self.epoch < stop_at and not stopped:
            e = self.epoch
            # rank 0 (and a single process) draws exactly the single-process random numbers
            torch.manual_seed(cfg.seed * 1_000_003 + e + 104_729 * self.rank)
            rng = np.random.default_rng([cfg.seed, e])
            self.module.train()
            t0 = time.perf_counter()
            sums: dict[str, float] = {}
            n_seen = 0
            data_secs = 0.0  # host time getting minibatches: the accelerator idles meanwhile
            order = self.data.shuffled(self.train_idx, rng)
            for step, idx in enumerate(_batches(order, self.global_batch, None)):
                idx = self._rank_part(idx)
                t_data = time.perf_counter()
                batch = self.data.batch(idx, self.module.input_keys())
                data_secs += time.perf_counter() - t_data
                progress = (e * self.steps_per_epoch + step) / self.total_steps
                with self._autocast():
                    out = self._loss(batch, progress)
                if not torch.isfinite(out.loss):
                    where = (
                        f" The last good checkpoint (end of epoch {e}) is kept in {self.workdir}."
                        if self.workdir and e > 0
                        else ""
                    )
                    raise TrainingError(
                        f"{self.module.family}: the loss became {float(out.loss.detach())} at "
                        f"epoch {e + 1}, step {step + 1}; training stopped.{where} Lower --lr, or "
                        "check the input for extreme values."
                    )
                self.opt.zero_grad(set_to_none=True)
                out.loss.backward()
                if cfg.grad_clip:
                    torch.nn.utils.clip_grad_norm_(self.module.parameters(), cfg.grad_clip)
                self.opt.step()
                self.sched.step()
                self.module.on_step_end()
                n_seen += len(idx)
                sums["loss"] = sums.get("loss", 0.0) + float(out.loss.detach()) * len(idx)
                for k, v in out.parts.items():
                    sums[k] = sums.get(k, 0.0) + float(v.detach()) * len(idx)
            if self.device.type == "cuda":
                torch.cuda.synchronize()
            sums, n_seen = self._reduce(sums, n_seen)
            secs = time.perf_counter() - t0
            row: dict[str, Any] = {"epoch": e + 1}
            row.update({f"train_{k}": v / max(n_seen, 1) for k, v in sums.items()})
            val = self._val_loss()
            if val is not None:
                row["val_loss"] = val
            row["lr"] = self.sched.get_last_lr()[0]
            row["seconds"] = secs
            row["cells_per_s"] = n_seen / secs if secs > 0 else float("nan")
            row["data_fraction"] = data_secs / secs if secs > 0 else float("nan")
            self.history.append(row)
            score = val if val is not None else row["train_loss"]
            if score < self.best - cfg.min_delta:
                self.best, self.wait = score, 0
                self.best_state = copy.deepcopy(self.module.state_dict())
            else:
                self.wait += 1
                stopped = self.wait >= self.patience
            stopped = self._agree(stopped)
            self.epoch = e + 1
            bar.update(1)
            bar.set_postfix(
                loss=f"{row['train_loss']:.4f}", val=f"{val:.4f}" if val is not None else "-"
            )
            if self.workdir is not None:
                self.save_state(stopped)
        bar.close()
        if stopped:
            logger.info("early stopping after epoch %d (best %.4f)", self.epoch, self.best)
        if self.finished and self.best_state is not None:
            self.module.load_state_dict(self.best_state)
        return self.history

    # --- data-parallel hooks (identity in a single process) -----------------------------
    def _rank_part(self, idx: np.ndarray) -> np.ndarray:
        """This process's cells of a global batch."""
        return idx

    def _loss(self, batch: dict[str, torch.Tensor], progress: float):
        return self.module.loss(batch, progress=progress)

    def _reduce(self, sums: dict[str, float], n_seen: int) -> tuple[dict[str, float], int]:
        """The epoch's loss sums and cell count over all processes."""
        return sums, n_seen

    def _agree(self, stopped: bool) -> bool:
        """Rank 0's early-stopping decision, on every process."""
        return stopped

    @property
    def finished(self) -> bool:
        """True when the run reached max_epochs (after ``min_steps``) or early stopping."""
        return self.epoch >= self.max_epochs or self.wait >= self.patience

    # --- resume state -----------------------------------------------------------------
    def save_state(self, stopped: bool = False) -> None:
        """Write ``workdir/resume`` (weights, optimizer, best weights, counters) atomically."""
        from safetensors.torch import save_file

        assert self.workdir is not None
        tensors = {
            f"model.{k}": v.detach().cpu().contiguous() for k, v in self.module.state_dict().items()
        }
        if self.best_state is not None:
            tensors.update(
                {f"best.{k}": v.detach().cpu().contiguous() for k, v in self.best_state.items()}
            )
        opt = self.opt.state_dict()
        for pid, st in opt["state"].items():
            for name, val in st.items():
                t = val if torch.is_tensor(val) else torch.tensor(val)
                tensors[f"opt.{pid}.{name}"] = t.detach().cpu().contiguous()
        meta = {
            "epoch": self.epoch,
            "best": self.best if math.isfinite(self.best) else None,
            "wait": self.wait,
            "history": self.history,
            "param_groups": opt["param_groups"],
            "sched": self.sched.state_dict(),
            "n_train": len(self.train_idx),
            "stopped": stopped,
        }
        with atomic_path(self.workdir / "resume", is_dir=True) as tmp:
            save_file(tensors, str(tmp / "state.safetensors"))
            (tmp / "state.json").write_text(json.dumps(meta, default=_plain))

    def load_state(self) -> bool:
        """Restore from ``workdir/resume``; False when there is nothing to resume."""
        from safetensors.torch import load_file

        folder = self.workdir / "resume" if self.workdir else None
        if folder is None or not (folder / "state.json").is_file():
            return False
        meta = json.loads((folder / "state.json").read_text())
        tensors = load_file(str(folder / "state.safetensors"), device=str(self.device))
        self.module.load_state_dict(
            {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
        )
        best = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")}
        self.best_state = best or None
        state: dict[int, dict[str, torch.Tensor]] = {}
        for k, v in tensors.items():
            if k.startswith("opt."):
                _, pid, name = k.split(".", 2)
                state.setdefault(int(pid), {})[name] = v.cpu() if name == "step" else v
        self.opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
        self.sched.load_state_dict(meta["sched"])
        self.epoch = meta["epoch"]
        self.best = meta["best"] if meta["best"] is not None else math.inf
        self.wait = meta["wait"]
        self.history = meta["history"]
        return True


def _plain(o: Any) -> Any:
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if torch.is_tensor(o):
        return o.tolist()
    raise TypeError(type(o).__name__)
