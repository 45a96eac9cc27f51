"""Benchmark: CPU training throughput (cells/s) of every model family against scvi-tools' SCVI.

Data: a synthetic 10,000-cell count matrix built in-process (``synthetic_counts``: log-normal
gene abundances, 8 cell types with their own marker programmes, log-normal library sizes,
negative binomial = gamma-Poisson counts with per-gene dispersion), reduced to 2,000 Seurat-v3
HVGs (``scssl.pp.highly_variable_genes``) and log-normalized (``scssl.pp.normalize_log1p``):
the steps of ``scssl.pp.preprocess`` that training uses, without its PCA, which no model
reads (results saved before this change record ``prep`` as the whole ``preprocess``).

scssl families: ``scssl.tl.pretrain`` with the family's train defaults (batch size included),
``--epochs`` epochs, early stopping off; cells/s is the median of the trainer's per-epoch
``cells_per_s`` over epochs 2..N (epoch 1 carries warm-up costs; validation is not timed).

SCVI: ``SCVI.setup_anndata(adata, layer='counts')`` on the same 2,000 HVGs, ``SCVI(adata)``,
``.train(max_epochs=3, accelerator='cpu', devices=1, batch_size=128, early_stopping=False)``;
cells/s = 3 x n_cells / total wall time of ``.train`` (as specified; SCVI trains on its 90%
train split, so this flatters SCVI slightly), and, for a like-for-like figure, the median
per-epoch rate of epochs 2..3 over its train split (a Lightning callback times each epoch).

Everything runs ``--repeats`` times in alternating rounds (each model once per round), so load
from other processes on a shared machine hits every model alike; the section reports the
median round, the best round and the ratios of both.

Usage::

    python benchmarks/throughput.py                       # all importable families + SCVI
    python benchmarks/throughput.py --families mae --out-md none
"""

from __future__ import annotations

import argparse
import inspect
import json
import logging
import os
import resource
import sys
import time
from pathlib import Path

import anndata as ad
import numpy as np
from _quality_md import (
    REPO,
    after_warmup,
    command_line,
    machine,
    now,
    ratio,
    replace_section,
    reproduce,
    table,
    version,
)
from _quality_synth import synthetic_counts

from scssl._atomic import write_json
from scssl.models import FAMILIES

SECTION = "## Training throughput"
PREP = {  # how the counts became training input (the PCA of `preprocess` is read by no model)
    "preprocess": "`scssl.pp.preprocess` (HVGs, log-normalization, PCA)",
    "hvg+normalize": "`scssl.pp.highly_variable_genes` + `normalize_log1p` (no PCA: a first "
    "1M-cell attempt through the whole `preprocess` passed 22 GB and was stopped)",
}
TARGET = 4.0  # mae must train at least this many times faster than SCVI
PACKAGES = ("scssl", "torch", "scvi-tools", "lightning", "anndata", "numpy")


def bench_family(adata: ad.AnnData, family: str, epochs: int) -> dict:
    from scssl.tl.pretrain import pretrain, train_config_for

    tcfg = train_config_for(
        family, {"max_epochs": epochs, "seed": 0, "device": "cpu", "patience": epochs + 1}
    )
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    module, history, _, trainer = pretrain(adata, family=family, train_config=tcfg, progress=False)
    per_epoch = [h["cells_per_s"] for h in history]
    data_frac = [h["data_fraction"] for h in history]
    return {
        "batch_size": tcfg.batch_size,
        "epochs": len(history),
        "n_train": len(trainer.train_idx),
        "n_params": sum(p.numel() for p in module.parameters()),
        "cells_per_s_epochs": per_epoch,
        "cells_per_s": after_warmup(per_epoch),
        "data_fraction": after_warmup(data_frac),
        "wall_seconds": time.perf_counter() - t0,
        "load_avg_1min_before": load,
    }


def scvi_setup(adata: ad.AnnData) -> ad.AnnData:
    """The HVG counts (``adata`` holds only the HVGs) registered with SCVI, once for every round."""
    import scvi

    scvi.model.SCVI.setup_anndata(adata, layer="counts")
    return adata


def hvg_only(adata: ad.AnnData) -> ad.AnnData:
    """``adata`` restricted to its HVGs (itself when every gene is one)."""
    mask = adata.var["highly_variable"].to_numpy()
    if mask.all():
        return adata
    return adata[:, mask].copy()


def bench_scvi(
    hvg: ad.AnnData,
    threads: int,
    epochs: int = 3,
    batch_size: int = 128,
    accelerator: str = "cpu",
) -> dict:
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

    scvi.settings.seed = 0
    torch.set_num_threads(threads)  # after scvi's settings, which may touch the thread count
    model = scvi.model.SCVI(hvg)
    timer = EpochTimer()
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    model.train(
        max_epochs=epochs,
        accelerator=accelerator,
        devices=1,
        batch_size=batch_size,
        early_stopping=False,
        enable_progress_bar=False,
        callbacks=[timer],
    )
    wall = time.perf_counter() - t0
    n_train = len(model.train_indices)
    per_epoch = [n_train / s for s in timer.secs]
    return {
        "batch_size": batch_size,
        "epochs": epochs,
        "n_train": n_train,
        "n_params": sum(p.numel() for p in model.module.parameters()),
        "wall_seconds": wall,
        "cells_per_s": epochs * hvg.n_obs / wall,
        "cells_per_s_epochs": per_epoch,
        "load_avg_1min_before": load,
    }


