"""Pieces shared by the CLI modules: path type, thread limits, KEY=VALUE parsing, device."""

from __future__ import annotations

from pathlib import Path

import click

PATH_IN = click.Path(exists=False, path_type=Path)


def _threads(n: int | None) -> None:
    """Limit BLAS/OpenMP and torch intra-op threads (Nextflow passes task.cpus)."""
    if n:
        import torch
        from threadpoolctl import threadpool_limits

        threadpool_limits(n)
        torch.set_num_threads(n)


def _parse_set(items: tuple[str, ...], flag: str) -> dict[str, object]:
    import yaml

    out: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint=flag)
        out[key.replace("-", "_")] = yaml.safe_load(value) if value else ""
    return out


def _device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise click.BadParameter("CUDA is not available on this machine", param_hint="--device")
    return device


DEVICE = click.Choice(["auto", "cpu", "cuda"])
