"""Training hyperparameters (one frozen dataclass, saved with the weights)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TrainConfig:
    """How to train: epochs, batch size, AdamW with warm-up + cosine, early stopping, device."""

    max_epochs: int = 60
    # at least this many optimizer steps: small datasets (few steps per epoch) get more epochs
    min_steps: int = 0
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_frac: float = 0.05
    val_frac: float = 0.1
    patience: int = 10
    min_delta: float = 1e-4
    grad_clip: float = 1.0
    seed: int = 0
    device: str = "auto"
    resident: bool = False
    bf16: bool = True  # bf16 autocast on CUDA GPUs
    cpu_bf16: bool = False  # ... and on CPUs with native bf16 (AVX512-BF16 or AMX), if also bf16

    def resolved_device(self) -> str:
        import torch

        if self.device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        return self.device
