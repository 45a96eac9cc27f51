"""Benchmark: CPU training throughput (cells/s) of every model family against scvi-tools' SCVI.

Data: a synthetic 10,000-cell count matrix built in-process (``synthetic_counts``: log-normal
gene abundances, 8 cell types with their own marker programmes, log-normal library sizes,
negative binomial = gamma-Poisson counts with per-gene dispersion), preprocessed by
``scssl.pp.preprocess`` to 2,000 Seurat-v3 HVGs and log-normalized ``X``.

scssl families: ``scssl.tl.pretrain`` with the family's train defaults (batch size included),
``--epochs`` epochs, early stopping off; cells/s is the median of the trainer's per-epoch
``cells_per_s`` over epochs 2..N (epoch 1 carries warm-up costs; validation is not timed).

SCVI: ``SCVI.setup_anndata(adata, layer='counts')`` on the same 2,000 HVGs, ``SCVI(adata)``,
``.train(max_epochs=3, accelerator='cpu', devices=1, batch_size=128, early_stopping=False)``;
cells/s = 3 x n_cells / total wall time of ``.train`` (as specified; SCVI trains on its 90%
train split, so this flatters SCVI slightly), and, for a like-for-like figure, the median
per-epoch rate of epochs 2..3 over its train split (a Lightning callback times each epoch).

Usage::

    python benchmarks/throughput.py                       # all importable families + SCVI
    python benchmarks/throughput.py --families mae --out-md none
"""

from __future__ import annotations

import argparse
import inspect
import logging
import os
import sys
import time
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
from _quality_md import REPO, command_line, machine, now, replace_section, table, version
from scipy import sparse

from scssl._atomic import write_json
from scssl.models import FAMILIES

SECTION = "## Training throughput"
TARGET = 4.0  # mae must train at least this many times faster than SCVI
PACKAGES = ("scssl", "torch", "scvi-tools", "lightning", "anndata", "numpy")


