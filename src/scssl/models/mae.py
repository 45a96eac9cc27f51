"""``mae``: MLP masked autoencoder on log-normalized HVGs.

Maskers: ``random`` (Bernoulli), ``programme`` (whole gene sets hidden together: from a GMT
file, where a transcription-factor -> targets GMT gives the TF-target variant, or without one
co-expression programmes of the training cells, ``scssl.pp.programmes``) and ``swap``
(scMAE, Fang et al. 2024: masked entries take the same gene's value from another cell, and a
head predicts which entries were swapped). Losses: MSE on masked entries (plus a small weight
on the visible ones) or a negative binomial likelihood of the raw counts. With proteins in
the data spec (CITE-seq), the CLR values join the encoder input, are masked at the same rate
and reconstructed by their own head (weight ``protein_weight``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._log import logger as log
from ..data.dataset import COUNTS, PROTEIN, X
from ..data.spec import DataSpec
from ..nn.likelihoods import nb_log_prob
from ..nn.masking import programme_mask, random_mask, swap_corrupt
from ..nn.mlp import mlp
from .base import LossOutput, SSLModule

MASKERS = ("random", "programme", "swap")
LOSSES = ("mse", "nb")


@dataclass(frozen=True)
class MAEConfig:
    """Hyperparameters of the masked autoencoder (saved with the weights)."""

    hidden: tuple[int, ...] = (256,)
    n_latent: int = 32
    dropout: float = 0.1
    masker: str = "swap"
    mask_rate: float = 0.5
    loss: str = "mse"
    visible_weight: float = 0.1
    mask_head_weight: float = 0.5
    loss_genes: float = 0.25
    # 10 ADTs beside 2,000 genes: at weight 1 they barely shape the latent. On CBMC (3
    # training seeds) weight 10 gives KMeans ARI 0.544 vs RNA alone 0.523 (1: 0.533, 30:
    # 0.534); CBMC is the only labelled CITE-seq set, so this is tuned on it
    # (benchmarks/protein_weight.py, docs/benchmarks.md). With standardize=true (proteins
    # scaled too) weight 1 suits CBMC better (0.589 vs RNA alone 0.567; 3: 0.537)
    protein_weight: float = 10.0
    # standardize: each gene's log-normalized values divided by its sd over the training
    # cells, clipped at 10, as input and as reconstruction target (every gene weighs alike,
    # as in a scaled PCA); not centred unless ``center``: a zero stays "not detected", which
    # masking and swap rely on. Opt-in: it raises mean KMeans ARI over the 5 labelled sets
    # (0.659 -> 0.703, 3 training seeds; Baron 0.709 -> 0.888) but lowers label transfer
    # (full fine-tune macro-F1 over 3 encoder seeds Baron 0.952 -> 0.946, pbmc4k 0.970 ->
    # 0.961): the highly expressed genes that tell close types apart lose their weight;
    # docs/models.md
    standardize: bool = False
    center: bool = False
    gmt: str = ""
    # masker=programme without a GMT: this many co-expression programmes of the training
    # cells (scssl.pp.programmes); ~40 genes each on 2,000 HVGs
    n_programmes: int = 50

    def __post_init__(self) -> None:
        if self.masker not in MASKERS:
            raise ValueError(f"masker must be one of {MASKERS}, not {self.masker!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, not {self.loss!r}")
        if not 0 < self.loss_genes <= 1:
            raise ValueError(f"loss_genes must be in (0, 1], not {self.loss_genes}")
        if not 0 < self.mask_rate < 1:
            raise ValueError(f"mask_rate must be in (0, 1), not {self.mask_rate}")
        if self.n_programmes < 2:
            raise ValueError(f"n_programmes must be at least 2, not {self.n_programmes}")


@dataclass(frozen=True)
class GeneWindow:
    """``size`` adjacent gene columns from ``start``, wrapping around at ``n_genes``."""

    start: int
    size: int
    n_genes: int

    def take(self, t: torch.Tensor, dim: int) -> torch.Tensor:
        """The window's entries of ``t`` along ``dim`` (a view unless it wraps)."""
        head = min(self.size, self.n_genes - self.start)
        part = t.narrow(dim, self.start, head)
        if head == self.size:
            return part
        return torch.cat([part, t.narrow(dim, 0, self.size - head)], dim)


