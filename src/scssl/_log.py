"""Logging: one line at the start of a step and a 'finished (elapsed)' line naming the keys."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

logger = logging.getLogger("scssl")


@contextmanager
def step(name: str) -> Iterator[list[str]]:
    """Log ``name`` on entry and ``finished (elapsed)`` with the keys appended to the list."""
    start = time.perf_counter()
    logger.info("%s ...", name)
    added: list[str] = []
    yield added
    elapsed = time.perf_counter() - start
    keys = f": added {', '.join(added)}" if added else ""
    logger.info("%s finished (%.1fs)%s", name, elapsed, keys)


def configure(verbosity: int = 1) -> None:
    """Send scssl logs to stderr at INFO (1), DEBUG (2) or WARNING (0)."""
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S", force=True
    )
    logger.setLevel(level)
    for noisy in ("anndata", "scanpy", "numba", "h5py", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
