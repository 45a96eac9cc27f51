"""One plain-PyTorch trainer for every model family, and safetensors checkpoints."""

from .checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from .config import TrainConfig
from .trainer import Trainer, TrainingError

__all__ = [
    "Checkpoint",
    "TrainConfig",
    "Trainer",
    "TrainingError",
    "load_checkpoint",
    "save_checkpoint",
]
