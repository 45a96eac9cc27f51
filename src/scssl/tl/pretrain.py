"""Pretrain a self-supervised model family on a preprocessed AnnData."""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import anndata as ad
import torch

from .._errors import InputError
from .._log import step
from ..data.prepare import build_cell_data, data_hash, spec_from_anndata
from ..models import config_from_dict, get_family
from ..models.base import SSLModule
from ..train.config import TrainConfig
from ..train.trainer import Trainer


def train_config_for(family: str, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """The family's default TrainConfig with ``overrides`` applied (unknown keys: InputError).

    An explicit ``max_epochs`` is a hard cap: the family's ``min_steps`` (more epochs on
    small data) then no longer applies unless ``min_steps`` is given too.
    """
    _, module_cls = get_family(family)
    over = dict(overrides or {})
    if over.get("max_epochs") is not None and "min_steps" not in over:
        over["min_steps"] = 0
    kw = {**module_cls.train_defaults, **over}
    known = set(asdict(TrainConfig()))
    unknown = set(kw) - known
    if unknown:
        raise InputError(f"unknown training option(s) {sorted(unknown)}; known: {sorted(known)}")
    return replace(TrainConfig(), **kw)


def pretrain(
    adata: ad.AnnData,
    *,
    family: str = "mae",
    model_config: dict[str, Any] | None = None,
    train_config: TrainConfig | None = None,
    batch_key: str | None = "batch",
    use_protein: bool = True,
    workdir: str | Path | None = None,
    resume: bool = False,
    epochs: int | None = None,
    progress: bool = True,
    devices: int = 1,
    backed: str | Path | None = None,
) -> tuple[SSLModule, list[dict[str, Any]], str, Any]:
    """Train ``family`` on the HVGs of ``adata`` (log-normalized X, counts layer).

    ``devices`` > 1 trains data-parallel (DDP) on that many GPUs of this node (on the CPU,
    that many gloo processes), each with ``batch_size`` cells per step: the effective batch
    is ``batch_size x devices`` (:mod:`scssl.train.distributed`). With ``backed`` (the
    .h5ad that ``adata`` came from, read by :func:`scssl.data.backed.read_shell`), the
    expression and counts are read from that file one row block at a time (out-of-core).

    Returns
    -------
    The trained module, the per-epoch history, the data hash and the trainer (with
    ``devices`` > 1, an object with the trainer's ``history`` and ``finished``).
    """
    try:
        cfg_cls, module_cls = get_family(family)
        config = config_from_dict(cfg_cls, model_config or {})
    except (ValueError, TypeError) as err:
        raise InputError(f"--family {family}: {err}") from None
    tcfg = train_config or train_config_for(family)
    spec = spec_from_anndata(adata, batch_key=batch_key, use_protein=use_protein)
    with step(f"pretrain {family}") as added:
        ddp = devices > 1
        device = "cpu" if ddp else tcfg.resolved_device()
        if backed is not None:
            from ..data.backed import BackedCellData

            if tcfg.resident:
                raise InputError("--backed and --resident exclude each other; drop one.")
            data: Any = BackedCellData(backed, adata, spec, device=device)
        else:
            data, _ = build_cell_data(
                adata, spec, device=device, resident=tcfg.resident and not ddp
            )
        try:
            extras = module_cls.build_extras(config, spec, adata, data=data)
        except InputError as err:
            if backed is None:
                raise
            raise InputError(
                f"--backed: these {family} options need the whole matrix in memory ({err}); "
                "run without --backed."
            ) from None
        torch.manual_seed(tcfg.seed)  # weight initialisation is part of the seeded run
        module = module_cls(config, spec, extras)
        if ddp:
            from ..train.distributed import fit_distributed

            trainer: Any = fit_distributed(
                module,
                module_cls,
                config,
                spec,
                extras,
                data,
                tcfg,
                devices=devices,
                workdir=workdir,
                resume=resume,
                epochs=epochs,
                progress=progress,
            )
            history = trainer.history
        else:
            trainer = Trainer(module, data, tcfg, workdir=workdir, progress=progress)
            if resume and not trainer.load_state():
                raise InputError(f"--resume: no resume state in {workdir}; run without --resume.")
            history = trainer.fit(epochs=epochs)
        added.append(f"{len(history)} epochs")
    return module, history, data_hash(data, spec), trainer
