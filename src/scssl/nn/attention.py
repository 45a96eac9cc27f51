"""Residual self-attention blocks with a learnable residual scale (ReZero-style).

Both blocks compute ``h + alpha * Attn(LayerNorm(h))`` with a scalar ``alpha`` that starts
near zero (Bachlechner et al. 2021, "ReZero is all you need"), so a freshly built block is
almost the identity and the network learns how much attention to mix in.

- :class:`CellAttention` mixes information across cells (rows). With ``reference=None`` every
  row attends over all rows (training: the cells of the minibatch); with a ``reference`` each
  row attends over itself plus the reference rows only, so its output does not depend on the
  other rows of the input (inference independent of minibatch composition).
- :class:`FeatureAttention` splits each row into tokens and attends across the tokens of the
  same row; rows never interact.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _heads(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    """(..., L, d) -> (..., heads, L, d / heads)."""
    *lead, length, d = x.shape
    return x.reshape(*lead, length, n_heads, d // n_heads).transpose(-3, -2)


def _merge(x: torch.Tensor) -> torch.Tensor:
    """(..., heads, L, dh) -> (..., L, heads * dh)."""
    x = x.transpose(-3, -2)
    return x.reshape(*x.shape[:-2], x.shape[-2] * x.shape[-1])


class CellAttention(nn.Module):
    """Residual multi-head self-attention across cells: ``h + alpha * Attn(LN(h))``.

    Parameters
    ----------
    dim
        Width of the hidden states (divisible by ``n_heads``).
    n_heads
        Attention heads.
    alpha_init
        Initial value of the learnable residual scale.
    """

    def __init__(self, dim: int, n_heads: int = 4, alpha_init: float = 1e-3) -> None:
        super().__init__()
        if dim % n_heads:
            raise ValueError(f"dim {dim} is not divisible by n_heads {n_heads}")
        self.n_heads = n_heads
        self.norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.alpha = nn.Parameter(torch.tensor(float(alpha_init)))

    def forward(self, h: torch.Tensor, reference: torch.Tensor | None = None) -> torch.Tensor:
        """Attend over all rows of ``h`` (``reference=None``) or over self + ``reference``.

        ``h`` is (cells x dim); ``reference`` (refs x dim, may have 0 rows) holds hidden states
        of fixed reference cells computed by the same layers as ``h``.
        """
        q, k, v = (_heads(t, self.n_heads) for t in self.qkv(self.norm(h)).chunk(3, dim=-1))
        if reference is None:
            a = F.scaled_dot_product_attention(q, k, v)  # (heads, cells, dh)
        else:
            _, kr, vr = (
                _heads(t, self.n_heads) for t in self.qkv(self.norm(reference)).chunk(3, dim=-1)
            )
            scale = 1.0 / math.sqrt(q.shape[-1])
            s_self = (q * k).sum(-1, keepdim=True) * scale  # (heads, cells, 1)
            s_ref = (q @ kr.transpose(-1, -2)) * scale  # (heads, cells, refs)
            w = torch.softmax(torch.cat([s_self, s_ref], dim=-1), dim=-1)
            a = w[..., :1] * v + w[..., 1:] @ vr
        return h + self.alpha * self.out(_merge(a))


class FeatureAttention(nn.Module):
    """Residual self-attention across feature tokens within each cell.

    Each row of width ``dim`` is cut into ``n_tokens`` tokens of width ``dim / n_tokens``,
    given a learned position embedding, and attends over the tokens of the same row.
    """

    def __init__(
        self, dim: int, n_tokens: int = 16, n_heads: int = 4, alpha_init: float = 1e-3
    ) -> None:
        super().__init__()
        if dim % n_tokens or (dim // n_tokens) % n_heads:
            raise ValueError(
                f"dim {dim} must split into n_tokens {n_tokens} tokens whose width is "
                f"divisible by n_heads {n_heads}"
            )
        width = dim // n_tokens
        self.n_tokens, self.n_heads = n_tokens, n_heads
        self.norm = nn.LayerNorm(width)
        self.pos = nn.Parameter(0.02 * torch.randn(n_tokens, width))
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        self.alpha = nn.Parameter(torch.tensor(float(alpha_init)))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        tokens = h.reshape(h.shape[0], self.n_tokens, -1)
        q, k, v = (
            _heads(t, self.n_heads) for t in self.qkv(self.norm(tokens) + self.pos).chunk(3, dim=-1)
        )
        a = self.out(_merge(F.scaled_dot_product_attention(q, k, v)))  # (cells, tokens, width)
        return h + self.alpha * a.reshape(h.shape)
