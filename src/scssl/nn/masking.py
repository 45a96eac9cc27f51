"""Input corruptions for masked autoencoding: random, gene-programme and swap (scMAE) masks."""

from __future__ import annotations

import torch


def random_mask(x: torch.Tensor, rate: float) -> torch.Tensor:
    """Bernoulli(rate) mask (True = masked), same shape as ``x`` (rate resolved to 1/256)."""
    draws = torch.empty(x.shape, dtype=torch.uint8, device=x.device).random_(0, 256)
    return draws < round(rate * 256)


def programme_mask(x: torch.Tensor, membership: torch.Tensor, rate: float) -> torch.Tensor:
    """Mask whole gene programmes: each programme is hidden with a probability chosen so that
    about ``rate`` of the genes are masked; genes in no programme fall back to random masking.

    ``membership`` is a (programmes x genes) 0/1 float matrix.
    """
    n_cells = x.shape[0]
    n_prog = membership.shape[0]
    covered = membership.sum(0) > 0
    mean_size = float(membership.sum(1).mean().clamp(min=1.0))
    # about n_prog * p * mean_size genes get hidden (overlaps aside): aim for rate * n_genes
    p = min(1.0, rate * float(covered.sum()) / (n_prog * mean_size))
    hidden = (torch.rand(n_cells, n_prog, device=x.device) < p).float()
    mask = (hidden @ membership) > 0
    fallback = random_mask(x, rate) & ~covered
    return mask | fallback


def swap_corrupt(x: torch.Tensor, mask: torch.Tensor, n_donors: int = 4) -> torch.Tensor:
    """Replace masked entries by the same gene's value in other cells of the batch (scMAE).

    Each masked entry takes its value from one of ``n_donors`` random other cells (a random
    row permutation each), chosen per entry: values stay within their gene's distribution at
    a fraction of the cost of an independent donor per entry.
    """
    n = x.shape[0]
    out = x
    which = torch.empty(x.shape, dtype=torch.uint8, device=x.device).random_(0, n_donors)
    for k in range(n_donors):
        donor = x[torch.randperm(n, device=x.device)]
        out = torch.where(mask & (which == k), donor, out)
    return out
