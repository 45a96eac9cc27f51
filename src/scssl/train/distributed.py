"""Data-parallel pretraining on several GPUs of one node (torch DistributedDataParallel).

``fit_distributed`` spawns ``devices`` worker processes (``torch.multiprocessing.spawn``,
meeting through a file in a private temporary folder; no ``torchrun``): NCCL on CUDA (one
GPU per rank), gloo on the CPU (for tests). Every rank builds the same module from the same
seed, and trains on its share of every global batch: the epoch's permutation is the
single-process one (seeded from ``(seed, epoch)``), cut into global batches of
``batch_size x devices`` cells, each split evenly across the ranks; DDP averages the
gradients, so one optimizer step sees the whole global batch (the effective batch is
``batch_size x devices``; the number of steps per epoch and the learning-rate schedule follow
it). Rank 0 alone validates, decides early stopping (broadcast to the others), and writes the
resume state and the final weights.
"""

from __future__ import annotations

import faulthandler
import json
import os
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from tqdm.auto import tqdm

from .._errors import InputError, ScsslError
from .._log import logger
from ..data.dataset import CellData
from ..data.spec import DataSpec
from .config import TrainConfig
from .trainer import Trainer, TrainingError

_ERRORS = {"InputError": InputError, "TrainingError": TrainingError}


