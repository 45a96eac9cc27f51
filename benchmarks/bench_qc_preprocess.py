"""Benchmark: ``scssl qc`` then ``scssl preprocess`` on a large synthetic sparse matrix.

Acceptance point: QC + normalize + HVG on a 200,000-cell x 30,000-gene synthetic matrix
(about 2,000 counts per cell) finish on a 2-core machine with each step's peak RSS under
2.5x the CSR matrix's size (counts plus normalized values).

What it does
------------
1. Generates the counts in a separate process (so generation memory is not counted), chunk by
   chunk of cells, never holding a dense matrix (``_synthetic.py``): log-normal gene
   abundances, cell types x batches x a "cycling" state with their own programmes, log-normal
   library sizes, 13 ``MT-`` genes, ~80 ``RPS``/``RPL`` genes, ~5% low-quality cells (few
   counts, high % mito). Counts are multinomial draws (Walker alias tables, one per programme),
   counted per cell by sorting. The AnnData is in the scssl layout (``X`` is
   ``layers['counts']``) and written uncompressed with :func:`scssl.io.write_h5ad`. A matching
   earlier input in ``--workdir`` is reused.
2. Runs each step as its own process through the real CLI, exactly as the pipeline does, under
   ``/usr/bin/time -v`` (peak RSS, wall, CPU times); without it, through a small wrapper that
   reads ``getrusage(RUSAGE_CHILDREN)`` (``_measure.py``). While a step runs, its RSS is
   sampled from ``/proc`` every 0.1 s and its log lines ('X ...' / 'X finished (N.Ns)') are
   time-stamped on arrival, so the peak RSS of each in-process stage (read, qc_metrics, HVG,
   normalize, PCA, write) is known too.
3. Compares each step's peak RSS with the CSR size of counts + normalized values (normalized
   values share indices/indptr with counts, so one more float32 value array), and also with
   the counts-only CSR, saves everything to ``result_<tag>.json`` in ``--workdir`` and writes
   the section ``## QC + normalize + HVG at 200k cells`` of ``docs/benchmarks.md``
   (``_report.py``).

Usage::

    python benchmarks/bench_qc_preprocess.py                       # full 200k x 30k run
    python benchmarks/bench_qc_preprocess.py --n-cells 20000 --n-genes 5000   # quick check
    python benchmarks/bench_qc_preprocess.py --from-json benchmarks/_scratch/result_<tag>.json
                                          # re-render the markdown from a saved result only
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

# sibling modules: this file's folder is sys.path[0] when it is run as a script
from _measure import h5_nnz, run_step
from _report import LIMIT, gb, machine, now, peak_bytes, ref_sizes, render, update_md
from _synthetic import gen_params, generate

REPO = Path(__file__).resolve().parents[1]


def _scssl_cmd() -> list[str]:
    exe = Path(sys.executable).parent / "scssl"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("scssl")
    return [found] if found else [sys.executable, "-m", "scssl.cli"]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-cells", type=int, default=200_000)
    p.add_argument("--n-genes", type=int, default=30_000)
    p.add_argument("--counts-per-cell", type=int, default=2_000)
    p.add_argument("--workdir", type=Path, default=REPO / "benchmarks" / "_scratch")
    p.add_argument("--doublets", choices=["none", "scrublet"], default="none")
    p.add_argument("--out-md", type=Path, default=REPO / "docs" / "benchmarks.md")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--regenerate", action="store_true", help="Regenerate the input even if it exists."
    )
    p.add_argument("--no-md", action="store_true", help="Do not write the markdown section.")
    p.add_argument(
        "--from-json",
        type=Path,
        metavar="PATH",
        help="Only re-render the markdown section from a saved result_<tag>.json: nothing is "
        "generated or run, options other than --out-md are ignored, and with --no-md the "
        "section is printed instead of written.",
    )
    p.add_argument("--generate-only", action="store_true", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def _repro(args: argparse.Namespace) -> str:
    """The command line that reruns this benchmark (options that differ from the defaults)."""
    repro_args = ["python", "benchmarks/bench_qc_preprocess.py"]
    defaults = parse_args([])
    for opt in ("n_cells", "n_genes", "counts_per_cell", "doublets", "seed"):
        if getattr(args, opt) != getattr(defaults, opt):
            repro_args += [f"--{opt.replace('_', '-')}", str(getattr(args, opt))]
    return shlex.join(repro_args)


def _section(result: dict, repro: str) -> str:
    run = result["run"]
    section = render(
        result["meta"],
        result["steps"],
        run["machine"],
        repro,
        doublets=run["doublets"],
        measured=run["measured"],
    )
    section = section.replace(str(run["workdir"]) + "/", "benchmarks/_scratch/")
    return section.replace(str(Path(sys.executable).parent) + "/", "")


def _option(cmd: list[str], flag: str) -> str | None:
    return cmd[cmd.index(flag) + 1] if flag in cmd[:-1] else None


def rerender(args: argparse.Namespace) -> int:
    """Write the markdown section from a saved result, without running anything."""
    path = args.from_json
    result = json.loads(path.read_text())
    meta, steps = result["meta"], result["steps"]
    run = result.setdefault("run", {})
    # results saved before the "run" record: fill it in from what the file does hold
    if "measured" not in run:
        stamp = _dt.datetime.fromtimestamp(path.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
        run["measured"] = stamp
        print(f"note: {path} has no measurement time; using its mtime ({stamp})")
    if "machine" not in run:
        run["machine"] = machine()
        print(f"note: {path} has no machine description; describing this machine")
    if "doublets" not in run:
        qc = next((s for s in steps if s["name"] == "qc"), None)
        run["doublets"] = (qc and _option(qc["cmd"], "--doublet-method")) or "none"
    if "workdir" not in run:
        run["workdir"] = str(Path(steps[0]["log"]).parent if steps else path.resolve().parent)
    params = argparse.Namespace(**{**meta["params"], "doublets": run["doublets"]})
    section = _section(result, _repro(params))
    if args.no_md:
        print(section)
    else:
        update_md(args.out_md, section)
        print(f"wrote {args.out_md}")
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.from_json is not None:
        return rerender(args)
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    tag = f"{args.n_cells}x{args.n_genes}_c{args.counts_per_cell}_s{args.seed}"
    in_path, meta_path = workdir / f"in_{tag}.h5ad", workdir / f"in_{tag}.json"
    if args.generate_only:
        generate(args, in_path, meta_path)
        return 0

    meta = json.loads(meta_path.read_text()) if meta_path.exists() else None
    if (
        args.regenerate
        or meta is None
        or meta.get("params") != gen_params(args)
        or not (in_path.exists())
    ):
        print(f"generating {args.n_cells} x {args.n_genes} in a separate process ...", flush=True)
        gen = [sys.executable, str(Path(__file__).resolve()), "--generate-only"]
        gen += ["--n-cells", str(args.n_cells), "--n-genes", str(args.n_genes)]
        gen += ["--counts-per-cell", str(args.counts_per_cell), "--seed", str(args.seed)]
        gen += ["--workdir", str(workdir)]
        subprocess.run(gen, check=True)
        meta = json.loads(meta_path.read_text())
    else:
        print(f"reusing {in_path}", flush=True)

    qc_out, pre_out = workdir / "qc.h5ad", workdir / "pre.h5ad"
    for p in (qc_out, pre_out):
        p.unlink(missing_ok=True)
    scssl = _scssl_cmd()
    qc_cmd = [
        *scssl, "qc", "--input", str(in_path), "--output", str(qc_out),
        "--report-dir", str(workdir / "qc_report"), "--doublet-method", args.doublets,
        "--min-genes", "200", "--seed", str(args.seed),
    ]  # fmt: skip
    pre_cmd = [
        *scssl, "preprocess", "--input", str(qc_out), "--output", str(pre_out),
        "--n-top-genes", "2000", "--batch-key", "batch", "--seed", str(args.seed),
    ]  # fmt: skip
    steps = [run_step("qc", qc_cmd, workdir)]
    if steps[0]["rc"] == 0:
        nnz_qc = h5_nnz(qc_out)
        steps.append(run_step("preprocess", pre_cmd, workdir))
        steps[-1]["input_nnz"] = nnz_qc

    counts_b, ref_b = ref_sizes(meta)
    print(f"\ncounts CSR {gb(counts_b)}; counts + normalized {gb(ref_b)}")
    ok = True
    for s in steps:
        rss = peak_bytes(s)
        passed = s["rc"] == 0 and rss < LIMIT * ref_b
        ok &= passed
        print(
            f"{s['name']:>10}: rc {s['rc']}, wall {s['wall_s']:.1f}s, peak RSS {gb(rss)} "
            f"(sampled {gb(s['sampled_peak_kib'] * 1024)}), {rss / ref_b:.2f}x -> "
            f"{'PASS' if passed else 'FAIL'}"
        )
        for st in s["stages"]:
            t = st["logged_s"] if st["logged_s"] is not None else st["wall_s"]
            print(
                f"{'':12}{'  ' * st['depth']}{st['stage']}: {t:.1f}s, "
                f"peak {gb(st['peak_kib'] * 1024)}"
            )
    ok &= len(steps) == 2
    run = {"measured": now(), "machine": machine(), "doublets": args.doublets}
    run["workdir"] = str(workdir)
    result = {"meta": meta, "steps": steps, "run": run}
    (workdir / f"result_{tag}.json").write_text(json.dumps(result, indent=2, default=str))

    if not args.no_md:
        update_md(args.out_md, _section(result, _repro(args)))
        print(f"wrote {args.out_md}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
