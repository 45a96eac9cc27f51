"""Benchmark: out-of-core pretraining (``scssl pretrain --backed``) on an .h5ad larger than the
memory bound; peak RSS of the training process.

What it does
------------
1. Input (not timed): a synthetic *preprocessed* .h5ad written chunk by chunk with h5py (the
   generator never holds more than one chunk of cells): CSR ``X`` (log1p of counts per 10k)
   and ``layers['counts']``, cell types with their own gene frequencies, ``--n-hvg`` genes
   flagged ``highly_variable``, ``uns['log1p']``; uncompressed, so the file's size is the
   matrices' size.
2. Runs ``scssl pretrain --backed`` (family ``mae`` with its defaults, ``--max-epochs``
   epochs, CPU) as its own process under ``/usr/bin/time -v``: wall time and peak RSS.
3. Checks the peak RSS against ``--bound-gib`` (stated before the run; smaller than the file)
   and writes the section ``## Out-of-core pretraining`` of ``docs/benchmarks.md``.
4. Deletes the file (``--keep`` keeps it).

Usage::

    python benchmarks/out_of_core.py                                   # ~4 GiB file, 2 GiB bound
    python benchmarks/out_of_core.py --n-cells 20000 --no-md           # quick check
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

# sibling modules: this file's folder is sys.path[0] when it is run as a script
from _measure import run_step
from _quality_md import command_line, machine, now, replace_section, reproduce, table

REPO = Path(__file__).resolve().parents[1]
TITLE = "## Out-of-core pretraining"
PACKAGES = ("scssl", "torch", "h5py", "anndata", "numpy", "scipy")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-cells", type=int, default=250_000)
    p.add_argument("--n-genes", type=int, default=20_000)
    p.add_argument("--genes-per-cell", type=int, default=1_000, help="Mean stored values/cell.")
    p.add_argument("--n-hvg", type=int, default=2_000)
    p.add_argument("--max-epochs", type=int, default=1)
    p.add_argument("--bound-gib", type=float, default=2.0, help="Peak RSS bound (GiB).")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workdir", type=Path, default=REPO / "benchmarks" / "_scratch" / "ooc")
    p.add_argument("--out-md", type=Path, default=REPO / "docs" / "benchmarks.md")
    p.add_argument("--keep", action="store_true", help="Keep the generated file.")
    p.add_argument("--no-md", action="store_true", help="Print the section instead.")
    return p.parse_args(argv)


def _csr_group(f, name: str, shape: tuple[int, int]):
    g = f.create_group(name)
    g.attrs.update({"encoding-type": "csr_matrix", "encoding-version": "0.1.0", "shape": shape})
    for key, dtype in (("data", np.float32), ("indices", np.int32)):
        g.create_dataset(key, shape=(0,), maxshape=(None,), dtype=dtype, chunks=(2**20,))
    return g


def _append(g, data: np.ndarray, indices: np.ndarray) -> None:
    n = g["data"].shape[0]
    for key, arr in (("data", data), ("indices", indices)):
        g[key].resize((n + len(arr),))
        g[key][n:] = arr


def generate(args: argparse.Namespace, path: Path) -> dict:
    """Write the preprocessed .h5ad chunk by chunk; a description of what was written."""
    import anndata as ad
    import h5py
    import pandas as pd
    from anndata.io import write_elem

    t0 = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    n, g, n_types = args.n_cells, args.n_genes, 8
    base = rng.lognormal(0.0, 1.0, g)
    freq = base * rng.lognormal(0.0, 0.7, (n_types, g))  # each type its own gene frequencies
    freq *= args.genes_per_cell / freq.sum(1, keepdims=True)
    freq = np.minimum(freq, 0.95)
    types = rng.integers(n_types, size=n)
    hvg = np.zeros(g, bool)
    hvg[rng.choice(g, args.n_hvg, replace=False)] = True
    genes = [f"GENE{i:05d}" for i in range(g)]
    var = pd.DataFrame(
        {"gene_ids": [f"ENSG{i:011d}" for i in range(g)], "highly_variable": hvg}, index=genes
    )
    obs = pd.DataFrame(
        {"cell_type": pd.Categorical([f"type{t}" for t in types]), "batch": "b0"},
        index=[f"cell{i}" for i in range(n)],
    )
    indptr = np.zeros(n + 1, np.int64)
    tmp = path.with_name(path.name + ".tmp")
    with h5py.File(tmp, "w") as f:
        f.attrs.update({"encoding-type": "anndata", "encoding-version": "0.1.0"})
        shell = ad.AnnData(obs=obs, var=var)
        write_elem(f, "obs", shell.obs)
        write_elem(f, "var", shell.var)
        write_elem(f, "uns", {"log1p": {"base": "e"}, "scssl": {"sample": "ooc"}})
        write_elem(f, "obsm", {})
        X = _csr_group(f, "X", (n, g))
        C = _csr_group(f.create_group("layers"), "counts", (n, g))
        f["layers"].attrs.update({"encoding-type": "dict", "encoding-version": "0.1.0"})
        chunk = 2_000
        for a in range(0, n, chunk):
            b = min(a + chunk, n)
            hit = rng.random((b - a, g), dtype=np.float32) < freq[types[a:b]]
            rows, cols = np.nonzero(hit)
            counts = (1 + rng.geometric(0.5, len(rows))).astype(np.float32)
            total = np.bincount(rows, weights=counts, minlength=b - a)
            logn = np.log1p(counts / total[rows] * 1e4).astype(np.float32)
            _append(C, counts, cols.astype(np.int32))
            _append(X, logn, cols.astype(np.int32))
            indptr[a + 1 : b + 1] = indptr[a] + np.cumsum(np.bincount(rows, minlength=b - a))
        for grp in (X, C):
            grp.create_dataset("indptr", data=indptr)
    tmp.replace(path)
    return {
        "n_cells": n,
        "n_genes": g,
        "n_hvg": args.n_hvg,
        "nnz": int(indptr[-1]),
        "file_bytes": path.stat().st_size,
        "generate_s": round(time.perf_counter() - t0, 1),
    }


def _scssl() -> list[str]:
    exe = Path(sys.executable).parent / "scssl"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "scssl.cli"]


def section(args: argparse.Namespace, info: dict, res: dict, hist: list[dict]) -> str:
    gib = 1024**3
    peak = res["maxrss_kib"] * 1024 / gib
    ok = peak <= args.bound_gib
    cps = [h["cells_per_s"] for h in hist]
    train_s = sum(h["seconds"] for h in hist)
    lines = [
        TITLE,
        "",
        f"Measured {now()} with `benchmarks/out_of_core.py`: `scssl pretrain --backed` (family "
        f"`mae`, its train defaults, `--max-epochs {args.max_epochs}`, CPU) on a synthetic "
        "preprocessed .h5ad written chunk by chunk (uncompressed CSR `X` and "
        "`layers['counts']`). `--backed` reads row blocks of the CSR with h5py (about 32 M "
        "stored values each), keeps the HVG columns, and holds at most two blocks per matrix; "
        "epochs visit the blocks in a seeded random order, the cells of a block shuffled. Peak "
        f"RSS of the training process from {res['how']}; the bound was stated before the run. "
        f"Threads: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS') or 'unset'}.",
        "",
        machine(PACKAGES),
        "",
    ]
    rows = [
        ["file on disk", f"{info['file_bytes'] / gib:.2f} GiB"],
        [
            "cells × genes (HVGs trained on)",
            f"{info['n_cells']:,} × {info['n_genes']:,} ({info['n_hvg']:,})",
        ],
        ["stored values per matrix", f"{info['nnz']:,}"],
        ["peak RSS bound", f"{args.bound_gib:.1f} GiB"],
        ["**peak RSS**", f"**{peak:.2f} GiB** — {'PASS' if ok else 'FAIL'}"],
        ["wall time of `scssl pretrain --backed`", f"{res['wall_s']:.1f} s"],
        ["of which training epochs (incl. block reads)", f"{train_s:.1f} s"],
        ["training cells/s (per epoch)", ", ".join(f"{c:,.0f}" for c in cps)],
    ]
    lines += [*table(["", "value"], rows, "lr"), ""]
    lines.append(
        "Besides the training epochs, the process reads the file once for the cells' total "
        "counts (library sizes), once to hash the HVG matrix for the checkpoint, and once per "
        "epoch for the validation cells."
    )
    lines += ["", *reproduce(command_line())]
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    path = args.workdir / f"ooc_{args.n_cells}x{args.n_genes}_s{args.seed}.h5ad"
    info = generate(args, path)
    print(f"wrote {path} ({info['file_bytes'] / 1024**3:.2f} GiB) in {info['generate_s']} s")
    ckpt = args.workdir / "ckpt"
    shutil.rmtree(ckpt, ignore_errors=True)
    cmd = [*_scssl(), "pretrain", "--input", str(path), "--output", str(ckpt), "--backed"]
    cmd += ["--max-epochs", str(args.max_epochs), "--device", "cpu", "--seed", str(args.seed)]
    try:
        res = run_step("pretrain_backed", cmd, args.workdir)
    finally:
        if not args.keep:
            path.unlink(missing_ok=True)
    if res["rc"] != 0:
        raise SystemExit(f"scssl pretrain --backed failed:\n{res.get('error', '')}")
    import pandas as pd

    hist = pd.read_csv(ckpt / "history.tsv", sep="\t").to_dict("records")
    md = section(args, info, res, hist)
    print(md)
    if not args.no_md:
        replace_section(args.out_md, TITLE, md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
