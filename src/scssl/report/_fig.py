"""Matplotlib set-up shared by the report figures: Agg backend, palette, PNG bytes."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np

BLUE, ORANGE, RED, GREY, PURPLE = "#2b6cb0", "#dd6b20", "#c53030", "#a0aec0", "#805ad5"
BACKGROUND = "#e2e8f0"


def plt():
    """``matplotlib.pyplot`` on the Agg backend (no display, no network)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    return pyplot


def palette(n: int) -> list[str]:
    """``n`` distinct colours: tab20 up to 20, then evenly spaced hues."""
    import matplotlib

    if n <= 10:
        cmap = matplotlib.colormaps["tab10"]
        return [matplotlib.colors.to_hex(cmap(i)) for i in range(n)]
    if n <= 20:
        cmap = matplotlib.colormaps["tab20"]
        return [matplotlib.colors.to_hex(cmap(i)) for i in range(n)]
    cmap = matplotlib.colormaps["hsv"]
    return [matplotlib.colors.to_hex(cmap(i / n)) for i in range(n)]


def reason_colours(names: list[str]) -> dict[str, str]:
    """Colours of QC filters (tab10 without its blue, which means 'kept')."""
    import matplotlib

    cmap = matplotlib.colormaps["tab10"]
    hues = [matplotlib.colors.to_hex(cmap(i)) for i in (1, 3, 2, 4, 5, 6, 8, 9, 7)]
    return {n: hues[i % len(hues)] for i, n in enumerate(names)}


def point_size(n: int) -> float:
    """Marker area for ``n`` points: large for a few hundred cells, 1 for 50,000."""
    return float(np.clip(20_000 / max(n, 1), 1.0, 12.0))


def plain_log_axis(axis) -> None:
    """Log axis labelled with plain numbers (1000, not 10^3) and no minor labels."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def png_bytes(fig: Any, dpi: int = 90) -> bytes:
    """The figure as PNG bytes without metadata (no software string, no date); closes it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    plt().close(fig)
    return buf.getvalue()


def data_uri(png: bytes) -> str:
    """``data:image/png;base64,...`` for an ``<img src>``."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def subsample(n: int, max_points: int, seed: int) -> np.ndarray:
    """Sorted indices of at most ``max_points`` of ``n`` points (seeded, uniform)."""
    if n <= max_points:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_points, replace=False))
