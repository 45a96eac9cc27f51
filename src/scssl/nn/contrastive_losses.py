"""Self-supervised objectives on two views: NT-Xent, MoCo InfoNCE, BYOL, Barlow Twins, VICReg.

All take (cells x dim) projections of view 1 and view 2 (row i of both = the same cell) and
compute in float32 (safe under bf16 autocast).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR's normalized-temperature cross entropy (Chen et al. 2020).

    Each of the 2N views must pick its partner among the other 2N - 1.
    """
    z = F.normalize(torch.cat([z1, z2]).float(), dim=1)
    n = z1.shape[0]
    sim = z @ z.T / temperature
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(sim, target)


def info_nce_queue(
    q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor, temperature: float
) -> torch.Tensor:
    """MoCo's InfoNCE (He et al. 2020): query vs its key (positive) and a queue of negatives.

    ``k`` comes from the momentum encoder (no gradient); ``queue`` rows are unit vectors.
    """
    q = F.normalize(q.float(), dim=1)
    k = F.normalize(k.float(), dim=1)
    pos = (q * k).sum(1, keepdim=True)
    neg = q @ queue.float().T
    logits = torch.cat([pos, neg], dim=1) / temperature
    return F.cross_entropy(logits, torch.zeros(q.shape[0], dtype=torch.long, device=q.device))


def byol_loss(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """BYOL (Grill et al. 2020): 2 - 2 cos(prediction, target projection), mean over cells."""
    cos = F.cosine_similarity(p.float(), z.float().detach(), dim=1)
    return (2 - 2 * cos).mean()


def _standardize(z: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    return (z - z.mean(0)) / (z.std(0, unbiased=False) + eps)


def _off_diagonal(m: torch.Tensor) -> torch.Tensor:
    return m[~torch.eye(m.shape[0], dtype=torch.bool, device=m.device)]


def barlow_twins(z1: torch.Tensor, z2: torch.Tensor, lambd: float) -> torch.Tensor:
    """Barlow Twins (Zbontar et al. 2021): cross-correlation of the views pushed to identity.

    sum_i (1 - C_ii)^2 + lambd * sum_{i != j} C_ij^2, with C from batch-standardized views.
    """
    n = z1.shape[0]
    c = _standardize(z1.float()).T @ _standardize(z2.float()) / n
    on = (1 - torch.diagonal(c)).pow(2).sum()
    return on + lambd * _off_diagonal(c).pow(2).sum()


def vicreg(
    z1: torch.Tensor,
    z2: torch.Tensor,
    sim_weight: float = 25.0,
    var_weight: float = 25.0,
    cov_weight: float = 1.0,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """VICReg (Bardes et al. 2022): invariance (MSE) + variance hinge + covariance penalty.

    Returns the weighted total and the three unweighted terms.
    """
    z1, z2 = z1.float(), z2.float()
    d = z1.shape[1]
    inv = F.mse_loss(z1, z2)
    var = z1.new_zeros(())
    cov = z1.new_zeros(())
    for z in (z1, z2):
        zc = z - z.mean(0)
        var = var + F.relu(1 - torch.sqrt(zc.var(0) + 1e-4)).mean() / 2
        c = zc.T @ zc / max(z.shape[0] - 1, 1)
        cov = cov + _off_diagonal(c).pow(2).sum() / d
    total = sim_weight * inv + var_weight * var + cov_weight * cov
    return total, {"invariance": inv, "variance": var, "covariance": cov}
