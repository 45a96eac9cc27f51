"""Per-step wall time and peak RSS of ``scssl run`` (``pipeline_info/scssl_run_trace.tsv``).

Nextflow writes a trace with each task's time and peak memory; ``scssl run`` runs every step
in one process, so it measures each step itself: the wall time, and the peak resident set size
while the step ran. On Linux the kernel's high-water mark (``VmHWM``) is reset before each
step by writing ``5`` to ``/proc/self/clear_refs``; where that is not possible the peak is the
process's peak so far (``ru_maxrss``), which the ``peak_rss_scope`` column says.
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from ._atomic import write_text
from ._log import logger

COLUMNS = ("step", "wall_s", "peak_rss_mib", "rss_end_mib", "peak_rss_scope")


def status_kib(field: str, pid: int | str = "self") -> int | None:
    """A ``/proc/<pid>/status`` memory field (e.g. VmRSS, VmHWM) in KiB; None off Linux."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    """Reset the kernel's peak RSS of this process (Linux >= 4.0); False when not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _maxrss_kib() -> int:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r // 1024 if sys.platform == "darwin" else r  # bytes on macOS, KiB on Linux


def _torch_threads() -> int | None:
    torch = sys.modules.get("torch")
    return torch.get_num_threads() if torch is not None else None


class Trace:
    """Collects one row per step; :meth:`write` saves them as a TSV.

    Each step also starts with torch's intra-op thread count of the run's start: numba code
    (Scrublet in QC, scanpy's neighbour graph) resets the shared OpenMP thread count to all
    cores, and a later torch step would otherwise ignore ``OMP_NUM_THREADS`` / ``--threads``
    (on a shared machine, twice the threads can make training several times slower).
    """

    def __init__(self) -> None:
        self.rows: list[dict[str, object]] = []
        import torch

        self.threads = torch.get_num_threads()

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time ``name`` and record its peak RSS (logged as 'run step ... finished')."""
        if _torch_threads() not in (None, self.threads):
            sys.modules["torch"].set_num_threads(self.threads)
        release_memory()
        per_step = _reset_peak()
        t0 = time.perf_counter()
        logger.info("run step %s ...", name)
        try:
            yield
        finally:
            wall = time.perf_counter() - t0
            hwm = status_kib("VmHWM") if per_step else None
            peak = hwm if hwm is not None else _maxrss_kib()
            end = status_kib("VmRSS")
            self.rows.append(
                {
                    "step": name,
                    "wall_s": round(wall, 2),
                    "peak_rss_mib": round(peak / 1024, 1),
                    "rss_end_mib": round(end / 1024, 1) if end is not None else "",
                    "peak_rss_scope": "step" if hwm is not None else "process so far",
                }
            )
            logger.info("run step %s finished (%.1fs), peak RSS %.0f MiB", name, wall, peak / 1024)

    def write(self, path: str | Path) -> Path:
        """The rows as a tab-separated table (written atomically)."""
        lines = ["\t".join(COLUMNS)]
        lines += ["\t".join(str(r[c]) for c in COLUMNS) for r in self.rows]
        return write_text(Path(path), "\n".join(lines) + "\n")


def release_memory() -> None:
    """Collect garbage and hand freed heap pages back to the OS (glibc ``malloc_trim``).

    Between the steps of ``scssl run`` the previous step's freed small allocations would
    otherwise stay in the process (glibc keeps them), so every later step started higher;
    no-op where the C library has no ``malloc_trim``.
    """
    import ctypes
    import gc

    gc.collect()
    with suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
