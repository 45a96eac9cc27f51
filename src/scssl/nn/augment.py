"""Cell augmentations for contrastive learning (the CLEAR suite, Han et al. 2022).

Every function takes a (cells x genes) tensor of log-normalized expression and returns a new
tensor of the same shape. ``p`` is the probability that a cell is augmented at all (drawn
once per cell); the second argument sets the strength for the cells that are. All work on the
whole batch at once (no Python loop over cells).
"""

from __future__ import annotations

import torch


def _chosen(x: torch.Tensor, p: float) -> torch.Tensor:
    """(cells, 1) boolean: which cells get augmented."""
    if p >= 1:
        return torch.ones(x.shape[0], 1, dtype=torch.bool, device=x.device)
    return torch.rand(x.shape[0], 1, device=x.device) < p


def mask_genes(x: torch.Tensor, rate: float, p: float = 1.0) -> torch.Tensor:
    """Zero a random ``rate`` share of the genes of each chosen cell."""
    if p <= 0 or rate <= 0:
        return x
    hit = (torch.rand(x.shape, device=x.device) < rate) & _chosen(x, p)
    return x.masked_fill(hit, 0.0)


def gaussian_noise(x: torch.Tensor, std: float, p: float = 1.0, rate: float = 1.0) -> torch.Tensor:
    """Add N(0, std^2) noise to a random ``rate`` share of the genes of each chosen cell."""
    if p <= 0 or std <= 0 or rate <= 0:
        return x
    hit = _chosen(x, p)
    if rate < 1:
        hit = hit & (torch.rand(x.shape, device=x.device) < rate)
    return x + torch.randn_like(x) * std * hit


def count_noise(x: torch.Tensor, dispersion: float, p: float = 1.0) -> torch.Tensor:
    """Resample ``expm1(x)`` as gamma-Poisson (negative binomial) counts and re-log.

    The mean is kept; ``dispersion`` is the NB overdispersion (variance mu + dispersion mu^2),
    0 gives plain Poisson noise. Zeros stay zero.
    """
    if p <= 0:
        return x
    out = x.clone()
    # sample only the nonzero entries of the chosen cells (zeros stay zero)
    hit = (x > 0) & _chosen(x, p)
    mu = torch.expm1(x[hit].float())
    if dispersion > 0:
        k = torch.full_like(mu, 1.0 / dispersion)
        mu = mu * torch.distributions.Gamma(k, k).sample()  # mean-1 gamma factor
    out[hit] = torch.log1p(torch.poisson(mu)).to(x.dtype)
    return out


def swap_genes(x: torch.Tensor, rate: float, p: float = 1.0) -> torch.Tensor:
    """In-cell swap: exchange the values of random gene pairs (``rate`` of the genes take part)."""
    n_pairs = int(rate * x.shape[1] / 2)
    if p <= 0 or n_pairs == 0:
        return x
    # 2 * n_pairs distinct genes per cell: the positions of the largest uniform draws
    order = torch.rand(x.shape, device=x.device).topk(2 * n_pairs, dim=1).indices
    a, b = order[:, :n_pairs], order[:, n_pairs:]
    out = x.clone()
    out.scatter_(1, a, x.gather(1, b))
    out.scatter_(1, b, x.gather(1, a))
    return torch.where(_chosen(x, p), out, x)


def crossover(x: torch.Tensor, rate: float, p: float = 1.0) -> torch.Tensor:
    """Replace a random ``rate`` share of each chosen cell's genes by those of another cell."""
    n = x.shape[0]
    if p <= 0 or rate <= 0 or n < 2:
        return x
    partner = (torch.arange(n, device=x.device) + torch.randint(1, n, (n,), device=x.device)) % n
    hit = (torch.rand(x.shape, device=x.device) < rate) & _chosen(x, p)
    return torch.where(hit, x[partner], x)


def clear_view(
    x: torch.Tensor,
    *,
    count: tuple[float, float] = (0.0, 0.2),
    swap: tuple[float, float] = (0.0, 0.1),
    crossover_: tuple[float, float] = (0.0, 0.25),
    mask: tuple[float, float] = (0.0, 0.2),
    noise: tuple[float, float] = (0.0, 0.2),
) -> torch.Tensor:
    """One augmented view; each argument is ``(probability per cell, strength)``.

    Applied in the order count noise, in-cell swap, crossover, masking, Gaussian noise.
    """
    x = count_noise(x, count[1], count[0])
    x = swap_genes(x, swap[1], swap[0])
    x = crossover(x, crossover_[1], crossover_[0])
    x = mask_genes(x, mask[1], mask[0])
    return gaussian_noise(x, noise[1], noise[0])
