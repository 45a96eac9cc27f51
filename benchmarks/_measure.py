"""Running one benchmark step: a CLI command under ``/usr/bin/time -v``, sampled from ``/proc``.

Peak RSS, wall and CPU times come from ``/usr/bin/time -v`` (without it, from a small wrapper
that reads ``getrusage(RUSAGE_CHILDREN)``). While the step runs, its RSS is sampled from
``/proc`` every 0.1 s and its log lines ('X ...' / 'X finished (N.Ns)') are time-stamped on
arrival, so the peak RSS of each in-process stage is known too.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path

from scssl._trace import status_kib

_START = re.compile(r" INFO (.+?) \.\.\.$")
_DONE = re.compile(r" INFO (.+?) finished \(([\d.]+)s\)")


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(x) for x in fh.read().split()]
    except OSError:
        return []

    return None


class _Sampler(threading.Thread):
    """Samples VmRSS/VmHWM of the deepest descendant of ``root`` (the step's Python)."""

    def __init__(self, root: int, interval: float = 0.1):
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.samples: list[tuple[float, int]] = []  # (monotonic time, RSS KiB)
        self.hwm_kib = 0
        self.stop = threading.Event()

    def _find_pid(self) -> int:
        pid = self.root
        for _ in range(4):
            kids = _children(pid)
            if not kids:
                break
            pid = kids[-1]
        return pid

    def run(self) -> None:
        while not self.stop.is_set():
            pid = self._find_pid()
            rss = status_kib("VmRSS", pid)
            hwm = status_kib("VmHWM", pid)
            if rss is not None:
                self.samples.append((time.monotonic(), rss))
            if hwm is not None:
                self.hwm_kib = max(self.hwm_kib, hwm)
            self.stop.wait(self.interval)


def _parse_time_v(text: str) -> dict:
    out: dict = {}
    for line in text.splitlines():
        key, _, val = line.strip().rpartition(": ")
        if key.startswith("Maximum resident set size"):
            out["maxrss_kib"] = int(val)
        elif key.startswith("Elapsed (wall clock) time"):
            parts = [float(p) for p in val.split(":")]
            out["wall_s"] = sum(p * 60**i for i, p in enumerate(reversed(parts)))
        elif key == "User time (seconds)":
            out["user_s"] = float(val)
        elif key == "System time (seconds)":
            out["sys_s"] = float(val)
        elif key == "Exit status":
            out["exit"] = int(val)
    return out


_WRAPPER = (
    "import resource, subprocess, sys, time; t = time.perf_counter(); "
    "rc = subprocess.call(sys.argv[2:]); w = time.perf_counter() - t; "
    "r = resource.getrusage(resource.RUSAGE_CHILDREN); "
    "open(sys.argv[1], 'w').write("
    "f'Maximum resident set size (kbytes): {r.ru_maxrss}\\n'"
    "f'Elapsed (wall clock) time (h:mm:ss or m:ss): 0:{w:.2f}\\n'"
    "f'User time (seconds): {r.ru_utime:.2f}\\nSystem time (seconds): {r.ru_stime:.2f}\\n'"
    "f'Exit status: {rc}\\n'); sys.exit(rc)"
)


def run_step(name: str, cmd: list[str], workdir: Path) -> dict:
    """Run ``cmd`` in its own process; return times, peak RSS and per-stage figures."""
    time_file = workdir / f"{name}.time"
    log_file = workdir / f"{name}.log"
    if Path("/usr/bin/time").exists():
        full = ["/usr/bin/time", "-v", "-o", str(time_file), *cmd]
        how = "/usr/bin/time -v"
    else:
        full = [sys.executable, "-c", _WRAPPER, str(time_file), *cmd]
        how = "getrusage(RUSAGE_CHILDREN) in a wrapper process"
    print(f"[{name}] {shlex.join(cmd)}", flush=True)
    t0 = time.monotonic()
    proc = subprocess.Popen(full, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    sampler = _Sampler(proc.pid)
    sampler.start()
    lines: list[tuple[float, str]] = []

    def _drain_stdout() -> None:
        for line in proc.stdout:
            lines.append((time.monotonic(), line.rstrip("\n")))

    out_thread = threading.Thread(target=_drain_stdout, daemon=True)
    out_thread.start()
    with open(log_file, "w") as log:
        for line in proc.stderr:
            now = time.monotonic()
            lines.append((now, line.rstrip("\n")))
            log.write(f"[{now - t0:8.2f}s] {line}")
            log.flush()
            print(f"  [{name} {now - t0:7.1f}s] {line.rstrip()}", flush=True)
    rc = proc.wait()
    t_end = time.monotonic()
    out_thread.join(timeout=5)
    sampler.stop.set()
    sampler.join(timeout=5)
    res = {"name": name, "cmd": cmd, "rc": rc, "how": how, "log": str(log_file)}
    res.update(_parse_time_v(time_file.read_text()) if time_file.exists() else {})
    res.setdefault("wall_s", t_end - t0)
    res["sampled_peak_kib"] = max((r for _, r in sampler.samples), default=0)
    res["sampled_hwm_kib"] = sampler.hwm_kib
    res["stages"] = _stages(lines, sampler.samples, t0, t_end)
    if rc != 0:
        tail = "\n".join(line for _, line in lines[-30:])
        res["error"] = tail
    return res


def _stages(lines, samples, t0: float, t_end: float) -> list[dict]:
    """Stages from the step's log lines, with the peak RSS sampled during each."""

    def peak(a: float, b: float) -> int:
        vals = [r for t, r in samples if a <= t <= b]
        return max(vals, default=0)

    def rss_at(t: float) -> int:
        before = [r for ts, r in samples if ts <= t]
        return before[-1] if before else 0

    events = []
    for t, line in lines:
        if m := _DONE.search(line):
            events.append((t, "done", m.group(1), float(m.group(2))))
        elif m := _START.search(line):
            events.append((t, "start", m.group(1), None))
    out = []
    open_: dict[str, tuple[float, int]] = {}
    depth = 0
    first = events[0][0] if events else t_end
    out.append(
        {
            "stage": "start-up + read_h5ad",
            "depth": 0,
            "wall_s": first - t0,
            "logged_s": None,
            "peak_kib": peak(t0, first),
            "rss_end_kib": rss_at(first),
        }
    )
    last_done = first
    for t, kind, name, secs in events:
        if kind == "start":
            open_[name] = (t, depth)
            depth += 1
        else:
            start, d = open_.pop(name, (t - (secs or 0), depth - 1))
            depth = max(depth - 1, 0)
            out.append(
                {
                    "stage": name,
                    "depth": d,
                    "wall_s": t - start,
                    "logged_s": secs,
                    "peak_kib": peak(start, t),
                    "rss_end_kib": rss_at(t),
                    "_t": start,
                }
            )
            if d == 0:
                last_done = t
    out.append(
        {
            "stage": "after the last stage (reports, write_h5ad, exit)",
            "depth": 0,
            "wall_s": t_end - last_done,
            "logged_s": None,
            "peak_kib": peak(last_done, t_end),
            "rss_end_kib": None,
        }
    )
    # order by start time (a finished line is seen after its children)
    head, body, tail = out[0], out[1:-1], out[-1]
    body.sort(key=lambda s: s["_t"])
    for s in body:
        s.pop("_t", None)
    return [head, *body, tail]


def h5_nnz(path: Path) -> int | None:
    """nnz of layers/counts (or X) of an .h5ad without loading it."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            for key in ("layers/counts/data", "X/data"):
                if key in f:
                    return int(f[key].shape[0])
    except OSError:
        return None
    return None
