"""Local training at one site: a copy of the global model trained E epochs on the site's cells.

With ``mu > 0`` the local objective gains FedProx's proximal term
``mu / 2 * ||w - w_global||^2`` (Li et al. 2020), which keeps sites with different cells
(non-IID) from drifting apart. The term applies in training only: the held-out (validation)
loss a site reports is the model's own loss.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import anndata as ad
import torch

from ..models.base import LossOutput, SSLModule
from ..train.config import TrainConfig
from ..train.trainer import Trainer
from .vocab import Alignment, align_to_vocab


class ProximalModule(SSLModule):
    """Wraps ``inner`` and adds ``mu / 2 * sum ||p - p_global||^2`` to its training loss."""

    def __init__(self, inner: SSLModule, mu: float) -> None:
        super().__init__(inner.config, inner.spec, inner.extras)
        self.inner = inner
        self.family = inner.family
        self.mu = float(mu)
        params = [p for p in inner.parameters() if p.requires_grad]
        for i, p in enumerate(params):  # the global weights, moved to the device with the module
            self.register_buffer(f"anchor_{i}", p.detach().clone(), persistent=False)

    def proximal(self) -> torch.Tensor:
        params = [p for p in self.inner.parameters() if p.requires_grad]
        total = sum(
            ((p.float() - getattr(self, f"anchor_{i}").float()) ** 2).sum()
            for i, p in enumerate(params)
        )
        return 0.5 * self.mu * total

    def input_keys(self) -> frozenset[str] | None:
        return self.inner.input_keys()

    def loss(self, batch: dict[str, torch.Tensor], *, progress: float = 1.0) -> LossOutput:
        out = self.inner.loss(batch, progress=progress)
        if not self.training or self.mu == 0:
            return out
        prox = self.proximal()
        parts = {**out.parts, "ssl": out.loss.detach(), "prox": prox.detach()}
        return LossOutput(out.loss + prox, parts)

    def embed(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.inner.embed(batch)

    def on_step_end(self) -> None:
        self.inner.on_step_end()


def local_train(
    adata: ad.AnnData,
    module: SSLModule,
    train_config: TrainConfig,
    *,
    epochs: int,
    mu: float = 0.0,
    min_overlap: float = 0.5,
    where: str = "site",
    progress: bool = False,
) -> tuple[SSLModule, list[dict[str, Any]], dict[str, Any], Alignment]:
    """Train ``module`` (the global model, changed in place) ``epochs`` epochs on ``adata``.

    ``adata`` is the site's preprocessed AnnData; it is aligned to the module's genes. The
    trainer holds out ``val_frac`` of the cells, as in ``scssl pretrain``, and returns the
    weights of the epoch with the lowest held-out loss.

    Returns
    -------
    The trained module, its per-epoch history, the site's summary (``n_cells``, ``loss``:
    held-out loss of the returned weights, ``train_loss``: last epoch's) and the alignment.
    """
    if epochs < 1:
        raise ValueError(f"local epochs must be >= 1, not {epochs}")
    tcfg = replace(train_config, max_epochs=epochs, min_steps=0)  # E epochs, exactly
    data, report = align_to_vocab(
        adata,
        module.spec.genes,
        min_overlap=min_overlap,
        device=tcfg.resolved_device(),
        where=where,
    )
    model: SSLModule = ProximalModule(module, mu) if mu > 0 else module
    trainer = Trainer(model, data, tcfg, progress=progress)
    history = trainer.fit()
    last = history[-1]
    train_loss = last.get("train_ssl", last["train_loss"])
    loss = trainer.best if math.isfinite(trainer.best) else train_loss
    summary = {
        "n_cells": int(data.n_cells),
        "n_train": len(trainer.train_idx),
        "n_val": len(trainer.val_idx),
        "loss": float(loss),
        "train_loss": float(train_loss),
        "epochs": len(history),
    }
    return module, history, summary, report