class MAEModule(SSLModule):
    """Encoder -> latent -> decoder; optional mask-prediction head for swap corruption."""

    family = "mae"
    # batches of 512 amortise the per-step cost (optimizer, kernel launches): ~1.7x the
    # cells/s of 128 on 2 CPU threads. min_steps keeps the step budget on small data sets
    # (2,000 cells are 4 steps an epoch), where 40 epochs of 512 would undertrain. 600 steps
    # give the best clustering; label transfer from the encoder keeps improving to ~2,000
    # steps (pbmc4k 50/50 fine-tune macro-F1 0.964 -> 0.972) while KMeans ARI falls (pbmc4k
    # 0.709 -> 0.597, Baron 0.628 -> 0.419), so 2,000 is the documented setting for label
    # transfer (--min-steps 2000), not the default. bf16 autocast also on CPUs that multiply
    # bf16 natively (~1.5x the fp32 rate). Figures: docs/benchmarks.md.
    # the latent's length follows depth and other cell-level detail, its direction the cell
    # type: unit vectors raise KMeans ARI on 14 of 15 runs (5 data sets x 3 training seeds;
    # mean 0.623 -> 0.659), while unit-length PCA scores lower than PCA (docs/benchmarks.md)
    unit_embedding = True
    train_defaults: ClassVar[dict] = {
        "max_epochs": 40,
        "min_steps": 600,
        "batch_size": 512,
        "lr": 2e-3,
        "cpu_bf16": True,
    }

    @classmethod
    def build_extras(cls, config: MAEConfig, spec: DataSpec, adata, data=None) -> dict:
        extras: dict = {}
        if config.standardize:
            if data is None:
                from ..data.prepare import build_cell_data

                data = build_cell_data(adata, spec)[0]
            mean, sq = data.gene_moments()
            if config.center:
                extras["gene_mean"] = mean.tolist()
            extras["gene_std"] = np.sqrt(np.maximum(sq - mean**2, 1e-6)).tolist()
            if data.protein is not None:  # the CLR values the training data already holds
                prot = data.protein.cpu().numpy().astype(np.float64)
                extras["protein_std"] = np.maximum(prot.std(axis=0), 1e-3).tolist()
        if config.masker == "programme":
            extras["programmes"] = cls._programmes(config, spec, adata)
        return extras

    @staticmethod
    def _programmes(config: MAEConfig, spec: DataSpec, adata) -> list[list[int]]:
        """Gene index sets: the GMT's, or co-expression programmes of the training cells."""
        if config.gmt:
            from ..io.gmt import programme_indices, read_gmt

            return programme_indices(read_gmt(config.gmt), list(spec.genes))
        from ..data.prepare import build_cell_data
        from ..pp.programmes import programme_labels

        n = min(config.n_programmes, spec.n_genes)
        labels = programme_labels(build_cell_data(adata, spec)[0].X, n)
        log.info("masker=programme without a GMT: %d co-expression programmes of the cells", n)
        return [np.flatnonzero(labels == i).tolist() for i in range(n)]

    def __init__(self, config: MAEConfig, spec: DataSpec, extras: dict | None = None):
        super().__init__(config, spec, extras)
        g = spec.n_genes
        self.n_prot = spec.n_proteins
        self.encoder = mlp(g + self.n_prot, config.hidden, config.n_latent, dropout=config.dropout)
        width = config.hidden[0]
        self.decoder = mlp(
            config.n_latent,
            tuple(reversed(config.hidden))[:-1],
            width,
            dropout=config.dropout,
            last_activation=True,
        )
        self.recon_out = nn.Linear(width, g)
        if self.n_prot:
            self.protein_out = nn.Linear(width, self.n_prot)
        if config.masker == "swap":
            self.mask_out = nn.Linear(width, g)
        if config.loss == "nb":
            self.log_theta = nn.Parameter(torch.zeros(g))
        membership = torch.zeros(0, g)
        if config.masker == "programme":
            sets = (extras or {}).get("programmes", [])
            membership = torch.zeros(len(sets), g)
            for i, idx in enumerate(sets):
                membership[i, idx] = 1.0
        self.register_buffer("membership", membership, persistent=False)
        ex = extras or {}
        mean = torch.tensor(ex.get("gene_mean", [0.0] * g), dtype=torch.float32)
        std = torch.tensor(ex.get("gene_std", [1.0] * g), dtype=torch.float32)
        self.register_buffer("gene_mean", mean, persistent=False)
        self.register_buffer("gene_std", std, persistent=False)
        pstd = torch.tensor(ex.get("protein_std", [1.0] * self.n_prot), dtype=torch.float32)
        self.register_buffer("protein_std", pstd, persistent=False)

    def _x(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Log-normalized input, divided by each gene's sd (minus its mean with ``center``),
        clipped at +-10, when ``standardize``."""
        x = batch[X]
        if not self.config.standardize:
            return x
        return ((x - self.gene_mean) / self.gene_std).clamp(-10.0, 10.0)

    def corrupt(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        c = self.config
        if c.masker == "programme":
            mask = programme_mask(x, self.membership, c.mask_rate)
        else:
            mask = random_mask(x, c.mask_rate)
        x_in = swap_corrupt(x, mask) if c.masker == "swap" else x * (1.0 - mask)
        return x_in, mask

    def _p(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Protein CLR values, clipped at +-10; with ``standardize`` first divided by each
        protein's sd (the scale of the genes; without it the sds are 1)."""
        return (batch[PROTEIN] / self.protein_std).clamp(-10.0, 10.0)

    def input_keys(self) -> frozenset[str] | None:
        keys = {X} if self.config.loss == "mse" else {X, COUNTS}
        return frozenset(keys | ({PROTEIN} if self.n_prot else set()))

    def _inputs(self, batch: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self._p(batch)], dim=1) if self.n_prot else x

    def _genes_for_loss(self, n_genes: int, device: torch.device) -> GeneWindow | None:
        """The gene columns scored this step (None: all).

        MSE over a ``loss_genes`` share of the columns, a window of adjacent genes at a random
        start (wrapping around), is an unbiased estimate of the full loss: every gene is in
        the window with the same probability. It skips most of the output layers' work (the
        dominant cost on CPUs), and a window is sliced, not gathered.
        """
        if not self.training or self.config.loss != "mse" or self.config.loss_genes >= 1:
            return None
        k = max(1, round(self.config.loss_genes * n_genes))
        start = int(torch.randint(n_genes, (1,), device=device))
        return GeneWindow(start, k, n_genes)

    @staticmethod
    def _head(layer: nn.Linear, h: torch.Tensor, cols: GeneWindow | None) -> torch.Tensor:
        if cols is None:
            return layer(h)
        return F.linear(h, cols.take(layer.weight, 0), cols.take(layer.bias, 0))

    def loss(self, batch: dict[str, torch.Tensor], *, progress: float = 1.0) -> LossOutput:
        c = self.config
        x = self._x(batch)
        x_in, mask = self.corrupt(x)
        if self.n_prot:
            p = self._p(batch)
            p_mask = random_mask(p, c.mask_rate)
            h = self.decoder(self.encoder(torch.cat([x_in, p * (1.0 - p_mask)], 1)))
        else:
            h = self.decoder(self.encoder(x_in))
        cols = self._genes_for_loss(x.shape[1], x.device)
        target = x if cols is None else cols.take(x, 1)
        m = mask if cols is None else cols.take(mask, 1)
        out = self._head(self.recon_out, h, cols)
        parts: dict[str, torch.Tensor] = {}
        if c.loss == "mse":
            err = (out.float() - target) ** 2
            masked = (err * m).sum() / m.sum().clamp(min=1.0)
            visible = (err * (1 - m)).sum() / (1 - m).sum().clamp(min=1.0)
            parts["recon_masked"] = masked
            parts["recon_visible"] = visible
            total = masked + c.visible_weight * visible
        else:
            counts = batch[COUNTS]
            lib = counts.sum(1, keepdim=True)
            mu = torch.softmax(out.float(), dim=-1) * lib
            nll = -nb_log_prob(counts, mu, self.log_theta.exp())
            weight = m + c.visible_weight * (1 - m)
            total = (nll * weight).sum() / x.shape[0] / x.shape[1]
            parts["nb_nll"] = total
        if self.n_prot:
            pm = p_mask
            perr = (self.protein_out(h).float() - p) ** 2
            p_loss = (perr * (pm + c.visible_weight * (1 - pm))).mean()
            parts["protein"] = p_loss
            total = total + c.protein_weight * p_loss
        if c.masker == "swap":
            # swapped: masked and given a different value (0/1 float, no boolean ops)
            swapped = mask * torch.sign((x_in - x).abs())
            swapped = swapped if cols is None else cols.take(swapped, 1)
            logits = self._head(self.mask_out, h, cols).float()
            bce = F.binary_cross_entropy_with_logits(logits, swapped)
            parts["mask_bce"] = bce
            total = total + c.mask_head_weight * bce
        return LossOutput(total, parts)

    def embed(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.encoder(self._inputs(batch, self._x(batch)))
