"""``contrastive``: two augmented views per cell, one of five self-supervised objectives.

Views come from the CLEAR augmentation suite (Han et al. 2022, Brief. Bioinform. 23:bbac377):
count (gamma-Poisson) noise, in-cell gene swap, crossover with another cell, masking and
Gaussian noise, each applied to a cell with its own probability. Objectives: ``simclr``
(NT-Xent), ``moco`` (momentum encoder and a queue of negatives, MoCo v2 as used by CLEAR),
``byol`` (predictor and EMA target), ``barlow`` (Barlow Twins) and ``vicreg``.

An MLP encoder gives the representation (the embedding); a projection head feeds the loss.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from ..data.dataset import X
from ..data.spec import DataSpec
from ..nn.augment import clear_view
from ..nn.contrastive_losses import barlow_twins, byol_loss, info_nce_queue, nt_xent, vicreg
from ..nn.mlp import mlp
from .base import LossOutput, SSLModule

OBJECTIVES = ("simclr", "moco", "byol", "barlow", "vicreg")
_PROBS = ("p_count", "p_swap", "p_crossover", "p_mask", "p_noise")
_RATES = ("swap_rate", "crossover_rate", "mask_rate")


@dataclass(frozen=True)
class ContrastiveConfig:
    """Hyperparameters of the contrastive family (saved with the weights).

    ``p_*`` is the probability that a cell gets that augmentation in a view; ``*_rate`` the
    share of genes touched, ``noise_std`` the Gaussian sd (log scale), ``count_dispersion``
    the NB overdispersion of the count noise. ``momentum`` is MoCo's key-encoder momentum and
    BYOL's base EMA rate (raised to 1 along a cosine over training, as in BYOL).
    """

    objective: str = "simclr"
    hidden: tuple[int, ...] = (256,)
    n_latent: int = 32
    proj_hidden: int = 128
    proj_dim: int = 64
    dropout: float = 0.0
    temperature: float = 0.5
    p_count: float = 0.0
    count_dispersion: float = 0.2
    p_swap: float = 0.0
    swap_rate: float = 0.1
    p_crossover: float = 0.5
    crossover_rate: float = 0.25
    p_mask: float = 0.8
    mask_rate: float = 0.3
    p_noise: float = 0.8
    noise_std: float = 0.2
    queue_size: int = 1024
    momentum: float = 0.99
    barlow_lambda: float = 5e-3
    vicreg_weights: tuple[float, float, float] = (25.0, 25.0, 1.0)

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, not {self.objective!r}")
        if not self.hidden or any(not isinstance(h, int) or h < 1 for h in self.hidden):
            raise ValueError(f"hidden must be positive layer sizes, not {self.hidden!r}")
        for name in ("n_latent", "proj_hidden", "proj_dim", "queue_size"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive integer, not {v!r}")
        for name in _PROBS:
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], not {getattr(self, name)}")
        for name in _RATES:
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be in [0, 1), not {getattr(self, name)}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), not {self.dropout}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, not {self.temperature}")
        if self.noise_std < 0 or self.count_dispersion < 0:
            raise ValueError("noise_std and count_dispersion must be >= 0")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), not {self.momentum}")
        if self.barlow_lambda <= 0:
            raise ValueError(f"barlow_lambda must be > 0, not {self.barlow_lambda}")
        if len(self.vicreg_weights) != 3 or any(w < 0 for w in self.vicreg_weights):
            raise ValueError(f"vicreg_weights must be 3 numbers >= 0, not {self.vicreg_weights}")
        strengths = (1.0, self.swap_rate, self.crossover_rate, self.mask_rate, self.noise_std)
        if not any(getattr(self, p) > 0 and s > 0 for p, s in zip(_PROBS, strengths, strict=True)):
            raise ValueError("no augmentation is active: the two views would be identical")


class ContrastiveModule(SSLModule):
    """Encoder -> representation -> projector (-> predictor for BYOL); target nets for MoCo/BYOL."""

    family = "contrastive"
    train_defaults: ClassVar[dict] = {"max_epochs": 40, "batch_size": 256, "lr": 1e-3}

    def __init__(self, config: ContrastiveConfig, spec: DataSpec, extras: dict | None = None):
        super().__init__(config, spec, extras)
        c = config
        self.encoder = mlp(spec.n_genes, c.hidden, c.n_latent, dropout=c.dropout)
        self.projector = mlp(c.n_latent, (c.proj_hidden,), c.proj_dim)
        if c.objective == "byol":
            self.predictor = mlp(c.proj_dim, (c.proj_hidden,), c.proj_dim)
        if c.objective in ("moco", "byol"):
            # momentum / EMA copies: saved with the weights, never touched by the optimizer
            self.target_encoder = copy.deepcopy(self.encoder).requires_grad_(False)
            self.target_projector = copy.deepcopy(self.projector).requires_grad_(False)
        if c.objective == "moco":
            gen = torch.Generator().manual_seed(0)
            queue = F.normalize(torch.randn(c.queue_size, c.proj_dim, generator=gen), dim=1)
            # the queue is training state only: not saved, so strict loading stays exact
            self.register_buffer("queue", queue, persistent=False)
            self._queue_ptr = 0
        self._pending: torch.Tensor | None = None
        self._progress = 0.0

    def views(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Two independent CLEAR augmentations of ``x``."""
        c = self.config
        kw = {
            "count": (c.p_count, c.count_dispersion),
            "swap": (c.p_swap, c.swap_rate),
            "crossover_": (c.p_crossover, c.crossover_rate),
            "mask": (c.p_mask, c.mask_rate),
            "noise": (c.p_noise, c.noise_std),
        }
        return clear_view(x, **kw), clear_view(x, **kw)

    def _target(self, v: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.target_projector(self.target_encoder(v))

    def loss(self, batch: dict[str, torch.Tensor], *, progress: float = 1.0) -> LossOutput:
        c = self.config
        self._progress = progress
        v1, v2 = self.views(batch[X])
        z1 = self.projector(self.encoder(v1))
        z2 = self.projector(self.encoder(v2))
        if c.objective == "simclr":
            total = nt_xent(z1, z2, c.temperature)
            return LossOutput(total, {"nt_xent": total})
        if c.objective == "moco":
            k1, k2 = self._target(v1), self._target(v2)
            total = (
                info_nce_queue(z1, k2, self.queue, c.temperature)
                + info_nce_queue(z2, k1, self.queue, c.temperature)
            ) / 2
            if self.training:  # enqueued after the optimizer step (autograd still needs it)
                self._pending = F.normalize(torch.cat([k1, k2]).float(), dim=1)
            return LossOutput(total, {"info_nce": total})
        if c.objective == "byol":
            t1, t2 = self._target(v1), self._target(v2)
            total = (byol_loss(self.predictor(z1), t2) + byol_loss(self.predictor(z2), t1)) / 2
            return LossOutput(total, {"byol": total})
        if c.objective == "barlow":
            total = barlow_twins(z1, z2, c.barlow_lambda)
            return LossOutput(total, {"barlow": total})
        total, parts = vicreg(z1, z2, *c.vicreg_weights)
        return LossOutput(total, parts)

    @torch.no_grad()
    def on_step_end(self) -> None:
        c = self.config
        if c.objective not in ("moco", "byol"):
            return
        tau = c.momentum
        if c.objective == "byol":  # BYOL: tau rises from its base to 1 along a cosine
            tau = 1 - (1 - c.momentum) * (math.cos(math.pi * self._progress) + 1) / 2
        for online, target in (
            (self.encoder, self.target_encoder),
            (self.projector, self.target_projector),
        ):
            for po, pt in zip(online.parameters(), target.parameters(), strict=True):
                pt.lerp_(po.detach(), 1 - tau)
        if c.objective == "moco" and self._pending is not None:
            self._enqueue(self._pending)
            self._pending = None

    def _enqueue(self, keys: torch.Tensor) -> None:
        size = self.queue.shape[0]
        keys = keys[-size:].to(self.queue.dtype)
        idx = (self._queue_ptr + torch.arange(keys.shape[0], device=keys.device)) % size
        self.queue[idx] = keys
        self._queue_ptr = (self._queue_ptr + keys.shape[0]) % size

    def embed(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.encoder(batch[X])
