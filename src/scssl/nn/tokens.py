"""Gene tokens: expression value x learned gene embedding, grouped into patches of genes.

A cell's genes are put in an order (``genome``: the model's gene order; ``rank``: the cell's
own expression rank, highest first, ties in genome order) and cut into ``n_patches`` runs of
``patch_size`` consecutive genes (the last one zero-padded). The token of patch ``n`` is

    t_n = Σ_{g ∈ patch n} (x_g e_g + b_g) + p_n,

with ``e_g`` the learned gene embedding, ``b_g`` an optional learned gene (value-bias) term that
marks a gene's presence in the patch whatever its value, and ``p_n`` a learned position
embedding (with ``rank`` order it embeds the expression rank of the patch). For
``patch_size <= d_model`` the map from a patch's values to ``Σ x_g e_g`` is a generic
injective linear map, so patching shortens the sequence (2,000 genes / 64 = 32 tokens) without
forcing information loss, and attention cost drops by ``patch_size²``.

:class:`GenePatchHead` predicts the value of every gene of a patch from the patch's final
hidden state ``h``: ``x̂_g = h · u_g + c_g`` with per-gene output embeddings ``u_g``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

ORDERS = ("genome", "rank")


class GenePatchTokenizer(nn.Module):
    """``x (cells, genes) -> tokens (cells, n_patches, d)`` and the gene index of each slot."""

    def __init__(
        self,
        n_genes: int,
        d_model: int,
        patch_size: int,
        *,
        order: str = "genome",
        value_bias: bool = True,
    ) -> None:
        super().__init__()
        if order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS}, not {order!r}")
        self.n_genes, self.patch_size, self.order = n_genes, patch_size, order
        self.n_patches = math.ceil(n_genes / patch_size)
        pad = self.n_patches * patch_size - n_genes
        # row n_genes is the padding gene: value 0, no embedding, never a target
        self.gene_emb = nn.Embedding(n_genes + 1, d_model, padding_idx=n_genes)
        nn.init.normal_(self.gene_emb.weight, std=1.0 / math.sqrt(patch_size))
        self.bias_emb = (
            nn.Embedding(n_genes + 1, d_model, padding_idx=n_genes) if value_bias else None
        )
        if self.bias_emb is not None:
            nn.init.normal_(self.bias_emb.weight, std=0.02)
        self.pos_emb = nn.Parameter(torch.randn(self.n_patches, d_model) * 0.02)
        genome = torch.cat([torch.arange(n_genes), torch.full((pad,), n_genes)])
        self.register_buffer("genome_index", genome, persistent=False)

    def gene_index(self, x: torch.Tensor) -> torch.Tensor:
        """Gene of every slot, ``(cells, n_patches, patch_size)``; padding slots hold n_genes."""
        b = x.shape[0]
        if self.order == "genome":
            idx = self.genome_index.expand(b, -1)
        else:
            rank = torch.argsort(x, dim=1, descending=True, stable=True)
            idx = F.pad(rank, (0, self.genome_index.numel() - self.n_genes), value=self.n_genes)
        return idx.reshape(b, self.n_patches, self.patch_size)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, n, p = x.shape[0], self.n_patches, self.patch_size
        x = x.float()
        idx = self.gene_index(x)
        x_pad = F.pad(x, (0, 1))  # value of the padding gene = 0
        if self.order == "genome":
            emb = self.gene_emb(self.genome_index).view(n, p, -1)
            tok = torch.einsum("bnp,npd->bnd", x_pad[:, self.genome_index].view(b, n, p), emb)
            if self.bias_emb is not None:
                tok = tok + self.bias_emb(self.genome_index).view(n, p, -1).sum(1)
        else:
            flat = idx.reshape(b * n, p)
            vals = torch.gather(x_pad, 1, idx.reshape(b, -1)).view(b * n, p)
            tok = F.embedding_bag(flat, self.gene_emb.weight, per_sample_weights=vals, mode="sum")
            if self.bias_emb is not None:
                tok = tok + F.embedding_bag(flat, self.bias_emb.weight, mode="sum")
            tok = tok.view(b, n, -1)
        return tok + self.pos_emb, idx


class GenePatchHead(nn.Module):
    """Per-gene readout of patch hidden states: ``x̂_g = h · u_g + c_g``.

    ``genome`` order: every patch always holds the same genes, so all patches are read out by
    one batched matmul with the patch-shaped ``u``. ``rank`` order: the ``u_g`` of each masked
    patch's genes are gathered, then one batched matmul.
    """

    def __init__(self, tokenizer: GenePatchTokenizer) -> None:
        super().__init__()
        n_genes, d_model = tokenizer.n_genes, tokenizer.pos_emb.shape[1]
        self.order = tokenizer.order
        self.out_emb = nn.Parameter(torch.randn(n_genes + 1, d_model) / math.sqrt(d_model))
        self.out_bias = nn.Parameter(torch.zeros(n_genes + 1))
        self.register_buffer("genome_index", tokenizer.genome_index.clone(), persistent=False)

    def forward(
        self, h: torch.Tensor, idx: torch.Tensor, mask: torch.Tensor, m: int
    ) -> torch.Tensor:
        """Predictions for the masked patches, ``(cells, m, patch_size)``.

        ``h``: ``(cells, n_patches, d)``; ``idx``: gene index ``(cells, n_patches, patch)``;
        ``mask``: ``(cells, n_patches)``, exactly ``m`` True per cell.
        """
        b, n, p = idx.shape
        if self.order == "genome":
            u = self.out_emb[self.genome_index].view(n, p, -1)
            c = self.out_bias[self.genome_index].view(n, p)
            return (torch.einsum("bnd,npd->bnp", h, u.to(h.dtype)) + c)[mask].view(b, m, p)
        im = idx[mask].view(b, m, p)
        u = F.embedding(im, self.out_emb).to(h.dtype)  # (cells, masked, patch, d)
        pred = torch.matmul(u, h[mask].view(b, m, -1, 1)).squeeze(-1)
        return pred + self.out_bias[im]
