"""Count likelihoods: negative binomial and zero-inflated negative binomial (log densities)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

EPS = 1e-8


def nb_log_prob(x: torch.Tensor, mu: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """log NB(x; mean mu, inverse dispersion theta), elementwise."""
    log_theta_mu = torch.log(theta + mu + EPS)
    return (
        theta * (torch.log(theta + EPS) - log_theta_mu)
        + x * (torch.log(mu + EPS) - log_theta_mu)
        + torch.lgamma(x + theta)
        - torch.lgamma(theta)
        - torch.lgamma(x + 1)
    )


def zinb_log_prob(
    x: torch.Tensor, mu: torch.Tensor, theta: torch.Tensor, pi_logits: torch.Tensor
) -> torch.Tensor:
    """log ZINB(x; mu, theta, dropout logits), elementwise."""
    nb = nb_log_prob(x, mu, theta)
    nb_zero = theta * (torch.log(theta + EPS) - torch.log(theta + mu + EPS))
    zero = F.softplus(-pi_logits + nb_zero) - F.softplus(-pi_logits)
    nonzero = -pi_logits - F.softplus(-pi_logits) + nb
    return torch.where(x < EPS, zero, nonzero)