class _LossForward(nn.Module):
    """Makes ``module.loss`` the forward of a module, so DDP hooks into it."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, batch: dict[str, torch.Tensor], progress: float):
        out = self.module.loss(batch, progress=progress)
        # every trainable parameter takes part in the graph (heads idle in some
        # configurations get a zero gradient), so DDP needs no unused-parameter search
        zero = sum(p.reshape(-1)[:1].sum() for p in self.module.parameters() if p.requires_grad)
        return out.loss + 0.0 * zero, out.parts


class _Result:
    """What the parent process gets back: history and whether training finished."""

    def __init__(self, history: list[dict[str, Any]], finished: bool) -> None:
        self.history = history
        self.finished = finished


class DistributedTrainer(Trainer):
    """:class:`Trainer` for one rank of a DDP run (the process group is already set up)."""

    def __init__(self, module, data, config, *, rank: int, world_size: int, **kw) -> None:
        self.rank, self.world_size = rank, world_size
        super().__init__(module, data, config, **kw)
        if self.rank != 0:
            self.progress = False
        ids = [self.device.index or 0] if self.device.type == "cuda" else None
        self.ddp = nn.parallel.DistributedDataParallel(_LossForward(self.module), device_ids=ids)

    def _rank_part(self, idx):
        return np.array_split(idx, self.world_size)[self.rank]

    def _loss(self, batch, progress):
        from ..models.base import LossOutput

        loss, parts = self.ddp(batch, progress)
        return LossOutput(loss=loss, parts=parts)

    def _reduce(self, sums, n_seen):
        keys = sorted(sums)
        t = torch.tensor([sums[k] for k in keys] + [float(n_seen)], dtype=torch.float64)
        t = t.to(self._comm_device())
        dist.all_reduce(t)
        vals = t.cpu().tolist()
        return dict(zip(keys, vals[:-1], strict=True)), int(vals[-1])

    def _val_loss(self):
        return super()._val_loss() if self.rank == 0 else None

    def _agree(self, stopped):
        t = torch.tensor([1.0 if stopped else 0.0], device=self._comm_device())
        dist.broadcast(t, src=0)
        return bool(t.item())

    def save_state(self, stopped: bool = False) -> None:
        if self.rank == 0:
            super().save_state(stopped)

    def _comm_device(self) -> torch.device:
        return self.device if dist.get_backend() == "nccl" else torch.device("cpu")


def _worker(rank: int, world: int, job: dict[str, Any]) -> None:
    """One rank: join the group, build the module, train, and (rank 0) save the results."""
    faulthandler.enable()  # a rank that aborts in native code still says where
    # tqdm's default lock is a named multiprocessing semaphore that only interpreter exit
    # frees (see _leave); each rank draws its own bars, so a thread lock is enough
    tqdm.set_lock(threading.RLock())
    tcfg: TrainConfig = job["train_config"]
    cuda = tcfg.device.startswith("cuda")
    # rendezvous through a file in the job's private folder: no port to race for, and no
    # store server on rank 0 that the other ranks depend on until they exit
    store = f"file://{Path(job['result_dir'], 'rendezvous')}"
    dist.init_process_group(
        "nccl" if cuda else "gloo", init_method=store, rank=rank, world_size=world
    )
    try:
        torch.set_num_threads(job["threads"])
        device = f"cuda:{rank}" if cuda else "cpu"
        if cuda:
            torch.cuda.set_device(rank)
        data: CellData = job["data"].moved(device, resident=tcfg.resident)
        torch.manual_seed(tcfg.seed)  # the same initial weights on every rank
        module = job["module_cls"](job["config"], job["spec"], job["extras"])
        trainer = DistributedTrainer(
            module,
            data,
            tcfg,
            rank=rank,
            world_size=world,
            workdir=job["workdir"],
            progress=job["progress"],
        )
        if job["resume"] and not trainer.load_state():
            raise InputError(f"--resume: no resume state in {job['workdir']}; run without it.")
        history = trainer.fit(epochs=job["epochs"])
        if rank == 0:
            from safetensors.torch import save_file

            out = Path(job["result_dir"])
            state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
            save_file(state, str(out / "weights.safetensors"))
            meta = {"history": history, "finished": trainer.finished}
            (out / "result.json").write_text(json.dumps(meta, default=float))
        dist.barrier()  # every rank is done with every collective, and rank 0 has saved
    except BaseException as err:
        if isinstance(err, ScsslError):
            Path(job["result_dir"], f"error_{rank}.json").write_text(
                json.dumps({"type": type(err).__name__, "message": str(err)})
            )
        dist.destroy_process_group()
        raise
    _leave()


def _leave() -> None:
    """End a rank whose work is saved without native teardown.

    Tearing gloo down (``destroy_process_group``, then the interpreter's own shutdown) while a
    peer does the same aborted a rank now and then ("terminate called without an active
    exception", SIGABRT: 1 of 9 local runs of two test files, and 2 CI runs), failing a run
    whose results were already written. Past the final barrier nothing is left to do: flush
    and exit 0; the OS closes the sockets and frees the memory.
    """
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(0)


def fit_distributed(
    module: nn.Module,
    module_cls: type,
    config: Any,
    spec: DataSpec,
    extras: dict[str, Any],
    data: CellData,
    train_config: TrainConfig,
    *,
    devices: int,
    workdir: str | Path | None = None,
    resume: bool = False,
    epochs: int | None = None,
    progress: bool = True,
) -> _Result:
    """Train ``module`` (built from ``module_cls(config, spec, extras)`` with seed
    ``train_config.seed``) on ``devices`` ranks; loads the trained weights into ``module``.

    ``data`` stays on the CPU here; each rank moves it to its own device.
    """
    import torch.multiprocessing as mp

    if devices < 2:
        raise InputError(f"--devices {devices}: data-parallel training needs 2 or more.")
    cuda = train_config.resolved_device().startswith("cuda")
    if cuda and devices > torch.cuda.device_count():
        raise InputError(
            f"--devices {devices}: only {torch.cuda.device_count()} CUDA GPU(s) visible on "
            "this node; lower --devices (or check CUDA_VISIBLE_DEVICES)."
        )
    if data.n_cells < 2 * devices:
        raise InputError(f"--devices {devices}: {data.n_cells} cells are too few to split.")
    tcfg = train_config
    if tcfg.device == "auto":
        from dataclasses import replace

        tcfg = replace(tcfg, device="cuda" if cuda else "cpu")
    threads = max(1, torch.get_num_threads() // (1 if cuda else devices))
    logger.info(
        "DDP on %d %s (%s): %d cells per rank per step, effective batch %d",
        devices,
        "GPUs" if cuda else "CPU processes",
        "nccl" if cuda else "gloo",
        tcfg.batch_size,
        tcfg.batch_size * devices,
    )
    with tempfile.TemporaryDirectory(prefix="scssl_ddp_") as tmp:
        job = {
            "train_config": tcfg,
            "threads": threads,
            "data": data,
            "module_cls": module_cls,
            "config": config,
            "spec": spec,
            "extras": extras,
            "workdir": str(workdir) if workdir else None,
            "resume": resume,
            "epochs": epochs,
            "progress": progress,
            "result_dir": tmp,
        }
        try:
            mp.spawn(_worker, args=(devices, job), nprocs=devices, join=True)
        except mp.ProcessRaisedException:
            for f in sorted(Path(tmp).glob("error_*.json")):
                err = json.loads(f.read_text())
                raise _ERRORS.get(err["type"], ScsslError)(err["message"]) from None
            raise
        from safetensors.torch import load_file

        module.load_state_dict(load_file(str(Path(tmp) / "weights.safetensors")))
        meta = json.loads((Path(tmp) / "result.json").read_text())
    return _Result(meta["history"], meta["finished"])
