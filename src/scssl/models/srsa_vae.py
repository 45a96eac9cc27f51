"""``srsa_vae``: variational autoencoder with residual self-attention in the encoder.

Encoder: log-normalized HVGs (plus protein CLR values when ``use_protein`` and the data has
proteins) -> Linear/LayerNorm/GELU -> residual attention ``h + alpha * Attn(h)`` (``alpha``
learnable, starting at ``alpha_init``) -> more layers -> posterior mean and log-variance of z.
The encoder never sees the batch, so cells from new data can be embedded. Decoder (scVI
style, Lopez et al. 2018): ``[z, one-hot batch]`` -> softmax gene proportions, times the cell's
library over the model genes, is the mean of a NB or ZINB likelihood on the raw counts (the
library enters as a fixed scale, not as a latent variable). With proteins, a head predicts
the CLR values from ``[z, one-hot batch]`` under a Gaussian with learned per-protein spread.
The KL weight rises linearly from 0 to 1 over the first ``kl_warmup`` share of training.

Attention modes (``attention``): ``"cells"`` across cells, ``"features"`` across feature
tokens of each cell (see :mod:`scssl.nn.attention`), ``"none"`` (plain VAE).

Inference independent of minibatch composition (``"cells"``): in training mode each cell
attends over all cells of its minibatch (itself included). The module also keeps a fixed-size
reference set: a persistent buffer holding the *encoder inputs* of the ``n_reference`` most
recently seen training cells (a ring buffer written at every training step; the trainer
shuffles, so it is a random sample of training cells, saved with the weights). In eval mode,
and always in :meth:`embed`, each cell attends over itself plus the hidden states of those
reference cells, recomputed with the current weights. A cell's embedding (the posterior mean
of z) is therefore a function of that cell and the saved model only: embedding it alone or in
any batch gives the same numbers, and it is deterministic. ``n_reference`` defaults to the
training batch size, so inference sees a context of the same size as training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..data.dataset import BATCH, COUNTS, PROTEIN, X
from ..data.spec import DataSpec
from ..nn.attention import CellAttention, FeatureAttention
from ..nn.likelihoods import nb_log_prob, zinb_log_prob
from ..nn.mlp import mlp
from .base import LossOutput, SSLModule

ATTENTION = ("cells", "features", "none")
LIKELIHOODS = ("nb", "zinb")


@dataclass(frozen=True)
class SRSAVAEConfig:
    """Hyperparameters of the residual self-attention VAE (saved with the weights)."""

    hidden: tuple[int, ...] = (128,)
    n_latent: int = 16
    dropout: float = 0.1
    attention: str = "cells"
    n_heads: int = 4
    n_tokens: int = 16
    alpha_init: float = 1e-3
    n_reference: int = 128
    likelihood: str = "nb"
    kl_warmup: float = 0.3
    use_protein: bool = True
    protein_weight: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(self.hidden))
        if self.attention not in ATTENTION:
            raise ValueError(f"attention must be one of {ATTENTION}, not {self.attention!r}")
        if self.likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, not {self.likelihood!r}")
        if not self.hidden or any(
            isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in self.hidden
        ):
            raise ValueError(f"hidden must be one or more positive ints, not {self.hidden}")
        if self.n_latent < 1 or self.n_heads < 1 or self.n_tokens < 1 or self.n_reference < 1:
            raise ValueError("n_latent, n_heads, n_tokens and n_reference must be >= 1")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), not {self.dropout}")
        if not 0 <= self.kl_warmup <= 1:
            raise ValueError(f"kl_warmup must be in [0, 1], not {self.kl_warmup}")
        if not (math.isfinite(self.alpha_init) and math.isfinite(self.protein_weight)):
            raise ValueError("alpha_init and protein_weight must be finite")
        if self.protein_weight < 0:
            raise ValueError(f"protein_weight must be >= 0, not {self.protein_weight}")
        d = self.hidden[0]
        if self.attention == "cells" and d % self.n_heads:
            raise ValueError(f"hidden[0]={d} must be divisible by n_heads={self.n_heads}")
        tok = self.n_tokens
        if self.attention == "features" and (d % tok or (d // tok) % self.n_heads):
            raise ValueError(
                f"attention 'features': hidden[0]={d} must split into n_tokens={self.n_tokens} "
                f"tokens whose width is divisible by n_heads={self.n_heads}"
            )


class SRSAVAEModule(SSLModule):
    """Attention encoder -> Gaussian z -> NB/ZINB count decoder (+ protein head)."""

    family = "srsa_vae"
    train_defaults: ClassVar[dict] = {"max_epochs": 60, "batch_size": 128, "lr": 2e-3}

    def __init__(self, config: SRSAVAEConfig, spec: DataSpec, extras: dict | None = None):
        super().__init__(config, spec, extras)
        c = config
        g, nb = spec.n_genes, spec.n_batches
        self.n_prot = spec.n_proteins if c.use_protein else 0
        n_in, d = g + self.n_prot, c.hidden[0]
        self.enc_in = nn.Sequential(mlp(n_in, (), d, last_activation=True), nn.Dropout(c.dropout))
        self.attn: nn.Module | None = None
        if c.attention == "cells":
            self.attn = CellAttention(d, c.n_heads, c.alpha_init)
            self.register_buffer("ref_x", torch.zeros(c.n_reference, n_in))
            self.register_buffer("ref_count", torch.zeros((), dtype=torch.long))
            self.register_buffer("ref_ptr", torch.zeros((), dtype=torch.long))
        elif c.attention == "features":
            self.attn = FeatureAttention(d, c.n_tokens, c.n_heads, c.alpha_init)
        self.enc_out = mlp(d, c.hidden[1:], 2 * c.n_latent, dropout=c.dropout)
        rev = tuple(reversed(c.hidden))
        self.dec = mlp(c.n_latent + nb, rev[:-1], rev[-1], last_activation=True)
        self.px_scale = nn.Linear(rev[-1], g)
        self.px_dropout = nn.Linear(rev[-1], g) if c.likelihood == "zinb" else None
        self.log_theta = nn.Parameter(torch.zeros(g))
        if self.n_prot:
            self.prot_head = mlp(c.n_latent + nb, rev[-1:], self.n_prot)
            self.prot_log_sd = nn.Parameter(torch.zeros(self.n_prot))

    # --- encoder ----------------------------------------------------------------------
    def _input(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        x = batch[X]
        return torch.cat([x, batch[PROTEIN]], dim=1) if self.n_prot else x

    @torch.no_grad()
    def _remember(self, x_in: torch.Tensor) -> None:
        """Write up to ``n_reference`` training inputs into the reference ring buffer."""
        r = self.ref_x.shape[0]
        k = min(x_in.shape[0], r)
        pos = (self.ref_ptr + torch.arange(k, device=x_in.device)) % r
        self.ref_x[pos] = x_in[:k].detach().to(self.ref_x.dtype)
        self.ref_ptr.copy_((self.ref_ptr + k) % r)
        self.ref_count.clamp_(min=0).add_(k).clamp_(max=r)

    def encode(
        self, batch: dict[str, torch.Tensor], *, reference: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance; ``reference`` selects batch-independent attention."""
        x_in = self._input(batch)
        h = self.enc_in(x_in)
        if isinstance(self.attn, CellAttention):
            if reference:
                ref = self.ref_x[: int(self.ref_count)]
                h = self.attn(h, reference=self.enc_in(ref))
            else:
                h = self.attn(h)
                if self.training:
                    self._remember(x_in)
        elif self.attn is not None:
            h = self.attn(h)
        mu, logvar = self.enc_out(h).float().chunk(2, dim=-1)
        return mu, logvar.clamp(-12.0, 8.0)

    # --- loss -------------------------------------------------------------------------
    def kl_weight(self, progress: float) -> float:
        """Linear KL warm-up: 0 at ``progress`` 0, 1 from ``progress >= kl_warmup`` on."""
        w = self.config.kl_warmup
        return 1.0 if w <= 0 else float(min(1.0, max(0.0, progress) / w))

    def loss(self, batch: dict[str, torch.Tensor], *, progress: float = 1.0) -> LossOutput:
        mu, logvar = self.encode(batch, reference=not self.training)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1).mean()
        onehot = F.one_hot(batch[BATCH].clamp(0, self.spec.n_batches - 1), self.spec.n_batches).to(
            z.dtype
        )
        zb = torch.cat([z, onehot], dim=1)
        hd = self.dec(zb)
        counts = batch[COUNTS]
        lib = counts.sum(1, keepdim=True).clamp(min=1.0)  # library of the model genes
        mean = torch.softmax(self.px_scale(hd).float(), dim=-1) * lib
        theta = self.log_theta.float().exp()
        if self.px_dropout is None:
            logp = nb_log_prob(counts, mean, theta)
        else:
            logp = zinb_log_prob(counts, mean, theta, self.px_dropout(hd).float())
        recon = -logp.sum(-1).mean()
        total = recon + self.kl_weight(progress) * kl
        parts = {"recon_nll": recon, "kl": kl}
        if self.n_prot:
            y = batch[PROTEIN]
            log_sd = self.prot_log_sd.float().clamp(min=-5.0)
            err = (self.prot_head(zb).float() - y) * torch.exp(-log_sd)
            prot = (0.5 * err.pow(2) + log_sd + 0.5 * math.log(2 * math.pi)).sum(-1).mean()
            parts["protein_nll"] = prot
            total = total + self.config.protein_weight * prot
        return LossOutput(total, parts)

    def embed(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Posterior mean of z; independent of the other cells in ``batch``."""
        return self.encode(batch, reference=True)[0]
