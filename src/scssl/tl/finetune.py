"""Fine-tune a pretrained encoder into a cell-type classifier on a labelled reference."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import torch

from .._errors import InputError
from .._log import logger, step
from ..data.labelled import LabelledCellData, stratified_split
from ..data.prepare import build_cell_data, data_hash
from ..models.classifier import ClassifierConfig, ClassifierModule
from ..train.checkpoint import load_checkpoint
from ..train.classifier_trainer import ClassifierTrainer
from ..train.config import TrainConfig
from ._labels import label_column, labelled_mask
from .embed import embed_module

#: training defaults of the classifier (the encoder's own defaults are for pretraining)
FINETUNE_DEFAULTS: dict[str, Any] = {
    "max_epochs": 60,
    "batch_size": 128,
    "lr": 3e-3,
    "val_frac": 0.1,
    "patience": 15,
    "warmup_frac": 0.05,
}
#: a linear probe on a frozen encoder needs a larger step to converge in as many epochs
MODE_DEFAULTS: dict[str, dict[str, Any]] = {"linear": {"lr": 1e-2}}


@dataclass
class FinetuneResult:
    """What :func:`finetune` returns: the classifier and everything its checkpoint saves."""

    module: ClassifierModule
    train_config: TrainConfig
    history: list[dict[str, Any]]
    data_hash: str
    summary: dict[str, Any]
    encoder: dict[str, Any] = field(default_factory=dict)


def finetune_train_config(
    overrides: dict[str, Any] | None = None, mode: str = "full"
) -> TrainConfig:
    """:data:`FINETUNE_DEFAULTS` (and :data:`MODE_DEFAULTS` of ``mode``) with ``overrides``;
    unknown keys are an InputError."""
    known = set(TrainConfig.__dataclass_fields__)
    unknown = set(overrides or {}) - known
    if unknown:
        raise InputError(f"unknown training option(s) {sorted(unknown)}; known: {sorted(known)}")
    return TrainConfig(**{**FINETUNE_DEFAULTS, **MODE_DEFAULTS.get(mode, {}), **(overrides or {})})


def _classes(labels: np.ndarray, min_cells: int) -> tuple[list[str], dict[str, int]]:
    names, counts = np.unique(labels, return_counts=True)
    dropped = {str(n): int(c) for n, c in zip(names, counts, strict=True) if c < min_cells}
    kept = [str(n) for n, c in zip(names, counts, strict=True) if c >= min_cells]
    return kept, dropped


def _balanced_weights(y: np.ndarray, n_classes: int, cap: float) -> torch.Tensor:
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    w = len(y) / (n_classes * np.maximum(counts, 1))
    return torch.as_tensor(np.minimum(w, cap), dtype=torch.float32)


def predict_proba(module: ClassifierModule, data, *, batch_size: int = 1024) -> np.ndarray:
    """Class probabilities of every cell of ``data`` in order (eval mode, no gradient)."""
    module.eval()
    out = []
    with torch.no_grad():
        for start in range(0, data.n_cells, batch_size):
            idx = np.arange(start, min(start + batch_size, data.n_cells))
            batch = data.batch(idx, module.input_keys())
            out.append(module.predict_proba(batch).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, len(module.classes)), np.float32)


def _scores(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    if len(y) == 0:
        return {}
    labels = np.unique(y)
    return {
        "accuracy": float(accuracy_score(y, pred)),
        "macro_f1": float(f1_score(y, pred, labels=labels, average="macro", zero_division=0)),
        "n_cells": len(y),
    }


def finetune(
    reference: ad.AnnData,
    checkpoint: str | Path,
    *,
    label_key: str,
    config: ClassifierConfig | None = None,
    train_config: TrainConfig | None = None,
    min_overlap: float = 0.5,
    device: str = "cpu",
    progress: bool = True,
) -> FinetuneResult:
    """Train a classifier of ``reference.obs[label_key]`` on the encoder of ``checkpoint``.

    The reference is aligned to the checkpoint's genes (InputError below ``min_overlap``);
    unlabelled cells (empty, '?', 'Unknown', ...) and classes with fewer than
    ``config.min_cells_class`` cells are left out. ``knn`` stores the reference embeddings;
    ``linear`` and ``full`` train with class-weighted cross-entropy and early stopping on a
    stratified validation split.

    Returns
    -------
    A :class:`FinetuneResult`; ``summary`` holds classes and their counts, dropped classes,
    gene overlap and validation accuracy / macro-F1.
    """
    config = config or ClassifierConfig()
    tcfg = train_config or finetune_train_config(mode=config.mode)
    raw = label_column(reference, label_key).to_numpy()
    has_label = labelled_mask(raw)
    classes, dropped = _classes(raw[has_label], config.min_cells_class)
    if len(classes) < 2:
        raise InputError(
            f"--label-key {label_key!r}: need at least 2 classes with >= "
            f"{config.min_cells_class} labelled cells, found {classes or 'none'}."
        )
    if dropped:
        logger.warning(
            "finetune: classes with < %d cells left out: %s", config.min_cells_class, dropped
        )
    keep = has_label & np.isin(raw, classes)
    code = {c: i for i, c in enumerate(classes)}
    y = np.array([code[v] for v in raw[keep]], dtype=np.int64)
    backbone, ckpt = load_checkpoint(checkpoint, device=device)
    with step(f"finetune {config.mode} on {ckpt.family}") as added:
        data, overlap = build_cell_data(
            reference[keep], backbone.spec, min_overlap=min_overlap, device=device
        )
        ldata = LabelledCellData(data, y)
        z = torch.as_tensor(embed_module(backbone, data))
        extras = {"classes": classes, "n_embed": int(z.shape[1])}
        weights = _balanced_weights(y, len(classes), config.max_class_weight)
        torch.manual_seed(tcfg.seed)
        module = ClassifierModule(config, backbone, extras, weights).to(device)
        history: list[dict[str, Any]] = []
        if config.mode == "knn":
            val_idx, train_idx = stratified_split(y, tcfg.val_frac, tcfg.seed)
            module.set_reference(z[train_idx], torch.as_tensor(y[train_idx]))
            val_pred = predict_proba(module, _subset(ldata, val_idx)).argmax(1)
            module.set_reference(z, torch.as_tensor(y))
        else:
            trainer = ClassifierTrainer(module, ldata, tcfg, progress=progress)
            history = trainer.fit()
            val_idx = trainer.val_idx
            val_pred = predict_proba(module, _subset(ldata, val_idx)).argmax(1)
        val = _scores(y[val_idx], val_pred)
        added.append(f"{len(classes)} classes, validation {val}")
    summary = {
        "mode": config.mode,
        "label_key": label_key,
        "classes": {c: int((y == i).sum()) for i, c in enumerate(classes)},
        "dropped_classes": dropped,
        "n_unlabelled": int((~has_label).sum()),
        "n_cells": int(keep.sum()),
        "gene_overlap": overlap,
        "n_genes_model": backbone.spec.n_genes,
        "epochs": len(history),
        "validation": val,
    }
    encoder = {
        "checkpoint": str(Path(checkpoint).resolve()),
        "family": ckpt.family,
        "data_hash": ckpt.data_hash,
        "train_config": ckpt.train_config,
    }
    dhash = data_hash(data, backbone.spec)
    return FinetuneResult(module, tcfg, history, dhash, summary, encoder)


def _subset(data: LabelledCellData, idx: np.ndarray):
    """A view of ``data`` with cells ``idx`` (for scoring the validation split)."""

    class _View:
        n_cells = len(idx)

        @staticmethod
        def batch(rows: np.ndarray, keys=None):
            return data.batch(idx[rows], keys)

    return _View()
