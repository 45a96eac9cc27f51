"""Fully connected blocks."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from torch import nn


def mlp(
    n_in: int,
    hidden: Sequence[int],
    n_out: int,
    *,
    dropout: float = 0.0,
    norm: bool = True,
    last_activation: bool = False,
) -> nn.Sequential:
    """Linear -> LayerNorm -> GELU -> Dropout blocks, then a final Linear (optionally activated)."""
    layers: list[nn.Module] = []
    sizes = [n_in, *hidden]
    for a, b in itertools.pairwise(sizes):
        layers += [nn.Linear(a, b)]
        if norm:
            layers.append(nn.LayerNorm(b))
        layers.append(nn.GELU())
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(sizes[-1], n_out))
    if last_activation:
        if norm:
            layers.append(nn.LayerNorm(n_out))
        layers.append(nn.GELU())
    return nn.Sequential(*layers)
