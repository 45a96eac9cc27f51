"""Benchmark: GPU training throughput at 1,000,000 cells x 2,000 HVGs (bf16 autocast).

The counts are generated directly on the GPU (negative binomial = gamma-Poisson, 8 cell types
with marker programmes, log-normal library sizes; no AnnData, no host copy of the matrix) and
log-normalized there; they stay resident as dense float32 tensors, exactly what
``CellData(resident=True)`` holds. Each family's module is trained by the scssl ``Trainer``
(AdamW, bf16 autocast on CUDA, no validation split, early stopping off) for ``--epochs``
epochs at each ``--batch-sizes``; cells/s is the median of the trainer's per-epoch
``cells_per_s`` over epochs 2..N (epoch 1 carries CUDA/cuBLAS warm-up), and ``data_fraction``
(share of step time spent getting minibatches). scvi-tools' SCVI then trains on the same
counts (copied to the host as CSR) on the same device, as ``throughput.py`` runs it (skipped
with a note when scvi-tools is not installed: ``pip install -e '.[bench]'``). Targets:
``mae`` >= 1,000,000 cells/s, >= 20x SCVI, data wait < 10%.

Without CUDA it refuses (exit status 2) unless ``--device cpu`` is given, which runs the same
code path on the CPU as a functional check (e.g. ``--device cpu --n-cells 20000``).

Usage::

    python benchmarks/throughput_gpu.py                                   # 1M cells on cuda
    python benchmarks/throughput_gpu.py --families mae --batch-sizes 4096 8192 16384
    python benchmarks/throughput_gpu.py --device cpu --n-cells 20000      # functional check
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from _quality_md import (
    REPO,
    after_warmup,
    command_line,
    now,
    ratio,
    replace_section,
    reproduce,
    table,
    version,
)

from scssl._atomic import write_json
from scssl.data.dataset import BATCH, COUNTS, LIBRARY, CellData, X
from scssl.data.spec import DataSpec
from scssl.models import FAMILIES, config_from_dict, get_family
from scssl.train.config import TrainConfig
from scssl.train.trainer import Trainer

SECTION = "## Training throughput on GPU"
TARGET = 1_000_000  # cells/s for mae
TIMES_SCVI = 20  # mae must train at least this many times faster than SCVI on the GPU


class DeviceCellData(CellData):
    """A resident :class:`CellData` built from dense tensors already on the device."""

    def __init__(self, x: torch.Tensor, counts: torch.Tensor, library: torch.Tensor) -> None:
        self.device = x.device
        self.resident = True
        self.protein = None
        self._dense = {X: x, COUNTS: counts}
        self.library = library
        self.batch_codes = torch.zeros(x.shape[0], dtype=torch.int64, device=x.device)

    @property
    def n_cells(self) -> int:
        return self._dense[X].shape[0]

    @property
    def n_genes(self) -> int:
        return self._dense[X].shape[1]

    def batch(self, idx: np.ndarray, keys: frozenset[str] | None = None) -> dict[str, torch.Tensor]:
        """Rows ``idx`` of the matrices the module reads (``keys``; None: all), on the device."""
        t = torch.as_tensor(idx, device=self.device)
        out = {k: self._dense[k][t] for k in (X, COUNTS) if keys is None or k in keys}
        return {**out, LIBRARY: self.library[t], BATCH: self.batch_codes[t]}


def device_counts(
    n_cells: int, n_genes: int, device: torch.device, *, seed: int = 0, chunk: int = 65_536
) -> DeviceCellData:
    """NB counts and their log-normalized values, generated chunk by chunk on ``device``."""
    torch.manual_seed(seed)
    kw = {"device": device, "dtype": torch.float32}
    n_types = 8
    base = torch.exp(torch.randn(n_genes, **kw) * 1.8 - 1.0)
    lfc = torch.where(
        torch.rand(n_types, n_genes, **kw) < 0.05,
        1.5 + 0.7 * torch.randn(n_types, n_genes, **kw),
        0,
    )
    prog = base * torch.exp(lfc)
    prog /= prog.sum(1, keepdim=True)
    theta = torch.exp(0.6 * torch.randn(n_genes, **kw) + math.log(4.0))  # NB shape
    types = torch.randint(n_types, (n_cells,), device=device)
    lib = torch.exp(0.5 * torch.randn(n_cells, **kw) + math.log(2500.0))
    counts = torch.empty(n_cells, n_genes, **kw)
    x = torch.empty(n_cells, n_genes, **kw)
    for s in range(0, n_cells, chunk):
        e = min(s + chunk, n_cells)
        mu = lib[s:e, None] * prog[types[s:e]]
        shape = theta.expand_as(mu)
        rate = torch.distributions.Gamma(shape, shape / mu).sample()  # mean mu
        c = torch.poisson(rate)
        counts[s:e] = c
        x[s:e] = torch.log1p(c / c.sum(1, keepdim=True).clamp(min=1.0) * 1e4)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return DeviceCellData(x, counts, counts.sum(1))


def _small_adata(data: DeviceCellData, spec: DataSpec, n: int = 5000):
    """A preprocessed-looking AnnData of the first cells, for families whose extras need one."""
    import anndata as ad
    import pandas as pd
    from scipy import sparse

    n = min(n, data.n_cells)
    counts = sparse.csr_matrix(data._dense[COUNTS][:n].cpu().numpy())
    a = ad.AnnData(
        X=sparse.csr_matrix(data._dense[X][:n].cpu().numpy()),
        obs=pd.DataFrame({"batch": "b0"}, index=[f"c{i}" for i in range(n)]),
        var=pd.DataFrame({"highly_variable": True, "gene_ids": list(spec.genes)}, index=spec.genes),
    )
    a.layers["counts"] = counts
    a.uns["log1p"] = {}
    return a


def host_counts(data: DeviceCellData, chunk: int = 50_000):
    """The device counts as a host AnnData (CSR ``X`` = ``layers['counts']``), block by block."""
    import anndata as ad
    import pandas as pd
    from scipy import sparse

    blocks = [
        sparse.csr_matrix(data._dense[COUNTS][s : s + chunk].cpu().numpy())
        for s in range(0, data.n_cells, chunk)
    ]
    M = sparse.vstack(blocks).tocsr()
    genes = [f"g{j}" for j in range(data.n_genes)]
    a = ad.AnnData(
        X=M,
        obs=pd.DataFrame(index=[f"c{i}" for i in range(data.n_cells)]),
        var=pd.DataFrame(index=genes),
    )
    a.layers["counts"] = M
    return a


def bench_scvi_on(data: DeviceCellData, threads: int) -> dict:
    """scvi-tools' SCVI on the same counts and device (as ``throughput.py`` runs it on CPUs)."""
    from throughput import bench_scvi, scvi_setup

    accelerator = "gpu" if data.device.type == "cuda" else "cpu"
    return bench_scvi(scvi_setup(host_counts(data)), threads, accelerator=accelerator)