def summarise(rounds: list[dict]) -> dict:
    """Median over rounds of each round's rate, the best round, and timed epochs 2..N."""
    epochs = [v for r in rounds for v in (r["cells_per_s_epochs"][1:] or r["cells_per_s_epochs"])]
    rates = [r["cells_per_s"] for r in rounds]
    return {
        "batch_size": rounds[0]["batch_size"],
        "n_params": rounds[0].get("n_params"),
        "rounds": rounds,
        "cells_per_s": float(np.median(rates)),
        "cells_per_s_best": float(max(rates)),
        "epoch_median": float(np.median(epochs)),
        "epoch_best": float(max(epochs)),
        "loads": [r["load_avg_1min_before"] for r in rounds],
        "data_fraction": (
            float(np.median([r["data_fraction"] for r in rounds]))
            if all("data_fraction" in r for r in rounds)
            else None
        ),
    }


def load_results(path: Path) -> dict[int, dict]:
    """Saved results by number of cells (a file from before sizes were kept: one result)."""
    if not path.is_file():
        return {}
    saved = json.loads(path.read_text())
    if "n_cells" in saved:
        return {int(saved["n_cells"]): saved}
    return {int(k): v for k, v in saved.items()}


def render(results: dict[int, dict]) -> str:
    """The section: the method once, then one table per measured number of cells."""
    sizes = sorted(results)
    res = results[sizes[0]]
    lines = [
        SECTION,
        "",
        f"Measured with `benchmarks/throughput.py`: training cells per second on "
        f"the CPU, synthetic cells × {res['n_hvg']:,} HVGs (negative "
        "binomial counts, 8 cell types, log-normal library sizes ~2,500 counts; Seurat-v3 "
        "HVGs and log-normalization by `scssl.pp`), alternating rounds (each "
        "model once per round, so load from other processes hits all of them alike). scssl "
        "families (`scssl.tl.pretrain`, family train defaults): per round the median of the "
        "trainer's per-epoch `cells_per_s` over epochs 2..N (train split; "
        "validation not timed). SCVI: `SCVI.setup_anndata(adata, layer='counts')`, "
        "`SCVI(adata)`, `.train(max_epochs=3, accelerator='cpu', devices=1, batch_size=128, "
        "early_stopping=False)` on the same HVG counts; per round 3 × n_cells / wall time of "
        "`.train` (the target's definition). `cells/s (median)` is the median over rounds, "
        "`best round` the fastest; `÷ SCVI (per epoch)` compares median per-epoch rates "
        "instead (SCVI's from a Lightning callback, on its 90% train split: like for like). "
        "`data wait`: the share of training time spent slicing minibatches out of the CSR "
        "matrices (the trainer's `data_fraction`; – where measured before it was recorded).",
        "",
    ]
    for n in sizes:
        lines += [f"### {n:,} cells", "", *_size_lines(results[n]), ""]
    return "\n".join(lines).rstrip() + "\n"


