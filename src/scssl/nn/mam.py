"""Token-position masks: uniform, and learned multinomial attention masking (MAM).

MAM: ``n_queries`` learnable latent queries attend over a cell's tokens; the attention
weights, averaged over queries and mixed with a uniform floor, give a distribution ``π`` over
positions, and the masked positions are drawn from it by multinomial sampling without
replacement (:func:`torch.multinomial`), so exactly ``n_mask`` positions are masked per cell.

Sampling is not differentiable, so the scores are trained adversarially with REINFORCE
(Williams 1992): after the reconstruction loss is known, each masked position gets a reward,
its (detached) reconstruction error standardised over the cell's masked positions, and the
masker minimises ``−Σ_masked reward · log π`` (the sum of the log-probabilities of the drawn
positions is the usual surrogate for the log-probability of a set drawn without replacement),
minus an entropy bonus. The masker thus learns to hide the positions the autoencoder
reconstructs worst; the uniform floor ``mix / N`` and the entropy bonus keep every position
drawable. The masker reads detached tokens, so this term trains only the masker.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def uniform_position_mask(n_cells: int, n_pos: int, n_mask: int, device) -> torch.Tensor:
    """Exactly ``n_mask`` uniformly random masked positions per cell (True = masked)."""
    idx = torch.rand(n_cells, n_pos, device=device).argsort(dim=1)[:, :n_mask]
    return torch.zeros(n_cells, n_pos, dtype=torch.bool, device=device).scatter_(1, idx, True)


class MultinomialAttentionMasker(nn.Module):
    """Learned position distribution from latent queries; masks by multinomial sampling."""

    def __init__(self, d_model: int, n_queries: int = 4, mix: float = 0.2) -> None:
        super().__init__()
        self.queries = nn.Parameter(torch.randn(n_queries, d_model) / math.sqrt(d_model))
        self.norm = nn.LayerNorm(d_model)
        self.key = nn.Linear(d_model, d_model)
        self.mix = mix

    def probs(self, tokens: torch.Tensor) -> torch.Tensor:
        """π over positions, ``(cells, positions)``, from ``(cells, positions, d)`` tokens."""
        keys = self.key(self.norm(tokens))
        scores = torch.einsum("bnd,qd->bqn", keys, self.queries) / math.sqrt(keys.shape[-1])
        attn = torch.softmax(scores.float(), dim=-1).mean(dim=1)
        return (1 - self.mix) * attn + self.mix / tokens.shape[1]

    def forward(self, tokens: torch.Tensor, n_mask: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(mask, π): ``n_mask`` positions per cell drawn from π without replacement."""
        with torch.autocast(tokens.device.type, enabled=False):
            pi = self.probs(tokens.detach().float())
        idx = torch.multinomial(pi.detach(), n_mask, replacement=False)
        mask = torch.zeros_like(pi, dtype=torch.bool).scatter_(1, idx, True)
        return mask, pi


def reinforce_loss(
    pi: torch.Tensor, mask: torch.Tensor, error: torch.Tensor, entropy_weight: float = 0.01
) -> torch.Tensor:
    """Adversarial REINFORCE term for the masker (see the module docstring).

    ``error`` is the per-position reconstruction error ``(cells, positions)``; only its masked
    entries are used, and it is detached here.
    """
    m = mask.float()
    err = error.detach().float()
    n = m.sum(1, keepdim=True).clamp(min=1.0)
    mean = (err * m).sum(1, keepdim=True) / n
    std = (((err - mean) ** 2 * m).sum(1, keepdim=True) / n).sqrt()
    reward = (err - mean) / (std + 1e-6) * m
    log_pi = pi.clamp(min=1e-12).log()
    policy = -(reward * log_pi).sum() / m.sum().clamp(min=1.0)
    entropy = -(pi * log_pi).sum(1).mean()
    return policy - entropy_weight * entropy
