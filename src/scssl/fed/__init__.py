"""Federated pretraining: sites train on their own cells, only weights and cell counts travel.

``vocab`` aligns a site's cells to the gene list every site agreed on (missing genes are
zero-filled and reported); ``local`` trains a copy of the global model on one site's cells
(optionally with FedProx's proximal term); ``average`` checks that the sites' checkpoints are
compatible and averages their weights (FedAvg, weighted by cells).
"""

from __future__ import annotations

from .average import check_compatible, fedavg
from .local import ProximalModule, local_train
from .vocab import Alignment, align_to_vocab, read_gene_list, union_gene_lists, vocab_spec

__all__ = [
    "Alignment",
    "ProximalModule",
    "align_to_vocab",
    "check_compatible",
    "fedavg",
    "local_train",
    "read_gene_list",
    "union_gene_lists",
    "vocab_spec",
]