def _size_lines(res: dict) -> list[str]:
    order = {f: i for i, f in enumerate(FAMILIES)}
    fams = dict(sorted(res["families"].items(), key=lambda kv: order.get(kv[0], len(order))))
    sc_ = res.get("scvi")
    ref = sc_ or {}
    rows = []
    for name, r in [
        *((f"`{f}` (defaults)", r) for f, r in fams.items()),
        *([("scvi-tools SCVI", sc_)] if sc_ else []),
    ]:
        per_round = ", ".join(f"{x['cells_per_s']:,.0f}" for x in r["rounds"])
        rows.append(
            [
                name,
                str(r["batch_size"]),
                f"{r['n_params'] / 1e6:.2f} M" if r.get("n_params") else "–",
                f"{r['cells_per_s']:,.0f}",
                ratio(r["cells_per_s"], ref.get("cells_per_s")),
                f"{r['cells_per_s_best']:,.0f}",
                ratio(r["cells_per_s_best"], ref.get("cells_per_s_best")),
                ratio(r["epoch_median"], ref.get("epoch_median")),
                f"{100 * r['data_fraction']:.1f}%" if r.get("data_fraction") is not None else "–",
                per_round,
            ]
        )
    header = [
        "model",
        "batch",
        "parameters",
        "cells/s (median)",
        "÷ SCVI",
        "best round",
        "÷ SCVI (best)",
        "÷ SCVI (per epoch)",
        "data wait",
        "rounds",
    ]
    loads = [x for r in [*fams.values(), *([sc_] if sc_ else [])] for x in r["loads"]]
    lines = [
        f"Measured {res['date']}: {res['n_cells']:,} cells × {res['n_genes']:,} genes "
        f"before HVG selection, {PREP[res.get('prep', 'preprocess')]}, "
        f"`torch.set_num_threads({res['threads']})`, {res['repeats']} round(s), epochs "
        f"2..{res['epochs']} timed"
        + (
            f"; peak RSS of the whole run {res['peak_rss_gb']:.1f} GB."
            if "peak_rss_gb" in res
            else "."
        ),
        "",
        machine(PACKAGES, res["threads"]),
        "",
        *table(header, rows, "lrrrrrrrrl"),
        "",
    ]
    if sc_:
        lines.append(
            f"SCVI's default training batch size in scvi-tools {res['versions']['scvi-tools']} "
            f"is {res['scvi_default_batch_size']} (the 128 used here); "
            f"{sc_['rounds'][0]['n_train']:,} train cells per SCVI epoch."
        )
    if "mae" in fams and sc_:
        times = fams["mae"]["cells_per_s"] / sc_["cells_per_s"]
        verdict = "PASS" if times >= TARGET else "FAIL"
        lines.append(f"Target `mae` ≥ {TARGET:.0f}× SCVI (medians): {times:.1f}× — **{verdict}**.")
    for fam, why in res.get("skipped", {}).items():
        lines.append(f"\n`{fam}`: not measured, the family does not import ({why}).")
    lines += [
        "",
        f"1-minute load average before each run: {min(loads):.1f}–{max(loads):.1f} on "
        f"{os.cpu_count()} cores (other processes shared the machine; with 2 OpenMP threads "
        "a busy machine slows every model several-fold, so compare the ratios, not the "
        "absolute rates).",
        "",
        *reproduce(res["command"]),
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--families", nargs="+", default=list(FAMILIES))
    p.add_argument("--n-cells", type=int, default=10_000)
    p.add_argument("--n-genes", type=int, default=5_000, help="genes before HVG selection")
    p.add_argument("--n-hvg", type=int, default=2_000)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--repeats", type=int, default=3, help="alternating rounds")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-scvi", action="store_true")
    p.add_argument("--out-json", type=Path, default=REPO / "benchmarks/_scratch/throughput.json")
    p.add_argument("--out-md", default=str(REPO / "docs/benchmarks.md"), help="'none': skip")
    p.add_argument("--render-only", action="store_true", help="the section from saved results")
    args = p.parse_args(argv)
    saved = load_results(args.out_json)
    if args.render_only:
        return _write_md(args.out_md, saved)
    import torch
    from threadpoolctl import threadpool_limits

    from scssl.models import get_family
    from scssl.pp import highly_variable_genes, normalize_log1p

    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)
    logging.getLogger("scssl").setLevel(logging.WARNING)
    adata = synthetic_counts(args.n_cells, args.n_genes)
    highly_variable_genes(adata, n_top_genes=args.n_hvg, batch_key=None)
    normalize_log1p(adata)
    print(f"data {adata.shape}, {int(adata.var['highly_variable'].sum())} HVGs", flush=True)
    adata = hvg_only(adata)  # one copy of the HVG matrices for every model (1M cells: ~10 GB)
    res = {
        "date": now(),
        "command": command_line(),
        "n_cells": args.n_cells,
        "n_genes": args.n_genes,
        "n_hvg": args.n_hvg,
        "prep": "hvg+normalize",
        "epochs": args.epochs,
        "repeats": args.repeats,
        "threads": args.threads,
        "families": {},
        "skipped": {},
        "versions": {p_: version(p_) for p_ in PACKAGES},
    }
    fams = []
    for fam in args.families:
        try:
            get_family(fam)
            fams.append(fam)
        except Exception as err:  # a family being written may not import yet
            res["skipped"][fam] = f"{type(err).__name__}: {err}"
            print(f"{fam}: skipped ({res['skipped'][fam]})", flush=True)
    hvg = None
    if not args.no_scvi:
        import scvi

        hvg = scvi_setup(adata)
        sig = inspect.signature(scvi.model.SCVI.train)
        res["scvi_default_batch_size"] = sig.parameters["batch_size"].default
    rounds: dict[str, list[dict]] = {}
    for rnd in range(args.repeats):
        for fam in fams:
            r = bench_family(adata, fam, args.epochs)
            rounds.setdefault(fam, []).append(r)
            print(f"round {rnd + 1} {fam}: {r['cells_per_s']:,.0f} cells/s", flush=True)
        if hvg is not None:
            r = bench_scvi(hvg, args.threads)
            rounds.setdefault("scvi", []).append(r)
            print(f"round {rnd + 1} SCVI: {r['cells_per_s']:,.0f} cells/s (wall)", flush=True)
    res["families"] = {f: summarise(rounds[f]) for f in fams}
    if hvg is not None:
        res["scvi"] = summarise(rounds["scvi"])
    res["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    saved[args.n_cells] = res
    write_json(args.out_json, {str(n): r for n, r in sorted(saved.items())})
    return _write_md(args.out_md, saved)


def _write_md(out_md: str, results: dict[int, dict]) -> int:
    if out_md.lower() != "none" and results:
        replace_section(Path(out_md), SECTION, render(results))
        print(f"section '{SECTION}' -> {out_md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
