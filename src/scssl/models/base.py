"""What every model family shares: the loss record, the module interface and the registry."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import torch
from torch import nn

from ..data.spec import DataSpec


@dataclass
class LossOutput:
    """Total loss plus named parts; the trainer logs whatever parts it finds."""

    loss: torch.Tensor
    parts: dict[str, torch.Tensor] = field(default_factory=dict)


class SSLModule(nn.Module):
    """A self-supervised model: built from a Config and a DataSpec, reads tensor dicts."""

    family: ClassVar[str]
    #: TrainConfig overrides that make this family's defaults good (and fast) out of the box
    train_defaults: ClassVar[dict[str, Any]] = {}
    #: ``scssl embed`` stores each cell's embedding scaled to unit length (the direction
    #: carries the cell type, the length nuisance such as depth); ``embed`` keeps it as is
    unit_embedding: ClassVar[bool] = False

    def __init__(self, config: Any, spec: DataSpec, extras: dict[str, Any] | None = None):
        super().__init__()
        self.config = config
        self.spec = spec
        self.extras = extras or {}

    @classmethod
    def build_extras(
        cls, config: Any, spec: DataSpec, adata: Any, data: Any = None
    ) -> dict[str, Any]:
        """Data-derived, JSON-able construction arguments (saved in the checkpoint).

        ``data`` is the training ``CellData`` (or ``BackedCellData``) when there is one."""
        return {}

    def input_keys(self) -> frozenset[str] | None:
        """The batch keys this module reads (None: all); lets the loader skip the rest."""
        return None

    def loss(self, batch: dict[str, torch.Tensor], *, progress: float = 1.0) -> LossOutput:
        """Loss of one minibatch; ``progress`` in [0, 1] is the share of training done."""
        raise NotImplementedError

    def embed(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Deterministic cell embedding (eval mode, no corruption)."""
        raise NotImplementedError

    def on_step_end(self) -> None:
        """Hook after each optimizer step (momentum encoders update here)."""


def config_to_dict(config: Any) -> dict[str, Any]:
    """A frozen Config dataclass as plain JSON types (tuples become lists)."""
    out = {}
    for f in fields(config):
        v = getattr(config, f.name)
        out[f.name] = list(v) if isinstance(v, tuple) else v
    return out


def config_from_dict(cls: type, d: dict[str, Any]) -> Any:
    """Rebuild a Config; unknown keys are an error, lists become tuples where the default is."""
    names = {f.name: f for f in fields(cls)}
    unknown = set(d) - set(names)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} option(s): {sorted(unknown)}")
    kw = {}
    for k, v in d.items():
        default = names[k].default
        kw[k] = tuple(v) if isinstance(v, list) and isinstance(default, tuple) else v
    return cls(**kw)
