"""Benchmark: ``scssl run`` (ingest → report) at growing cell numbers; time and peak RSS per step.

What it does
------------
1. Input (not timed): for each size, ``scssl.sim.simulate`` writes ``--samples`` Cell
   Ranger v3 ``outs/`` folders (``filtered_feature_bc_matrix`` with gzipped MatrixMarket,
   RNA + antibody capture, low-quality cells and doublets) holding size / samples cells each,
   and a samplesheet; the marker table it writes is the run's ``markers`` param.
2. Runs ``scssl run`` on it as its own process under ``/usr/bin/time -v`` (total wall time,
   peak RSS of the whole run), with the pipeline's default params (Scrublet doublets, 2,000
   HVGs, ``mae`` with its train defaults, Leiden + UMAP, Wilcoxon markers, marker-based
   annotation, per-sample reports, MultiQC) plus ``device: cpu``. Per step, the run's own
   ``pipeline_info/scssl_run_trace.tsv`` gives the wall time and the peak RSS while the step
   ran (the kernel's high-water mark, reset before each step).
3. Fits the exponent ``b`` of ``time = a · cells^b`` (least squares on log-log) for the total
   and for each step, and checks the targets: exponent ≤ 1.15 from 10k to 500k cells, peak
   RSS at 500k cells ≤ 12 GB. Results are kept per size in ``<workdir>/result_<n>.json``, so
   sizes can be run separately (``--sizes 500000``) and the table shows every measured size.
4. Writes the section ``## Pipeline scaling`` of ``docs/benchmarks.md``.

Usage::

    python benchmarks/pipeline_scaling.py --sizes 10000 100000 500000
    python benchmarks/pipeline_scaling.py --sizes 2000 4000 --no-md      # quick check
    python benchmarks/pipeline_scaling.py --render                      # table from results
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import shutil
import sys
import time
from pathlib import Path

# sibling modules: this file's folder is sys.path[0] when it is run as a script
from _measure import run_step
from _quality_md import machine, now, replace_section, reproduce, table

REPO = Path(__file__).resolve().parents[1]
TITLE = "## Pipeline scaling"
MAX_EXPONENT = 1.15
MAX_RSS_GB = 12.0
RSS_AT = 500_000
PACKAGES = ("scssl", "torch", "anndata", "scanpy", "numpy", "scipy")
# per-sample steps are summed over the samples (peak: the largest)
PER_SAMPLE = ("ingest", "qc")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 500_000])
    p.add_argument("--samples", type=int, default=4, help="Samples per run (cells split evenly).")
    p.add_argument("--n-genes", type=int, default=10_000)
    p.add_argument("--n-proteins", type=int, default=12)
    p.add_argument("--mean-counts", type=float, default=2000.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="Extra run param (YAML value), e.g. --param doublet_method=none; repeatable.",
    )
    p.add_argument("--workdir", type=Path, default=REPO / "benchmarks" / "_scratch" / "scaling")
    p.add_argument("--out-md", type=Path, default=REPO / "docs" / "benchmarks.md")
    p.add_argument("--keep", action="store_true", help="Keep inputs and outputs of each size.")
    p.add_argument("--no-md", action="store_true", help="Print the section instead.")
    p.add_argument("--render", action="store_true", help="Only re-render from saved results.")
    p.add_argument(
        "--note",
        default=None,
        help="A finding to print under the tables (kept in <workdir>/note.md for re-renders).",
    )
    return p.parse_args(argv)


def _scssl() -> list[str]:
    exe = Path(sys.executable).parent / "scssl"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "scssl.cli"]


def _params(args: argparse.Namespace, markers: Path) -> dict:
    import yaml

    params = {"device": "cpu", "seed": args.seed, "markers": str(markers)}
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--param {item!r}: expected KEY=VALUE")
        params[key.strip()] = yaml.safe_load(value)
    return params


def make_input(args: argparse.Namespace, n: int, where: Path) -> tuple[Path, float]:
    """Simulated Cell Ranger folders for ``n`` cells; the samplesheet and seconds taken."""
    from scssl.sim import simulate

    sheet = where / "samplesheet.csv"
    if sheet.exists():
        return sheet, 0.0
    t0 = time.perf_counter()
    per = math.ceil(n / args.samples)
    simulate(
        where,
        n_samples=args.samples,
        n_cells=per,
        n_genes=args.n_genes,
        n_proteins=args.n_proteins,
        mean_counts=args.mean_counts,
        seed=args.seed,
    )
    return sheet, time.perf_counter() - t0


def read_trace(path: Path) -> list[dict]:
    """The rows of ``scssl_run_trace.tsv``, per-sample steps folded into one row each."""
    lines = path.read_text().splitlines()
    head = lines[0].split("\t")
    rows = [dict(zip(head, ln.split("\t"), strict=True)) for ln in lines[1:]]
    out: dict[str, dict] = {}
    for r in rows:
        name = r["step"].split(" ", 1)[0] if r["step"].startswith(PER_SAMPLE) else r["step"]
        cur = out.setdefault(name, {"step": name, "wall_s": 0.0, "peak_mib": 0.0, "n": 0})
        cur["wall_s"] += float(r["wall_s"])
        cur["peak_mib"] = max(cur["peak_mib"], float(r["peak_rss_mib"]))
        cur["n"] += 1
    return list(out.values())


def run_size(args: argparse.Namespace, n: int) -> dict:
    """Input, ``scssl run`` under /usr/bin/time -v, and its per-step trace for ``n`` cells."""
    import yaml

    base = args.workdir / f"n{n}"
    sheet, gen_s = make_input(args, n, base / "input")
    params = _params(args, base / "input" / "markers.csv")
    pfile = base / "params.yaml"
    pfile.write_text(yaml.safe_dump(params, sort_keys=True))
    outdir = base / "results"
    shutil.rmtree(outdir, ignore_errors=True)
    cmd = [*_scssl(), "run", "--samplesheet", str(sheet), "--outdir", str(outdir)]
    cmd += ["--params-file", str(pfile)]
    res = run_step(f"run_{n}", cmd, base)
    if res["rc"] != 0:
        raise SystemExit(f"scssl run failed for {n} cells:\n{res.get('error', '')}")
    import anndata as ad

    cells = ad.read_h5ad(outdir / "preprocess" / "preprocessed.h5ad", backed="r").n_obs
    result = {
        "n_target": n,
        "n_samples": args.samples,
        "n_cells_input": math.ceil(n / args.samples) * args.samples,
        "n_cells_after_qc": int(cells),
        "n_genes": args.n_genes,
        "n_proteins": args.n_proteins,
        "mean_counts": args.mean_counts,
        "params": params,
        "generate_s": round(gen_s, 1),
        "wall_s": res["wall_s"],
        "user_s": res.get("user_s"),
        "sys_s": res.get("sys_s"),
        "maxrss_kib": res.get("maxrss_kib") or res["sampled_hwm_kib"],
        "sampled_peak_kib": res["sampled_peak_kib"],
        "how": res["how"],
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "steps": read_trace(outdir / "pipeline_info" / "scssl_run_trace.tsv"),
        "when": now(),
        "machine": machine(PACKAGES),
        "command": shlex.join(cmd),
    }
    (base / f"result_{n}.json").write_text(json.dumps(result, indent=1))
    (args.workdir / f"result_{n}.json").write_text(json.dumps(result, indent=1))
    if not args.keep:
        shutil.rmtree(outdir, ignore_errors=True)
    return result


def peak_kib(r: dict) -> float:
    """Peak RSS of a run: the largest of the per-step peaks, /proc samples and /usr/bin/time.

    The trace resets the kernel's high-water mark before each step, which also resets what
    ``/usr/bin/time`` reports (the peak since the last reset), so the steps' peaks count.
    """
    steps = max((s["peak_mib"] * 1024 for s in r["steps"]), default=0.0)
    return max(r["maxrss_kib"], r.get("sampled_peak_kib", 0), steps)


def fit_exponent(xs: list[float], ys: list[float]) -> float | None:
    """Least-squares slope of log(y) on log(x); None with fewer than two sizes."""
    if len(xs) < 2:
        return None
    lx, ly = [math.log(x) for x in xs], [math.log(max(y, 1e-3)) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    sxx = sum((a - mx) ** 2 for a in lx)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly, strict=True)) / sxx


def _t(s: float) -> str:
    if s < 60:
        return f"{s:.1f} s"
    if s < 3600:
        return f"{int(s // 60)}:{s % 60:04.1f}"
    return f"{int(s // 3600)}:{int(s % 3600 // 60):02d}:{s % 60:02.0f}"


def _gb(kib: float) -> str:
    return f"{kib / 1024**2:.2f} GiB"


def bottlenecks(results: list[dict]) -> str:
    """Which step takes the most time and memory at the largest size, and grows fastest."""
    big = results[-1]
    steps = big["steps"]
    total = sum(s["wall_s"] for s in steps) or 1.0
    slow = max(steps, key=lambda s: s["wall_s"])
    heavy = max(steps, key=lambda s: s["peak_mib"])
    out = (
        f"At {big['n_target']:,} cells the longest step is `{slow['step']}` "
        f"({slow['wall_s'] / total:.0%} of the steps' time) and the largest peak RSS is "
        f"`{heavy['step']}`'s ({heavy['peak_mib'] / 1024:.2f} GiB)"
    )
    xs = [r["n_target"] for r in results]
    growth = []
    for s in steps:
        ys = [
            next((t["wall_s"] for t in r["steps"] if t["step"] == s["step"]), None) for r in results
        ]
        if None not in ys and s["wall_s"] > 0.05 * total:
            growth.append((fit_exponent(xs, ys), s["step"]))
    if len(xs) > 1 and growth:
        b, name = max(growth)
        out += f"; of the steps over 5 % of the time, `{name}` grows fastest (exponent {b:.2f})"
    return out + "."


def section(results: list[dict], command: str, note: str | None = None) -> str:
    """The markdown section for the measured sizes."""
    results = sorted(results, key=lambda r: r["n_target"])
    xs = [r["n_target"] for r in results]
    lines = [TITLE, ""]
    r0 = results[-1]
    lines += [
        f"Measured {', '.join(r['when'] for r in results)} with `benchmarks/pipeline_scaling.py`:"
        f" `scssl run` (ingest → QC → merge → preprocess → pretrain → embed → cluster → "
        f"annotate → evaluate → report → summary → MultiQC, one process, as the pipeline's "
        f"chain) on simulated Cell Ranger v3 folders (`scssl.sim.simulate`: {r0['n_samples']} "
        f"samples, {r0['n_genes']:,} genes + {r0['n_proteins']} antibodies, mean "
        f"{r0['mean_counts']:,.0f} counts per cell, 5 % low-quality cells, 6 % doublets), "
        "with the pipeline's "
        "default params plus `device: cpu` and the simulated marker table. Total wall time and "
        f"CPU time of the whole process from {r0['how']}; per step from the run's "
        "`pipeline_info/scssl_run_trace.tsv` (wall time; peak RSS while the step ran, the "
        "kernel's high-water mark reset before each step); the run's peak RSS is the largest "
        "step's (the reset also resets the peak that /usr/bin/time reports). Input "
        "generation is not timed. "
        f"Threads: OMP_NUM_THREADS={r0.get('omp_num_threads') or 'unset'} (torch, BLAS).",
        "",
        r0["machine"],
        "",
    ]
    head = ["cells (input)", "after QC", "total wall", "CPU (user + sys)", "peak RSS"]
    rows = []
    for r in results:
        cpu = (r.get("user_s") or 0) + (r.get("sys_s") or 0)
        rows.append(
            [
                f"{r['n_cells_input']:,}",
                f"{r['n_cells_after_qc']:,}",
                _t(r["wall_s"]),
                _t(cpu),
                _gb(peak_kib(r)),
            ]
        )
    lines += [*table(head, rows), ""]
    steps = [s["step"] for s in results[-1]["steps"]]
    head = ["step", *[f"{x:,}: time" for x in xs], *[f"{x:,}: peak RSS" for x in xs]]
    head.append("time exponent")
    rows = []
    for name in steps:
        by = [next((s for s in r["steps"] if s["step"] == name), None) for r in results]
        ok = [(x, s) for x, s in zip(xs, by, strict=True) if s is not None]
        b = fit_exponent([x for x, _ in ok], [s["wall_s"] for _, s in ok])
        rows.append(
            [
                f"`{name}`" + (f" (×{by[-1]['n']})" if by[-1] and by[-1]["n"] > 1 else ""),
                *[_t(s["wall_s"]) if s else "–" for s in by],
                *[f"{s['peak_mib'] / 1024:.2f} GiB" if s else "–" for s in by],
                "–" if b is None else f"{b:.2f}",
            ]
        )
    lines += [*table(head, rows), ""]
    b = fit_exponent(xs, [r["wall_s"] for r in results])
    span = f"{min(xs):,} to {max(xs):,} cells"
    full = min(xs) <= 10_000 and max(xs) >= RSS_AT
    if b is None:
        verdict = "not measured (one size only)"
    else:
        ok = b <= MAX_EXPONENT
        verdict = (
            f"**{'PASS' if ok else 'FAIL'}**"
            if full
            else "not decided (10,000 to 500,000 not both measured)"
        )
    lines.append(
        f"Fitted exponent of total wall time vs cells ({span}): "
        f"{'–' if b is None else f'{b:.2f}'} (target ≤ {MAX_EXPONENT} from 10,000 to "
        f"500,000 cells) — {verdict}."
    )
    at = next((r for r in results if r["n_target"] == RSS_AT), None)
    if at is not None:
        gb = peak_kib(at) * 1024 / 1e9
        verdict = "**PASS**" if gb <= MAX_RSS_GB else "**FAIL**"
        lines.append(f"Peak RSS at {RSS_AT:,} cells: {gb:.1f} GB (target ≤ 12 GB) — {verdict}.")
    elif len(results) >= 2:
        (n1, r1), (n2, r2) = [(r["n_target"], peak_kib(r) * 1024 / 1e9) for r in results[-2:]]
        est = r2 + (r2 - r1) / (n2 - n1) * (RSS_AT - n2)
        lines.append(
            f"Peak RSS at {RSS_AT:,} cells: not measured yet (target ≤ 12 GB); a straight line "
            f"through {n1:,} and {n2:,} cells gives {est:.1f} GB."
        )
    else:
        lines.append(f"Peak RSS at {RSS_AT:,} cells: not measured yet (target ≤ 12 GB).")
    if len(xs) > 1 and max(xs) < RSS_AT and b is not None:
        est = results[-1]["wall_s"] * (RSS_AT / max(xs)) ** b
        lines.append(f"At the fitted exponent, {RSS_AT:,} cells would take about {_t(est)}.")
    lines += ["", bottlenecks(results)]
    if note:
        lines += ["", note.strip()]
    lines += ["", *reproduce(command)]
    return "\n".join(lines)


def load_results(workdir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(workdir.glob("result_*.json"))]


def main(argv=None) -> int:
    args = parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    if not args.render:
        for n in sorted(args.sizes):
            r = run_size(args, n)
            print(f"{n:,} cells: {_t(r['wall_s'])}, peak RSS {_gb(peak_kib(r))}", flush=True)
            if not args.keep:
                shutil.rmtree(args.workdir / f"n{n}" / "input", ignore_errors=True)
    results = load_results(args.workdir)
    if not results:
        raise SystemExit(f"no results in {args.workdir}; run some --sizes first.")
    sizes = " ".join(str(r["n_target"]) for r in sorted(results, key=lambda r: r["n_target"]))
    extra = "".join(f" --param {shlex.quote(p)}" for p in args.param)
    note_file = args.workdir / "note.md"
    if args.note is not None:
        note_file.write_text(args.note)
    note = note_file.read_text() if note_file.exists() else None
    threads = {r.get("omp_num_threads") for r in results} - {None}
    env = f"OMP_NUM_THREADS={threads.pop()} " if len(threads) == 1 else ""
    cmd = f"{env}python benchmarks/pipeline_scaling.py --sizes {sizes}{extra}"
    md = section(results, cmd, note)
    print(md)
    if not args.no_md:
        replace_section(args.out_md, TITLE, md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
