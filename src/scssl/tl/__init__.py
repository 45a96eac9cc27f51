"""Tools on AnnData: pretraining self-supervised models and embedding cells."""

from .embed import embed
from .pretrain import pretrain

__all__ = ["embed", "pretrain"]
