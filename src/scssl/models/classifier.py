"""Cell-type classifier on a pretrained encoder: frozen kNN, linear probe or full fine-tune.

The module wraps any family's :class:`SSLModule` (its ``embed()`` is the encoder) and adds a
head. ``knn`` keeps the reference embeddings and labels as buffers and votes among the ``k``
most cosine-similar reference cells; ``linear`` trains the head on the frozen encoder;
``full`` trains encoder and head together (the encoder at ``lr * encoder_lr_factor``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..data.dataset import X
from ..data.labelled import LABEL
from ..nn.mlp import mlp
from .base import LossOutput, SSLModule

MODES = ("knn", "linear", "full")


@dataclass(frozen=True)
class ClassifierConfig:
    """Hyperparameters of the classifier (saved with the weights)."""

    mode: str = "full"
    head_hidden: tuple[int, ...] = ()
    dropout: float = 0.1
    input_dropout: float = 0.0
    encoder_lr_factor: float = 0.3
    class_weight: bool = True
    max_class_weight: float = 20.0
    label_smoothing: float = 0.0
    k: int = 15
    min_cells_class: int = 1

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {self.mode!r}")
        if self.k < 1:
            raise ValueError(f"k must be >= 1, not {self.k}")
        if not 0 < self.encoder_lr_factor <= 10:
            raise ValueError(f"encoder_lr_factor must be in (0, 10], not {self.encoder_lr_factor}")
        if not 0 <= self.input_dropout < 1:
            raise ValueError(f"input_dropout must be in [0, 1), not {self.input_dropout}")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), not {self.label_smoothing}")


class ClassifierModule(SSLModule):
    """``backbone.embed`` -> LayerNorm -> MLP head (or kNN vote) -> class scores.

    ``extras`` (JSON, saved in the checkpoint): ``classes``, ``n_embed`` and, for kNN,
    ``n_reference``.
    """

    family = "classifier"

    def __init__(
        self,
        config: ClassifierConfig,
        backbone: SSLModule,
        extras: dict[str, Any],
        class_weight: torch.Tensor | None = None,
    ) -> None:
        super().__init__(config, backbone.spec, extras)
        self.backbone = backbone
        self.classes: list[str] = list(extras["classes"])
        n_cls, n_embed = len(self.classes), int(extras["n_embed"])
        weight = torch.ones(n_cls) if class_weight is None else class_weight.float()
        self.register_buffer("class_weight", weight)
        if config.mode == "knn":
            n_ref = int(extras.get("n_reference", 0))
            self.register_buffer("knn_z", torch.zeros(n_ref, n_embed))
            self.register_buffer("knn_y", torch.zeros(n_ref, dtype=torch.int64))
        else:
            self.head = nn.Sequential(
                nn.LayerNorm(n_embed),
                nn.Dropout(config.dropout),
                mlp(n_embed, config.head_hidden, n_cls, dropout=config.dropout),
            )
        if config.mode != "full":
            for p in backbone.parameters():
                p.requires_grad_(False)

    # --- training -------------------------------------------------------------------
    def train(self, mode: bool = True) -> ClassifierModule:
        """Like ``nn.Module.train``, but a frozen encoder always stays in eval mode."""
        super().train(mode)
        if self.config.mode != "full":
            self.backbone.eval()
        return self

    def input_keys(self) -> frozenset[str] | None:
        return self.backbone.input_keys()

    def param_groups(self, lr: float) -> list[dict[str, Any]]:
        """Optimizer groups: the head at ``lr``, the encoder (full mode) at a lower rate."""
        groups = [{"params": list(self.head.parameters()), "lr": lr}]
        if self.config.mode == "full":
            enc = [p for p in self.backbone.parameters() if p.requires_grad]
            groups.append({"params": enc, "lr": lr * self.config.encoder_lr_factor})
        return groups

    def logits(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        rate = self.config.input_dropout
        if self.training and rate > 0:  # augmentation: hide a random share of the genes
            keep = torch.rand_like(batch[X]) >= rate
            batch = {**batch, X: batch[X] * keep}
        if self.config.mode == "full":
            z = self.backbone.embed(batch)
        else:
            with torch.no_grad():
                z = self.backbone.embed(batch)
        return self.head(z.float())

    def loss(self, batch: dict[str, torch.Tensor], *, progress: float = 1.0) -> LossOutput:
        logits = self.logits(batch).float()
        weight = self.class_weight if self.config.class_weight else None
        ce = F.cross_entropy(
            logits, batch[LABEL], weight=weight, label_smoothing=self.config.label_smoothing
        )
        return LossOutput(ce, {"ce": ce})

    # --- kNN ------------------------------------------------------------------------
    def set_reference(self, z: torch.Tensor, y: torch.Tensor) -> None:
        """Store the reference embeddings (L2-normalised) and class codes for kNN."""
        self.knn_z = F.normalize(z.float(), dim=1).to(self.class_weight.device)
        self.knn_y = y.long().to(self.class_weight.device)
        self.extras["n_reference"] = len(y)

    def _knn_proba(self, z: torch.Tensor) -> torch.Tensor:
        """Vote shares of the ``k`` most cosine-similar reference cells.

        With ``class_weight`` each vote counts by its class's balanced weight, so a rare type
        is not outvoted by the neighbours of an abundant one.
        """
        sim = F.normalize(z.float(), dim=1) @ self.knn_z.T
        k = min(self.config.k, self.knn_z.shape[0])
        labels = self.knn_y[sim.topk(k, dim=1).indices]
        w = self.class_weight[labels] if self.config.class_weight else torch.ones_like(sim[:, :k])
        votes = torch.zeros(z.shape[0], len(self.classes), device=z.device)
        votes.scatter_add_(1, labels, w.to(votes.dtype))
        return votes / votes.sum(1, keepdim=True)

    # --- inference ------------------------------------------------------------------
    def predict_proba(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Class probabilities (softmax of the head, or kNN vote shares)."""
        if self.config.mode == "knn":
            return self._knn_proba(self.backbone.embed(batch))
        return torch.softmax(self.logits(batch).float(), dim=1)

    def embed(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.backbone.embed(batch)

    def on_step_end(self) -> None:
        self.backbone.on_step_end()
