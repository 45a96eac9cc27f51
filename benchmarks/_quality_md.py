"""Shared by the model benchmarks: machine description, versions, markdown section replacement."""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import logging
import os
import platform
import shlex
import statistics
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOC_HEADER = (
    "# Benchmarks\n\n"
    "Timings and memory of scssl steps on synthetic data. Each section is written by a "
    "script in `benchmarks/`; rerun it to refresh the figures.\n\n"
)


def version(pkg: str) -> str:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "not installed"


def now() -> str:
    return _dt.datetime.now().strftime("%Y-%m-%d %H:%M")


def command_line() -> str:
    """The command that ran this script, relative to the repository root when possible."""
    script = Path(sys.argv[0]).resolve()
    try:
        script_s = str(script.relative_to(REPO))
    except ValueError:
        script_s = str(script)
    return shlex.join(["python", script_s, *sys.argv[1:]])


def machine_facts(packages: tuple[str, ...]) -> dict:
    """Cores, CPU model, RAM, OS, Python and the given package versions of this machine."""
    ram = cpu = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = f"{int(line.split()[1]) / 1024**2:.1f} GiB"
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        ncpu = len(os.sched_getaffinity(0))
    except AttributeError:
        ncpu = os.cpu_count()
    return {
        "nproc": ncpu,
        "cpu": cpu or platform.processor(),
        "ram": ram,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": {p: version(p) for p in packages},
    }


def machine(packages: tuple[str, ...], threads: int | None = None) -> str:
    """One markdown line: cores, CPU, RAM, OS, Python and the given package versions."""
    m = machine_facts(packages)
    used = f", {threads} threads used" if threads else ""
    vers = ", ".join(f"{p} {v}" for p, v in m["versions"].items())
    return (
        f"**Machine**: {m['nproc']} CPU cores ({m['cpu']}){used}, {m['ram']} RAM, "
        f"{m['os']}; Python {m['python']}; {vers}."
    )


def reproduce(command: str) -> list[str]:
    """The closing 'To reproduce' block of a section, as markdown lines."""
    return ["To reproduce:", "", "```sh", command, "```", ""]


def replace_section(path: Path, title: str, section: str) -> None:
    """Replace the ``## title`` section of ``path`` (up to the next ``## ``) or append it.

    Written atomically; every other section is kept byte for byte.
    """
    from scssl._atomic import write_text

    text = path.read_text() if path.exists() else DOC_HEADER
    lines = text.splitlines(keepends=True)
    start = next((i for i, ln in enumerate(lines) if ln.rstrip() == title), None)
    block = section.rstrip("\n") + "\n"
    if start is None:
        new = text.rstrip("\n") + "\n\n" + block
    else:
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines)
        )
        rest = "".join(lines[end:])
        new = "".join(lines[:start]) + block + ("\n" + rest if rest else "")
    write_text(path, new)


def ratio(a: float, b: float | None) -> str:
    """``a / b`` as '4.6×' ('–' without ``b``)."""
    return f"{a / b:.1f}×" if b else "–"


def after_warmup(per_epoch: list[float]) -> float:
    """Median of epochs 2..N (epoch 1 carries warm-up costs; all of it when only one)."""
    return float(statistics.median(per_epoch[1:] or per_epoch))


def fmt(v: float | None, digits: int = 3) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def table(header: list[str], rows: list[list[str]], align: str | None = None) -> list[str]:
    """Markdown table lines; ``align`` is one char per column (l or r)."""
    align = align or "l" + "r" * (len(header) - 1)
    sep = ["---:" if a == "r" else "---" for a in align]
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(sep) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def seeded_section_main(
    argv: list[str] | None,
    *,
    doc: str,
    section: str,
    name: str,
    run: Callable[[argparse.Namespace], dict],
    render: Callable[[dict], str],
    add_args: Callable[[argparse.ArgumentParser], None] | None = None,
) -> int:
    """The command line of a benchmark that trains over ``--seeds`` and writes one section:
    ``run(args)`` on ``--threads`` CPU threads, saved as ``--out-json`` (default
    ``benchmarks/_scratch/<name>.json``), then ``render`` into ``--out-md``; ``--render-only``
    renders the saved JSON. ``add_args`` adds the script's own options first."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    if add_args is not None:
        add_args(p)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out-json", type=Path, default=REPO / f"benchmarks/_scratch/{name}.json")
    p.add_argument("--out-md", default=str(REPO / "docs/benchmarks.md"), help="'none': skip")
    p.add_argument("--render-only", action="store_true")
    args = p.parse_args(argv)
    if args.render_only:
        res = json.loads(args.out_json.read_text())
    else:
        import torch
        from threadpoolctl import threadpool_limits

        from scssl._atomic import write_json

        torch.set_num_threads(args.threads)
        threadpool_limits(args.threads)
        logging.getLogger("scssl").setLevel(logging.WARNING)
        res = {
            "date": now(),
            "command": command_line(),
            "threads": args.threads,
            "seeds": args.seeds,
            "results": run(args),
        }
        write_json(args.out_json, res)
    if args.out_md.lower() != "none":
        replace_section(Path(args.out_md), section, render(res))
        print(f"section '{section}' -> {args.out_md}")
    return 0


def dataset_args(p: argparse.ArgumentParser) -> None:
    """``--datasets``: the labelled benchmark sets to run (default: all of them)."""
    from scssl.io.benchmark_data import DATASETS

    p.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
