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


def swap_corrupt(x: torch.Tensor, mask: torch.Tensor, n_donors: int = 4) -> torch.Tensor:
    """Replace masked entries by the same gene's value in other cells of the batch (scMAE).

    Each masked entry takes its value from one of ``n_donors`` (a power of two) donor rows,
    chosen per entry by the bits of one random byte. Donor ``k`` of cell ``i`` is cell
    ``(i + s_k) mod n`` for distinct random shifts ``s_k``: with minibatches drawn in random
    order that is a random other cell, and a shift is a view of ``[x; x]``, not a gather.
    Values stay within their gene's distribution at a fraction of the cost of a donor per
    entry. ``mask`` is a 0/1 float mask; masked entries equal to their donor stay unchanged.
    """
    n = x.shape[0]
    n_bits = int(math.log2(n_donors))
    if 2**n_bits != n_donors:
        raise ValueError(f"n_donors must be a power of two, not {n_donors}")
    if n < 2:
        return x
    twice = torch.cat([x, x])
    shifts = (torch.randperm(n - 1, device=x.device)[:n_donors] + 1).tolist()
    # batches with fewer other cells than donors reuse shifts
    donors = [twice[shifts[k % len(shifts)] :][:n] for k in range(n_donors)]
    if n_bits:
        sel = random_bytes(tuple(x.shape), x.device)
        for j in range(n_bits):  # a binary tree of lerps picks one donor per entry
            bit = ((sel >> j) & 1).to(x.dtype)
            donors = [torch.lerp(a, b, bit) for a, b in zip(donors[::2], donors[1::2], strict=True)]
    # lerp is exact at weights 0 and 1: visible entries keep x, masked ones the donor value
    return torch.lerp(x, donors[0], mask)
