"""The trainer, for a classifier: stratified validation split and per-group learning rates."""

from __future__ import annotations

import math

import torch

from ..data.labelled import LabelledCellData, stratified_split
from ..models.classifier import ClassifierModule
from .config import TrainConfig
from .trainer import Trainer, _lr_lambda


class ClassifierTrainer(Trainer):
    """:class:`Trainer` (early stopping on the validation loss, best weights kept) with

    - a validation split holding ``val_frac`` of every class (classes under 4 cells: none);
    - AdamW groups from ``module.param_groups``: the head at ``lr``, the encoder (full
      fine-tune) at ``lr * encoder_lr_factor``, both under the same warm-up + cosine schedule.
    """

    def __init__(
        self,
        module: ClassifierModule,
        data: LabelledCellData,
        config: TrainConfig,
        *,
        progress: bool = True,
    ) -> None:
        super().__init__(module, data, config, progress=progress)
        self.val_idx, self.train_idx = stratified_split(data.labels, config.val_frac, config.seed)
        self.steps_per_epoch = max(1, math.ceil(len(self.train_idx) / config.batch_size))
        self.total_steps = config.max_epochs * self.steps_per_epoch
        torch.manual_seed(config.seed)
        self.opt = torch.optim.AdamW(
            module.param_groups(config.lr), weight_decay=config.weight_decay, fused=True
        )
        warmup = max(1, int(config.warmup_frac * self.total_steps))
        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, _lr_lambda(self.total_steps, warmup)
        )