def bench(data: DeviceCellData, family: str, batch_size: int, epochs: int, bf16: bool) -> dict:
    cfg_cls, module_cls = get_family(family)
    config = config_from_dict(cfg_cls, {})
    genes = tuple(f"g{j}" for j in range(data.n_genes))
    spec = DataSpec(genes=genes, gene_ids=genes)
    extras = module_cls.build_extras(config, spec, _small_adata(data, spec))
    module = module_cls(config, spec, extras)
    tcfg = replace(
        replace(TrainConfig(), **module_cls.train_defaults),
        max_epochs=epochs,
        min_steps=0,  # exactly `epochs` epochs (the family's step budget would add some)
        batch_size=batch_size,
        val_frac=0.0,
        patience=epochs + 1,
        device=str(data.device),
        resident=True,
        bf16=bf16,
        seed=0,
    )
    if data.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    history = Trainer(module, data, tcfg, progress=False).fit()
    per_epoch = [h["cells_per_s"] for h in history]
    data_frac = [h["data_fraction"] for h in history]
    out = {
        "family": family,
        "batch_size": batch_size,
        "epochs": len(history),
        "cells_per_s_epochs": per_epoch,
        "cells_per_s": after_warmup(per_epoch),
        "data_fraction": after_warmup(data_frac),
        "wall_seconds": time.perf_counter() - t0,
        "final_loss": history[-1]["train_loss"],
    }
    if data.device.type == "cuda":
        out["peak_gib"] = torch.cuda.max_memory_allocated() / 1024**3
    del module
    return out


