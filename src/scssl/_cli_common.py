"""Pieces shared by the CLI modules: path type, thread limits, KEY=VALUE parsing, device,
and the option decorators several commands use."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

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

F = TypeVar("F", bound=Callable[..., Any])


def stack_options(*options: Callable[[F], F]) -> Callable[[F], F]:
    """One decorator applying ``options`` in the order listed (first is shown first)."""

    def decorator(fn: F) -> F:
        for opt in reversed(options):
            fn = opt(fn)
        return fn

    return decorator


def input_option(help: str) -> Callable[[F], F]:
    """``--input`` (parameter ``input_``): the step's required input path."""
    return click.option("--input", "input_", required=True, type=PATH_IN, help=help)


def inputs_option(help: str) -> Callable[[F], F]:
    """``--input`` (parameter ``inputs``), required and repeatable."""
    return click.option("--input", "inputs", required=True, multiple=True, type=PATH_IN, help=help)


def output_option(help: str) -> Callable[[F], F]:
    """``--output``: the step's required output path."""
    return click.option("--output", required=True, type=PATH_IN, help=help)


def seed_option(default: int | None = 0, help: str | None = None) -> Callable[[F], F]:
    """``--seed``: the random seed."""
    return click.option("--seed", type=int, default=default, help=help)


def set_option(help: str) -> Callable[[F], F]:
    """``--set KEY=VALUE`` (parameter ``sets``), repeatable; parse with :func:`_parse_set`."""
    return click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help=help)


def min_overlap_option(default: float, help: str | None = None) -> Callable[[F], F]:
    """``--min-overlap``: the least share of a model's genes that must be in the data."""
    return click.option("--min-overlap", type=float, default=default, help=help)


checkpoint_option = click.option(
    "--checkpoint", required=True, type=PATH_IN, help="Folder from scssl pretrain."
)
"""``--checkpoint``: the folder ``scssl pretrain`` wrote."""

threads_option = click.option("--threads", type=int, default=None)
"""``--threads``: BLAS/OpenMP and torch threads, applied with :func:`_threads`."""

device_option = click.option("--device", type=DEVICE, default="auto")
"""``--device``: auto, cpu or cuda, resolved with :func:`_device`."""

report_files_options = stack_options(
    click.option("--report-dir", type=PATH_IN, default=None, help="[default: the output's folder]"),
    click.option("--prefix", default=None, help="Report file prefix [default: the output's stem]."),
)
"""``--report-dir`` and ``--prefix`` of the steps that write report files beside their output."""


def given(**values: Any) -> dict[str, Any]:
    """The ``values`` that are not None (options left at their None default are dropped)."""
    return {k: v for k, v in values.items() if v is not None}
