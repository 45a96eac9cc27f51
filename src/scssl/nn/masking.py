"""Input corruptions for masked autoencoding: random, gene-programme and swap (scMAE) masks.

Masks are float32 tensors of 0/1 (1 = masked) and are applied with arithmetic (``lerp``,
products), never with boolean indexing: on CPUs, comparisons and ``where`` on boolean masks
cost 10-20x a fused float op of the same size, and these run on every training step.
"""

from __future__ import annotations

import math

import torch


def random_bytes(shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """Uniform random uint8 of ``shape``: 64-bit draws viewed as bytes (8 per draw)."""
    n = math.prod(shape)
    words = torch.empty((n + 7) // 8, dtype=torch.int64, device=device)
    words.random_(-(2**63), None)  # the full 64-bit range: every byte uniform
    return words.view(torch.uint8)[:n].view(shape)


def random_mask(x: torch.Tensor, rate: float) -> torch.Tensor:
    """Bernoulli(rate) 0/1 float mask of ``x``'s shape (rate resolved to 1/256)."""
    b = random_bytes(tuple(x.shape), x.device).to(torch.float32)
    return (round(rate * 256) - b).clamp_(0.0, 1.0)  # 1 where b < threshold, else 0


def programme_mask(x: torch.Tensor, membership: torch.Tensor, rate: float) -> torch.Tensor:
    """Mask whole gene programmes: each programme is hidden with a probability chosen so that
    about ``rate`` of the genes are masked; genes in no programme fall back to random masking.

    ``membership`` is a (programmes x genes) 0/1 float matrix.
    """
    n_cells = x.shape[0]
    n_prog = membership.shape[0]
    covered = (membership.sum(0) > 0).to(x.dtype)
    mean_size = float(membership.sum(1).mean().clamp(min=1.0))
    # about n_prog * p * mean_size genes get hidden (overlaps aside): aim for rate * n_genes
    p = min(1.0, rate * float(covered.sum()) / (n_prog * mean_size))
    hidden = (torch.rand(n_cells, n_prog, device=x.device) < p).to(x.dtype)
    mask = (hidden @ membership).clamp_(max=1.0)
    fallback = random_mask(x, rate) * (1.0 - covered)
    return torch.maximum(mask, fallback)


def swap_corrupt(x: torch.Tensor, mask: torch.Tensor, n_blocks: int = 16) -> torch.Tensor:
    """Replace masked entries by the same gene's value in other cells of the batch (scMAE).

    The genes are cut at random points into ``n_blocks`` runs of adjacent columns (new cuts
    every call); in each run, cell ``i`` takes its donor values from cell ``(i + s) mod n``
    for a random shift ``s`` of that run. With minibatches drawn in random order each run's
    donor is a random other cell, so a cell's masked genes come from up to ``n_blocks``
    different cells. A shifted run is a slice of ``[x; x]`` (no gather) and one ``lerp``
    applies the mask, a fraction of the cost of a donor per entry. ``mask`` is a 0/1 float
    mask; masked entries equal to their donor's value stay unchanged.
    """
    n, g = x.shape
    if n < 2:
        return x
    k = max(1, min(n_blocks, g))
    cuts = [0, *sorted((torch.randperm(g - 1, device=x.device)[: k - 1] + 1).tolist()), g]
    shifts = torch.randint(1, n, (k,), device=x.device).tolist()
    twice = torch.cat([x, x])
    donor = torch.cat(
        [twice[s : s + n, a:b] for s, a, b in zip(shifts, cuts[:-1], cuts[1:], strict=True)], 1
    )
    # lerp is exact at weights 0 and 1: visible entries keep x, masked ones the donor value
    return torch.lerp(x, donor, mask)