def render(res: dict) -> str:
    scvi = (res.get("scvi") or {}).get("cells_per_s")
    rows = []
    for r in res["runs"]:
        mark = " ✓" if r["family"] == "mae" and r["cells_per_s"] >= TARGET else ""
        peak = f"{r['peak_gib']:.1f}" if "peak_gib" in r else "–"
        wait = f"{100 * r['data_fraction']:.1f}%" if "data_fraction" in r else "–"
        rate = f"{r['cells_per_s']:,.0f}{mark}"
        times_scvi = ratio(r["cells_per_s"], scvi)
        rows.append([f"`{r['family']}`", str(r["batch_size"]), rate, times_scvi, wait, peak])
    if scvi:
        sc_ = res["scvi"]
        rows.append(["scvi-tools SCVI", str(sc_["batch_size"]), f"{scvi:,.0f}", "1.0×", "–", "–"])
    best = max((r["cells_per_s"] for r in res["runs"] if r["family"] == "mae"), default=None)
    verdict = "–" if best is None else ("PASS" if best >= TARGET else "FAIL")
    times = "–" if not (best and scvi) else ("PASS" if best >= TIMES_SCVI * scvi else "FAIL")
    if res["device_name"] == "CPU":
        verdict = times = "not applicable (CPU functional check)"
    lines = [
        SECTION,
        "",
        f"Measured {res['date']} with `benchmarks/throughput_gpu.py` on {res['device_name']}: "
        f"{res['n_cells']:,} cells × {res['n_genes']:,} genes generated and kept on the device "
        f"(dense float32), bf16 autocast {'on' if res['bf16'] else 'off'}, {res['epochs']} "
        "epochs; cells/s = median per-epoch rate of epochs 2..N. torch "
        f"{res['versions']['torch']} (CUDA {res['cuda']}), scssl {res['versions']['scssl']}.",
        "",
        *table(["model", "batch", "cells/s", "÷ SCVI", "data wait", "peak GiB"], rows),
        "",
        "`data wait`: the share of each epoch's training time spent getting minibatches (the "
        "trainer's `data_fraction`, median of epochs 2..N); target under 10%. Host time: an "
        "upper bound of the device's idle time, since the device may still be busy with the "
        "previous step's backward pass meanwhile.",
        "",
        f"Target `mae` ≥ {TARGET:,} cells/s: **{verdict}**"
        + (f" (best {best:,.0f})." if best else "."),
        f"Target `mae` ≥ {TIMES_SCVI}× SCVI on the same device and data: **{times}**"
        + (f" (best {best / scvi:.1f}×)." if best and scvi else "."),
        "",
        "SCVI: `SCVI.setup_anndata(adata, layer='counts')` on the same counts (copied to the "
        "host as CSR), `.train(max_epochs=3, accelerator='gpu', devices=1, batch_size=128, "
        "early_stopping=False)`; cells/s = 3 × n_cells / wall time of `.train`, as in "
        "`throughput.py`.",
        "",
        *reproduce(res["command"]),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--families", nargs="+", default=list(FAMILIES))
    p.add_argument("--n-cells", type=int, default=1_000_000)
    p.add_argument("--n-genes", type=int, default=2_000)
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[8192, 16384])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--no-bf16", action="store_true")
    p.add_argument("--no-scvi", action="store_true", help="skip scvi-tools' SCVI")
    p.add_argument("--threads", type=int, default=2, help="CPU threads (cpu device only)")
    p.add_argument(
        "--out-json", type=Path, default=REPO / "benchmarks/_scratch/throughput_gpu.json"
    )
    p.add_argument("--out-md", default="none", help=f"a markdown file for '{SECTION}'")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print(
            "throughput_gpu.py: no CUDA device is available, so there is nothing to measure. "
            "Run it on a GPU machine, or add `--device cpu --n-cells 20000` for a functional "
            "check of the same code path on the CPU.",
            file=sys.stderr,
        )
        return 2
    if device.type == "cpu":
        torch.set_num_threads(args.threads)
    logging.getLogger("scssl").setLevel(logging.WARNING)
    t0 = time.perf_counter()
    data = device_counts(args.n_cells, args.n_genes, device)
    print(
        f"generated {data.n_cells:,} x {data.n_genes:,} on {device} in "
        f"{time.perf_counter() - t0:.1f}s",
        flush=True,
    )
    res = {
        "date": now(),
        "command": command_line(),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU",
        "cuda": torch.version.cuda,
        "n_cells": args.n_cells,
        "n_genes": args.n_genes,
        "epochs": args.epochs,
        "bf16": not args.no_bf16 and device.type == "cuda",
        "versions": {p_: version(p_) for p_ in ("scssl", "torch")},
        "runs": [],
        "skipped": {},
    }
    for fam in args.families:
        try:
            get_family(fam)
        except Exception as err:  # a family being written may not import yet
            res["skipped"][fam] = f"{type(err).__name__}: {err}"
            print(f"{fam}: skipped ({res['skipped'][fam]})", flush=True)
            continue
        for bs in args.batch_sizes:
            try:
                r = bench(data, fam, bs, args.epochs, not args.no_bf16)
            except Exception as err:  # e.g. out of memory at a large batch: keep going
                res["skipped"][f"{fam}@{bs}"] = f"{type(err).__name__}: {err}"
                print(f"{fam} batch {bs}: failed ({err})", flush=True)
                if device.type == "cuda":
                    torch.cuda.empty_cache()
                continue
            res["runs"].append(r)
            print(f"{fam} batch {bs}: {r['cells_per_s']:,.0f} cells/s", flush=True)
    if not args.no_scvi:
        try:
            res["scvi"] = bench_scvi_on(data, args.threads)
            print(f"SCVI: {res['scvi']['cells_per_s']:,.0f} cells/s (wall)", flush=True)
        except ImportError as err:  # an optional benchmark dependency: pip install -e '.[bench]'
            res["skipped"]["scvi"] = f"not installed ({err}); pip install -e '.[bench]'"
            print(f"SCVI: skipped ({res['skipped']['scvi']})", flush=True)
    write_json(args.out_json, res)
    print(f"-> {args.out_json}")
    if not res["runs"]:
        print("throughput_gpu.py: no run finished; see 'skipped' above.", file=sys.stderr)
        return 1
    if args.out_md.lower() != "none":
        replace_section(Path(args.out_md), SECTION, render(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
