"""TTT-linear sequence mixing (Sun et al. 2024, "Learning to (Learn at Test Time): RNNs with
Expressive Hidden States", arXiv:2407.04620), written from the paper's equations.

The hidden state of a TTT layer is the weight matrix ``W`` of a linear inner model
``f(k; W) = k W``. Every token ``x_t`` gives three views, a training view ``k_t = x_t θ_K``, a
label view ``v_t = x_t θ_V`` and a test view ``q_t = x_t θ_Q`` (``k`` and ``q`` are
L2-normalised per head, which keeps the inner step size well-conditioned). The inner,
self-supervised loss is the reconstruction error

    ℓ(W; x_t) = ½ ‖k_t W − v_t‖²,   ∇_W ℓ = k_tᵀ (k_t W − v_t).

Tokens are processed in order, in mini-batches of ``b`` tokens. Inside mini-batch ``i`` every
gradient is taken at ``W_{i-1}``, the weights left by the previous mini-batch (mini-batch TTT),
and token ``t`` sees the updates of the tokens ``s ≤ t`` of its mini-batch:

    W_t = W_{i-1} − Σ_{s ≤ t} η_s k_sᵀ e_s,   e_s = k_s W_{i-1} − v_s,
    z_t = q_t W_t = q_t W_{i-1} − Σ_{s ≤ t} η_s (q_t · k_s) e_s     (the "dual form"),

so a mini-batch costs three (b x b) / (b x d) matmuls per head and no per-token weight copy;
``W_i`` (the state after the mini-batch) is ``W_t`` of its last token. The inner learning rate
is learnable and token-dependent, ``η_t = softplus(a_h) · sigmoid(x_t · w_h + c_h)`` per head
``h``; the initial state ``W_0`` is a parameter (one per head). The layer output is
``o_proj(LayerNorm(z))``. Everything is vectorised over cells and heads; only the (few)
mini-batches run in a Python loop.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def ttt_linear_scan(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    eta: torch.Tensor,
    w0: torch.Tensor,
    mini_batch: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mini-batch TTT-linear over a sequence (dual form).

    Parameters
    ----------
    q, k, v
        Test, training and label views, ``(..., T, d)``.
    eta
        Inner learning rate per token, ``(..., T)``.
    w0
        Initial inner weights, broadcastable to ``(..., d, d)``.
    mini_batch
        Tokens per inner gradient step.

    Returns
    -------
    Outputs ``z`` ``(..., T, d)`` and the final inner weights ``(..., d, d)``.
    """
    t_len, d = q.shape[-2], q.shape[-1]
    w = w0.expand(*q.shape[:-2], d, d)
    outs = []
    for start in range(0, t_len, mini_batch):
        sl = slice(start, min(start + mini_batch, t_len))
        qb, kb, vb, eb = q[..., sl, :], k[..., sl, :], v[..., sl, :], eta[..., sl]
        err = kb @ w - vb  # ∂ℓ/∂(k W) at W_{i-1}
        attn = torch.tril(qb @ kb.transpose(-1, -2)) * eb.unsqueeze(-2)  # (q_t·k_s) η_s, s ≤ t
        outs.append(qb @ w - attn @ err)
        w = w - (kb * eb.unsqueeze(-1)).transpose(-1, -2) @ err
    return torch.cat(outs, dim=-2), w


class TTTLinear(nn.Module):
    """Multi-head TTT-linear layer: ``(cells, tokens, d_model) -> (cells, tokens, d_model)``.

    ``reverse=True`` processes the tokens last to first (stacking layers of both directions
    lets every token see every other one, which a masked autoencoder needs).
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        *,
        mini_batch: int = 16,
        inner_lr: float = 0.1,
        reverse: bool = False,
    ) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model {d_model} is not divisible by n_heads {n_heads}")
        self.n_heads, self.head_dim = n_heads, d_model // n_heads
        self.mini_batch, self.reverse = mini_batch, reverse
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.lr_gate = nn.Linear(d_model, n_heads)
        # softplus^-1(inner_lr): the per-head base inner learning rate starts at inner_lr
        self.lr_base = nn.Parameter(torch.full((n_heads,), math.log(math.expm1(inner_lr))))
        self.w0 = nn.Parameter(torch.randn(n_heads, self.head_dim, self.head_dim) * 0.02)
        self.norm = nn.LayerNorm(self.head_dim)
        self.out = nn.Linear(d_model, d_model)

    def inner_lr(self, x: torch.Tensor) -> torch.Tensor:
        """η per (cell, head, token)."""
        gate = torch.sigmoid(self.lr_gate(x)).transpose(1, 2)  # (B, H, T)
        return F.softplus(self.lr_base)[None, :, None] * gate

    def views(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """q, k (unit norm) and v, each ``(B, H, T, head_dim)``."""
        b, t, _ = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.n_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        return F.normalize(q, dim=-1), F.normalize(k, dim=-1), v

    def forward(self, x: torch.Tensor, *, return_state: bool = False):
        b, t, d = x.shape
        with torch.autocast(x.device.type, enabled=False):  # the inner loop stays float32
            x = x.float()
            if self.reverse:
                x = x.flip(1)
            q, k, v = self.views(x)
            z, w = ttt_linear_scan(q, k, v, self.inner_lr(x), self.w0, self.mini_batch)
            z = self.norm(z).transpose(1, 2).reshape(b, t, d)
            if self.reverse:
                z = z.flip(1)
        y = self.out(z)
        return (y, w) if return_state else y


class TTTBlock(nn.Module):
    """Pre-norm residual block: ``x + TTT(LN(x))`` then ``x + FFN(LN(x))``."""

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        *,
        ff_mult: int = 2,
        dropout: float = 0.0,
        mini_batch: int = 16,
        inner_lr: float = 0.1,
        reverse: bool = False,
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.ttt = TTTLinear(
            d_model, n_heads, mini_batch=mini_batch, inner_lr=inner_lr, reverse=reverse
        )
        self.norm2 = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(
            nn.Linear(d_model, ff_mult * d_model),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(ff_mult * d_model, d_model),
        )
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.ttt(self.norm1(x)))
        return x + self.drop(self.ff(self.norm2(x)))


class TTTEncoder(nn.Module):
    """A stack of TTT blocks alternating forward and backward token order."""

    def __init__(self, d_model: int, n_heads: int, n_layers: int, **kw) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            TTTBlock(d_model, n_heads, reverse=bool(i % 2), **kw) for i in range(n_layers)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x
