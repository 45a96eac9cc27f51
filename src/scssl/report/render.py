"""Render an HTML report to PNG in headless Chromium, as a person would see it, and judge it.

Used by the tests and ``benchmarks/report_screenshots.py``; needs Debian's ``chromium``
(or ``chromium-browser`` / ``google-chrome``) on the PATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from .._errors import ScsslError

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome executable on the PATH, or None."""
    return next((p for p in map(shutil.which, BROWSERS) if p), None)


def screenshot(
    html: str | Path,
    png: str | Path,
    *,
    width: int = 1300,
    height: int = 4000,
    wait_ms: int = 0,
    timeout: float = 120,
) -> Path:
    """Render ``html`` (a local file; no network) to ``png`` at ``width`` x ``height`` pixels.

    ``wait_ms`` gives scripts (MultiQC's plots) virtual time to draw before the capture.
    """
    exe = find_chromium()
    if exe is None:
        raise ScsslError("no Chromium on the PATH (Debian: apt-get install chromium).")
    png = Path(png).resolve()
    with tempfile.TemporaryDirectory(prefix="scssl-chromium-") as profile:
        cmd = [
            exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            "--no-first-run", "--disable-extensions", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
            f"--window-size={width},{height}", f"--screenshot={png}",
        ]  # fmt: skip
        if wait_ms:
            cmd.append(f"--virtual-time-budget={wait_ms}")
        cmd.append(Path(html).resolve().as_uri())
        env = {**os.environ, "HOME": profile}
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if res.returncode != 0 or not png.is_file():
        raise ScsslError(f"Chromium failed (exit {res.returncode}): {res.stderr[-500:]}")
    return png


def blank_fraction(png: str | Path) -> float:
    """Fraction of pixels equal to the most common colour (1.0: a blank page)."""
    from PIL import Image

    with Image.open(png) as im:
        pixels = np.asarray(im.convert("RGB")).reshape(-1, 3)
    _, counts = np.unique(pixels, axis=0, return_counts=True)
    return float(counts.max() / pixels.shape[0])


def shrink(
    png: str | Path, out: str | Path, *, width: int = 1000, height: int | None = None
) -> Path:
    """Crop the top ``height`` pixels (None: all) and scale to ``width``; an optimized PNG."""
    from PIL import Image

    with Image.open(png) as im:
        im = im.convert("RGB")
        if height is not None:
            im = im.crop((0, 0, im.width, min(height, im.height)))
        ratio = width / im.width
        im = im.resize((width, round(im.height * ratio)), Image.LANCZOS)
        im = im.quantize(colors=128, method=Image.Quantize.MEDIANCUT)
        im.save(out, optimize=True)
    return Path(out)
