"""``token_mae``: masked autoencoder over gene tokens with a transformer or TTT-linear mixer.

Tokens are patches of ``patch_size`` consecutive genes (genome or per-cell expression-rank
order), each the sum of value x learned gene embedding (+ a learned gene term), plus a
position (or rank) embedding; see :mod:`scssl.nn.tokens`. With proteins (``use_protein``) each
protein adds a token ``clr_p e_p + b_p``, appended to the sequence. A share ``mask_ratio`` of
the gene patches (and of the protein tokens) is replaced by a learned mask token (plus the
position embedding, or ``b_p`` for proteins); masking is ``uniform`` or ``mam`` (learned
multinomial attention masking trained by an adversarial REINFORCE term, :mod:`scssl.nn.mam`).
The mixer is a pre-norm ``nn.TransformerEncoder`` or a stack of TTT-linear blocks
(:mod:`scssl.nn.ttt`). The loss is the MSE of the masked genes' log-normalized values (one
prediction per gene of each masked patch) plus ``protein_weight`` x the MSE of the masked
proteins' CLR values. The embedding pools the final hidden states of the unmasked input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..data.dataset import PROTEIN, X
from ..data.spec import DataSpec
from ..nn.mam import MultinomialAttentionMasker, reinforce_loss, uniform_position_mask
from ..nn.tokens import ORDERS, GenePatchHead, GenePatchTokenizer
from ..nn.ttt import TTTEncoder
from .base import LossOutput, SSLModule

MIXERS = ("transformer", "ttt")
MASKINGS = ("uniform", "mam")
POOLS = ("mean", "cls")


@dataclass(frozen=True)
class TokenMAEConfig:
    """Hyperparameters of the gene-token masked autoencoder (saved with the weights).

    Defaults checked once on 10x pbmc4k (2,170 cells, 2,000 HVGs, 5 labelled types), KMeans ARI
    at k=5 (mean of 3 KMeans seeds, one training seed): transformer 0.51 (uniform) / 0.51 (mam),
    ttt 0.47 / 0.52, PCA of the same HVGs 0.62; ``ttt_lr`` 1.0 gave ttt 0.25.
    """

    mixer: str = "transformer"
    masking: str = "uniform"
    gene_order: str = "genome"
    patch_size: int = 64
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    ff_mult: int = 2
    dropout: float = 0.0
    value_bias: bool = True
    mask_ratio: float = 0.5
    pool: str = "mean"
    use_protein: bool = True
    protein_weight: float = 1.0
    mam_queries: int = 4
    mam_mix: float = 0.2
    mam_entropy: float = 0.01
    mam_weight: float = 1.0
    ttt_mini_batch: int = 16
    ttt_lr: float = 0.1

    def __post_init__(self) -> None:
        for name, choices in (
            ("mixer", MIXERS),
            ("masking", MASKINGS),
            ("gene_order", ORDERS),
            ("pool", POOLS),
        ):
            if getattr(self, name) not in choices:
                raise ValueError(f"{name} must be one of {choices}, not {getattr(self, name)!r}")
        for name in ("patch_size", "d_model", "n_layers", "n_heads", "ff_mult", "mam_queries"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, not {v!r}")
        if self.ttt_mini_batch < 1:
            raise ValueError(f"ttt_mini_batch must be >= 1, not {self.ttt_mini_batch}")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} must be divisible by n_heads {self.n_heads}")
        if not 0 < self.mask_ratio < 1:
            raise ValueError(f"mask_ratio must be in (0, 1), not {self.mask_ratio}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), not {self.dropout}")
        if not 0 <= self.mam_mix <= 1:
            raise ValueError(f"mam_mix must be in [0, 1], not {self.mam_mix}")
        for name in ("protein_weight", "mam_entropy", "mam_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, not {getattr(self, name)}")
        if self.ttt_lr <= 0:
            raise ValueError(f"ttt_lr must be > 0, not {self.ttt_lr}")


class TokenMAEModule(SSLModule):
    """Gene-patch tokens (+ protein tokens) -> mixer -> per-gene readout of masked patches."""

    family = "token_mae"
    # 2,170 cells x 2,000 HVGs (32 tokens): ~14 s of CPU time for the 15 epochs
    train_defaults: ClassVar[dict] = {"max_epochs": 15, "batch_size": 128, "lr": 2e-3}

    def __init__(self, config: TokenMAEConfig, spec: DataSpec, extras: dict | None = None):
        super().__init__(config, spec, extras)
        c, d = config, config.d_model
        self.tokenizer = GenePatchTokenizer(
            spec.n_genes, d, c.patch_size, order=c.gene_order, value_bias=c.value_bias
        )
        self.n_patches = self.tokenizer.n_patches
        if self.n_patches < 2:
            raise ValueError(
                f"{spec.n_genes} genes make {self.n_patches} patch of {c.patch_size}; "
                "masking needs at least 2: lower patch_size"
            )
        self.n_mask = min(max(1, round(c.mask_ratio * self.n_patches)), self.n_patches - 1)
        self.n_proteins = spec.n_proteins if c.use_protein else 0
        if self.n_proteins:
            self.prot_emb = nn.Parameter(torch.randn(self.n_proteins, d) * 0.1)
            self.prot_bias = nn.Parameter(torch.randn(self.n_proteins, d) * 0.02)
            self.prot_out = nn.Parameter(torch.randn(self.n_proteins, d) / d**0.5)
            self.prot_out_bias = nn.Parameter(torch.zeros(self.n_proteins))
        self.n_prot_mask = round(c.mask_ratio * self.n_proteins) if self.n_proteins > 1 else 0
        self.mask_token = nn.Parameter(torch.randn(d) * 0.02)
        self.cls_token = nn.Parameter(torch.randn(d) * 0.02) if c.pool == "cls" else None
        if c.mixer == "transformer":
            layer = nn.TransformerEncoderLayer(
                d,
                c.n_heads,
                dim_feedforward=c.ff_mult * d,
                dropout=c.dropout,
                activation="gelu",
                batch_first=True,
                norm_first=True,
            )
            self.mixer = nn.TransformerEncoder(layer, c.n_layers, enable_nested_tensor=False)
        else:
            self.mixer = TTTEncoder(
                d,
                c.n_heads,
                c.n_layers,
                ff_mult=c.ff_mult,
                dropout=c.dropout,
                mini_batch=c.ttt_mini_batch,
                inner_lr=c.ttt_lr,
            )
        self.norm = nn.LayerNorm(d)
        self.head = GenePatchHead(self.tokenizer)
        self.masker = (
            MultinomialAttentionMasker(d, c.mam_queries, c.mam_mix) if c.masking == "mam" else None
        )

    # --- shared pieces ------------------------------------------------------------------
    def _protein_tokens(self, batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
        if not self.n_proteins:
            return None
        clr = batch[PROTEIN].float()
        return clr.unsqueeze(-1) * self.prot_emb + self.prot_bias

    def _encode(self, genes: torch.Tensor, prot: torch.Tensor | None) -> torch.Tensor:
        """Final hidden states of ``[cls] genes [proteins]``."""
        parts = [genes] if prot is None else [genes, prot]
        if self.cls_token is not None:
            parts.insert(0, self.cls_token.expand(genes.shape[0], 1, -1))
        return self.norm(self.mixer(torch.cat(parts, dim=1)))

    # --- SSLModule ----------------------------------------------------------------------
    def loss(self, batch: dict[str, torch.Tensor], *, progress: float = 1.0) -> LossOutput:
        c = self.config
        x = batch[X].float()
        b = x.shape[0]
        tok, gidx = self.tokenizer(x)
        pi = None
        if self.masker is not None:
            mask, pi = self.masker(tok, self.n_mask)
        else:
            mask = uniform_position_mask(b, self.n_patches, self.n_mask, x.device)
        masked_tok = self.mask_token + self.tokenizer.pos_emb
        genes = torch.where(mask.unsqueeze(-1), masked_tok.to(tok.dtype), tok)
        prot = self._protein_tokens(batch)
        pmask = None
        if prot is not None and self.n_prot_mask:
            pmask = uniform_position_mask(b, self.n_proteins, self.n_prot_mask, x.device)
            prot = torch.where(pmask.unsqueeze(-1), self.mask_token + self.prot_bias, prot)
        h = self._encode(genes, prot)
        off = 1 if self.cls_token is not None else 0
        hg = h[:, off : off + self.n_patches]

        idx = gidx[mask].view(b, self.n_mask, -1)
        pred = self.head(hg, gidx, mask, self.n_mask).float()
        target = torch.gather(F.pad(x, (0, 1)), 1, idx.view(b, -1)).view_as(pred)
        valid = (idx < self.spec.n_genes).float()
        err = ((pred - target) ** 2 * valid).sum(-1)  # (cells, masked patches)
        recon = err.sum() / valid.sum().clamp(min=1.0)
        parts = {"recon_masked": recon}
        total = recon
        if pmask is not None:
            hp = h[:, off + self.n_patches :]
            p_pred = (hp * self.prot_out).sum(-1).float() + self.prot_out_bias
            p_err = (p_pred - batch[PROTEIN].float()) ** 2
            p_loss = (p_err * pmask).sum() / pmask.sum().clamp(min=1)
            parts["protein_masked"] = p_loss
            total = total + c.protein_weight * p_loss
        if pi is not None:
            per_pos = torch.zeros(b, self.n_patches, device=x.device)
            per_pos[mask] = (err / valid.sum(-1).clamp(min=1.0)).reshape(-1).detach()
            mam = c.mam_weight * reinforce_loss(pi, mask, per_pos, c.mam_entropy)
            parts["mam"] = mam.detach()
            total = total + (mam - mam.detach())  # gradient for the masker, value unchanged
        return LossOutput(total, parts)

    def embed(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        tok, _ = self.tokenizer(batch[X].float())
        h = self._encode(tok, self._protein_tokens(batch))
        if self.cls_token is not None:
            return h[:, 0]
        return h.mean(dim=1)
