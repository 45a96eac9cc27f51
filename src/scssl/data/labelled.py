"""Cells with class labels: :class:`CellData` whose minibatches also carry the label codes."""

from __future__ import annotations

import numpy as np
import torch

from .dataset import CellData

LABEL = "label"  # batch key: integer class code of each cell


class LabelledCellData(CellData):
    """``data``'s arrays plus one integer class code per cell (``batch()[LABEL]``)."""

    def __init__(self, data: CellData, labels: np.ndarray) -> None:
        self.__dict__.update(data.__dict__)
        if len(labels) != data.n_cells:
            raise ValueError(f"{len(labels)} labels for {data.n_cells} cells")
        self.labels = np.asarray(labels, dtype=np.int64)
        self._labels_t = torch.as_tensor(self.labels)

    def batch(self, idx: np.ndarray, keys: frozenset[str] | None = None) -> dict[str, torch.Tensor]:
        out = super().batch(idx, keys)
        out[LABEL] = self._labels_t[torch.as_tensor(idx)].to(self.device)
        return out


def stratified_split(
    labels: np.ndarray, val_frac: float, seed: int, *, min_class: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (validation, train) indices with ``val_frac`` of every class in validation.

    Classes with fewer than ``min_class`` cells stay wholly in training.
    """
    rng = np.random.default_rng(seed)
    val = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        n_val = round(val_frac * len(idx)) if len(idx) >= min_class else 0
        val.append(rng.permutation(idx)[: min(n_val, len(idx) - 1)])
    val_idx = np.sort(np.concatenate(val)) if val else np.zeros(0, np.int64)
    train_idx = np.setdiff1d(np.arange(len(labels)), val_idx)
    return val_idx.astype(np.int64), train_idx.astype(np.int64)