def synthetic_counts(n_cells: int, n_genes: int, *, n_types: int = 8, seed: int = 0) -> ad.AnnData:
    """Realistic NB counts (CSR float32) in the scssl layout, ``obs['cell_type']``."""
    rng = np.random.default_rng(seed)
    base = rng.lognormal(-1.0, 1.8, n_genes)
    lfc = np.zeros((n_types, n_genes))
    for t in range(n_types):
        markers = rng.choice(n_genes, n_genes // 20, replace=False)
        lfc[t, markers] = rng.normal(1.5, 0.7, len(markers))
    prog = base * np.exp(lfc)
    prog /= prog.sum(1, keepdims=True)
    theta = rng.lognormal(np.log(4.0), 0.6, n_genes)  # NB shape (1 / dispersion)
    types = rng.integers(n_types, size=n_cells)
    lib = rng.lognormal(np.log(2500), 0.5, n_cells)
    blocks = []
    for s in range(0, n_cells, 2000):
        mu = lib[s : s + 2000, None] * prog[types[s : s + 2000]]
        blocks.append(
            sparse.csr_matrix(rng.poisson(rng.gamma(theta, mu / theta)), dtype=np.float32)
        )
    X = sparse.vstack(blocks).tocsr()
    obs = pd.DataFrame(
        {"cell_type": [f"type{t}" for t in types], "batch": "b0"},
        index=[f"cell{i}" for i in range(n_cells)],
    )
    adata = ad.AnnData(X=X, obs=obs, var=pd.DataFrame(index=[f"gene{j}" for j in range(n_genes)]))
    adata.layers["counts"] = adata.X
    return adata


def bench_family(adata: ad.AnnData, family: str, epochs: int) -> dict:
    from scssl.tl.pretrain import pretrain, train_config_for

    tcfg = train_config_for(
        family, {"max_epochs": epochs, "seed": 0, "device": "cpu", "patience": epochs + 1}
    )
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    _, history, _, trainer = pretrain(adata, family=family, train_config=tcfg, progress=False)
    per_epoch = [h["cells_per_s"] for h in history]
    return {
        "batch_size": tcfg.batch_size,
        "epochs": len(history),
        "n_train": len(trainer.train_idx),
        "cells_per_s_epochs": per_epoch,
        "cells_per_s": float(np.median(per_epoch[1:] or per_epoch)),
        "wall_seconds": time.perf_counter() - t0,
        "load_avg_1min_before": load,
    }


def bench_scvi(adata: ad.AnnData, threads: int, epochs: int = 3, batch_size: int = 128) -> dict:
    import lightning.pytorch as pl
    import scvi
    import torch

    class EpochTimer(pl.Callback):
        def __init__(self) -> None:
            self.secs: list[float] = []

        def on_train_epoch_start(self, trainer, pl_module) -> None:
            self.t0 = time.perf_counter()

        def on_train_epoch_end(self, trainer, pl_module) -> None:
            self.secs.append(time.perf_counter() - self.t0)

    torch.set_num_threads(threads)
    scvi.settings.seed = 0
    torch.set_num_threads(threads)  # scvi's settings may touch the thread count
    hvg = adata[:, adata.var["highly_variable"].to_numpy()].copy()
    scvi.model.SCVI.setup_anndata(hvg, layer="counts")
    model = scvi.model.SCVI(hvg)
    timer = EpochTimer()
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    model.train(
        max_epochs=epochs,
        accelerator="cpu",
        devices=1,
        batch_size=batch_size,
        early_stopping=False,
        enable_progress_bar=False,
        callbacks=[timer],
    )
    wall = time.perf_counter() - t0
    n_train = len(model.train_indices)
    per_epoch = [n_train / s for s in timer.secs]
    default_bs = inspect.signature(scvi.model.SCVI.train).parameters["batch_size"].default
    return {
        "batch_size": batch_size,
        "default_batch_size": default_bs,
        "epochs": epochs,
        "n_train": n_train,
        "wall_seconds": wall,
        "cells_per_s": epochs * hvg.n_obs / wall,
        "cells_per_s_epochs": per_epoch,
        "cells_per_s_epoch_median": float(np.median(per_epoch[1:] or per_epoch)),
        "load_avg_1min_before": load,
    }


def render(res: dict) -> str:
    fams, sc_ = res["families"], res.get("scvi")
    ref = sc_["cells_per_s"] if sc_ else None
    ref_ep = sc_["cells_per_s_epoch_median"] if sc_ else None
    rows = []
    for fam, r in fams.items():
        ratio = f"{r['cells_per_s'] / ref:.1f}×" if ref else "–"
        ratio_ep = f"{r['cells_per_s'] / ref_ep:.1f}×" if ref_ep else "–"
        eps = ", ".join(f"{v:,.0f}" for v in r["cells_per_s_epochs"])
        rows.append(
            [
                f"`{fam}` (defaults)",
                str(r["batch_size"]),
                f"{r['cells_per_s']:,.0f}",
                ratio,
                ratio_ep,
                eps,
            ]
        )
    if sc_:
        eps = ", ".join(f"{v:,.0f}" for v in sc_["cells_per_s_epochs"])
        rows.append(
            [
                "scvi-tools SCVI",
                str(sc_["batch_size"]),
                f"{sc_['cells_per_s']:,.0f}",
                "1.0×",
                f"{sc_['cells_per_s'] / ref_ep:.1f}×",
                eps,
            ]
        )
    header = ["model", "batch", "cells/s", "÷ SCVI (wall)", "÷ SCVI (epoch)", "per-epoch cells/s"]
    lines = [
        SECTION,
        "",
        f"Measured {res['date']} with `benchmarks/throughput.py`: training cells per second on "
        f"the CPU, {res['n_cells']:,} synthetic cells × {res['n_hvg']:,} HVGs (negative "
        f"binomial counts from {res['n_genes']:,} genes, 8 cell types, log-normal library "
        "sizes ~2,500 counts; preprocessed by `scssl.pp.preprocess`), "
        f"`torch.set_num_threads({res['threads']})`. scssl families: median of the trainer's "
        f"per-epoch `cells_per_s` over epochs 2..{res['epochs']} (train split, validation not "
        "timed). SCVI: `SCVI.setup_anndata(adata, layer='counts')`, `SCVI(adata)`, "
        "`.train(max_epochs=3, accelerator='cpu', devices=1, batch_size=128, "
        "early_stopping=False)` on the same HVG counts; `cells/s` = 3 × n_cells / wall time of "
        "`.train` (the target's definition); `÷ SCVI (epoch)` divides by SCVI's median "
        "per-epoch rate of epochs 2..3 on its train split instead (like for like).",
        "",
        machine(PACKAGES, res["threads"]),
        "",
        *table(header, rows, "lrrrrl"),
        "",
    ]
    if sc_:
        lines.append(
            f"SCVI's default training batch size in scvi-tools {res['versions']['scvi-tools']} "
            f"is {sc_['default_batch_size']} (used here); SCVI wall time "
            f"{sc_['wall_seconds']:.1f} s for 3 epochs, {sc_['n_train']:,} train cells/epoch."
        )
    if "mae" in fams and ref:
        ratio = fams["mae"]["cells_per_s"] / ref
        verdict = "PASS" if ratio >= TARGET else "FAIL"
        lines.append(f"Target `mae` ≥ {TARGET:.0f}× SCVI: {ratio:.1f}× — **{verdict}**.")
    for fam, why in res.get("skipped", {}).items():
        lines.append(f"\n`{fam}`: not measured, the family does not import yet ({why}).")
    loads = [r["load_avg_1min_before"] for r in [*fams.values(), *([sc_] if sc_ else [])]]
    lines += [
        "",
        f"The machine was shared while measuring (1-minute load average {min(loads):.1f}–"
        f"{max(loads):.1f} on {os.cpu_count()} cores before the runs), so absolute rates are "
        "lower than on an idle machine; the ratios compare runs made minutes apart.",
        "",
        "To reproduce:",
        "",
        "```sh",
        res["command"],
        "```",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--families", nargs="+", default=list(FAMILIES))
    p.add_argument("--n-cells", type=int, default=10_000)
    p.add_argument("--n-genes", type=int, default=5_000, help="genes before HVG selection")
    p.add_argument("--n-hvg", type=int, default=2_000)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-scvi", action="store_true")
    p.add_argument("--out-json", type=Path, default=REPO / "benchmarks/_scratch/throughput.json")
    p.add_argument("--out-md", default=str(REPO / "docs/benchmarks.md"), help="'none': skip")
    args = p.parse_args(argv)
    import torch
    from threadpoolctl import threadpool_limits

    from scssl.models import get_family
    from scssl.pp import PreprocessParams, preprocess

    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)
    logging.getLogger("scssl").setLevel(logging.WARNING)
    adata = synthetic_counts(args.n_cells, args.n_genes)
    preprocess(adata, PreprocessParams(n_top_genes=args.n_hvg, batch_key=None))
    print(f"data {adata.shape}, {int(adata.var['highly_variable'].sum())} HVGs", flush=True)
    res = {
        "date": now(),
        "command": command_line(),
        "n_cells": args.n_cells,
        "n_genes": args.n_genes,
        "n_hvg": args.n_hvg,
        "epochs": args.epochs,
        "threads": args.threads,
        "families": {},
        "skipped": {},
        "versions": {p_: version(p_) for p_ in PACKAGES},
    }
    for fam in args.families:
        try:
            get_family(fam)
        except Exception as err:  # a family being written may not import yet
            res["skipped"][fam] = f"{type(err).__name__}: {err}"
            print(f"{fam}: skipped ({res['skipped'][fam]})", flush=True)
            continue
        r = bench_family(adata, fam, args.epochs)
        res["families"][fam] = r
        print(f"{fam}: {r['cells_per_s']:,.0f} cells/s (batch {r['batch_size']})", flush=True)
    if not args.no_scvi:
        res["scvi"] = bench_scvi(adata, args.threads)
        print(
            f"SCVI: {res['scvi']['cells_per_s']:,.0f} cells/s (wall), "
            f"{res['scvi']['cells_per_s_epoch_median']:,.0f} (epoch median)",
            flush=True,
        )
    write_json(args.out_json, res)
    if args.out_md.lower() != "none":
        replace_section(Path(args.out_md), SECTION, render(res))
        print(f"section '{SECTION}' -> {args.out_md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
