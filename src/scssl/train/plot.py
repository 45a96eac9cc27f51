"""Loss curves of a training run (PNG), for people and for the report."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_history(history: list[dict[str, Any]], path: str | Path, title: str) -> Path:
    """Train and validation loss per epoch (log scale when positive), written to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in history]
    fig, ax = plt.subplots(figsize=(6, 3.6), constrained_layout=True)
    ax.plot(epochs, [r["train_loss"] for r in history], label="train", color="#2b6cb0")
    if any("val_loss" in r for r in history):
        ax.plot(epochs, [r.get("val_loss") for r in history], label="validation", color="#dd6b20")
    losses = [r["train_loss"] for r in history] + [r.get("val_loss", 1) for r in history]
    if all(v is not None and v > 0 for v in losses):
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title(title, fontsize=10)
    ax.legend(frameon=False)
    fig.savefig(path, dpi=110, format="png")
    plt.close(fig)
    return Path(path)
