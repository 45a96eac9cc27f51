"""Benchmark: ``scssl qc`` then ``scssl preprocess`` on a large synthetic sparse matrix.

Acceptance point: QC + normalize + HVG on a 200,000-cell x 30,000-gene synthetic matrix
(about 2,000 counts per cell) finish on a 2-core machine with each step's peak RSS under
2.5x the CSR matrix's size (counts plus normalized values).

What it does
------------
1. Generates the counts in a separate process (so generation memory is not counted), chunk by
   chunk of cells, never holding a dense matrix: log-normal gene abundances, cell types x
   batches x a "cycling" state with their own programmes, log-normal library sizes, 13 ``MT-``
   genes, ~80 ``RPS``/``RPL`` genes, ~5% low-quality cells (few counts, high % mito). Counts
   are multinomial draws (Walker alias tables, one per programme), counted per cell by sorting.
   The AnnData is in the scssl layout (``X`` is ``layers['counts']``) and written uncompressed
   with :func:`scssl.io.write_h5ad`. A matching earlier input in ``--workdir`` is reused.
2. Runs each step as its own process through the real CLI, exactly as the pipeline does, under
   ``/usr/bin/time -v`` (peak RSS, wall, CPU times); without it, through a small wrapper that
   reads ``getrusage(RUSAGE_CHILDREN)``. While a step runs, its RSS is sampled from ``/proc``
   every 0.1 s and its log lines ('X ...' / 'X finished (N.Ns)') are time-stamped on arrival,
   so the peak RSS of each in-process stage (read, qc_metrics, HVG, normalize, PCA, write) is
   known too.
3. Compares each step's peak RSS with the CSR size of counts + normalized values (normalized
   values share indices/indptr with counts, so one more float32 value array) and writes the
   section ``## QC + normalize + HVG at 200k cells`` of ``docs/benchmarks.md``.

Usage::

    python benchmarks/bench_qc_preprocess.py                       # full 200k x 30k run
    python benchmarks/bench_qc_preprocess.py --n-cells 20000 --n-genes 5000   # quick check
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
from importlib import metadata
from pathlib import Path

import numpy as np

SECTION = "## QC + normalize + HVG at 200k cells"
LIMIT = 2.5
REPO = Path(__file__).resolve().parents[1]
GIB = 1024**3

# 13 protein-coding mitochondrial genes (human)
MT_GENES = [
    "MT-ND1", "MT-ND2", "MT-CO1", "MT-CO2", "MT-ATP8", "MT-ATP6", "MT-CO3",
    "MT-ND3", "MT-ND4L", "MT-ND4", "MT-ND5", "MT-ND6", "MT-CYB",
]  # fmt: skip
RIBO_GENES = (
    [f"RPS{i}" for i in range(2, 30)]
    + ["RPS27A", "RPS4X", "RPS15A", "RPSA"]
    + [f"RPL{i}" for i in range(3, 42)]
    + ["RPL13A", "RPL36A", "RPL37A", "RPLP0", "RPLP1", "RPLP2"]
)
HB_GENES = ["HBB", "HBA1", "HBA2", "HBD"]


# ----------------------------------------------------------------------------------------------
# generation
# ----------------------------------------------------------------------------------------------


def _alias_table(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Walker/Vose alias table for sampling from ``p`` in O(1) per draw."""
    n = len(p)
    q = p * (n / p.sum())
    prob = np.ones(n)
    alias = np.arange(n, dtype=np.int32)
    small = list(np.flatnonzero(q < 1))
    large = list(np.flatnonzero(q >= 1))
    while small and large:
        s, g = small.pop(), large.pop()
        prob[s], alias[s] = q[s], g
        q[g] = q[g] + q[s] - 1.0
        (small if q[g] < 1 else large).append(g)
    return prob, alias


def _barcodes(n: int) -> np.ndarray:
    """Distinct 16-mer barcodes with the Cell Ranger '-1' suffix."""
    codes = (np.arange(n, dtype=np.int64)[:, None] * 2654435761 % (4**16)) >> (
        2 * np.arange(16, dtype=np.int64)
    )
    letters = np.frombuffer(b"ACGT", dtype="S1")[codes & 3]
    return np.char.add(letters.view("S16").ravel().astype(str), "-1")


def _genes(n_genes: int, rng: np.random.Generator):
    """Symbols (MT-, RPS/RPL, HB genes scattered among the others), Ensembl-style ids."""
    special = MT_GENES + RIBO_GENES[: max(0, min(len(RIBO_GENES), n_genes // 50))] + HB_GENES
    n_other = n_genes - len(special)
    if n_other < 100:
        raise SystemExit(f"--n-genes must be at least {len(special) + 100}")
    symbols = np.array(special + [f"GENE{i:05d}" for i in range(1, n_other + 1)], dtype=object)
    symbols = symbols[rng.permutation(n_genes)]
    ids = np.array([f"ENSG{i:011d}" for i in range(1, n_genes + 1)], dtype=object)
    return symbols, ids


def generate(args: argparse.Namespace, in_path: Path, meta_path: Path) -> None:
    """Write the synthetic sample to ``in_path`` and its description to ``meta_path``."""
    import anndata as ad
    import pandas as pd
    from scipy import sparse

    from scssl import _atomic
    from scssl.io import write_h5ad

    t0 = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    n, g = args.n_cells, args.n_genes
    symbols, ids = _genes(g, rng)
    is_mt = np.char.startswith(symbols.astype(str), "MT-")
    is_ribo = np.isin(symbols, RIBO_GENES)
    mt_idx = np.flatnonzero(is_mt).astype(np.int32)
    nm_idx = np.flatnonzero(~is_mt).astype(np.int32)
    g_nm = len(nm_idx)

    # gene abundances: heavy-tailed baseline, highly expressed ribosomal genes
    base = np.exp(rng.normal(0.0, 2.0, g_nm))
    ribo_nm = is_ribo[nm_idx]
    ribo = np.exp(rng.normal(0.0, 0.5, int(ribo_nm.sum())))
    # ribosomal genes take ~15% of the non-mito counts, whatever the number of genes
    base[ribo_nm] = ribo * (0.15 / 0.85) * base[~ribo_nm].sum() / ribo.sum()
    n_types, n_batches = 6, 4
    type_prog = np.exp(rng.normal(0.0, 0.25, (n_types, g_nm)))
    for t in range(n_types):
        up = rng.choice(g_nm, size=max(10, g_nm // 50), replace=False)
        type_prog[t, up] *= np.exp(rng.normal(2.0, 0.5, len(up)))
    batch_eff = np.exp(rng.normal(0.0, 0.15, (n_batches, g_nm)))
    cycling = np.ones(g_nm)
    cycling[rng.choice(g_nm, size=max(10, g_nm // 150), replace=False)] = np.exp(2.0)
    n_combo = n_types * n_batches * 2
    prob = np.empty(n_combo * g_nm)
    alias = np.empty(n_combo * g_nm, dtype=np.int32)
    for c in range(n_combo):
        t, b, s = c // (n_batches * 2), (c // 2) % n_batches, c % 2
        p = base * type_prog[t] * batch_eff[b] * (cycling if s else 1.0)
        prob[c * g_nm : (c + 1) * g_nm], alias[c * g_nm : (c + 1) * g_nm] = _alias_table(p)
    mt_p = np.exp(rng.normal(0.0, 0.5, len(mt_idx)))
    mt_cdf = np.cumsum(mt_p) / mt_p.sum()

    # cells: type, batch, state, library size, % mito; ~5% low quality
    cell_type = rng.integers(0, n_types, n)
    batch = rng.integers(0, n_batches, n)
    state = (rng.random(n) < 0.15).astype(np.int64)
    combo = (cell_type * n_batches + batch) * 2 + state
    sigma = 0.35
    lib = np.exp(rng.normal(np.log(args.counts_per_cell) - sigma**2 / 2, sigma, n))
    f_mt = rng.beta(4.0, 76.0, n)
    low = rng.random(n) < 0.05
    lib[low] *= rng.uniform(0.1, 0.3, int(low.sum()))
    f_mt[low] = rng.uniform(0.3, 0.7, int(low.sum()))
    lib = np.maximum(np.rint(lib), 20).astype(np.int64)

    chunk = max(1, min(2000, (2**31 - 1) // g))
    data_parts, idx_parts, row_nnz = [], [], np.zeros(n, dtype=np.int64)
    for a in range(0, n, chunk):
        b = min(a + chunk, n)
        m = b - a
        n_mt = rng.binomial(lib[a:b], f_mt[a:b])
        n_nm = lib[a:b] - n_mt
        cells = np.arange(m, dtype=np.int32)
        # non-mito draws from each cell's programme (alias method)
        u = rng.random(int(n_nm.sum())) * g_nm
        bins = u.astype(np.int32)
        u -= bins
        j = np.repeat(combo[a:b] * g_nm, n_nm) + bins
        local = np.where(u < prob[j], bins, alias[j])
        del u, j, bins
        key_nm = np.repeat(cells * g, n_nm) + nm_idx[local]
        del local
        # mito draws
        mt_draw = np.searchsorted(mt_cdf, rng.random(int(n_mt.sum())), side="right")
        key_mt = np.repeat(cells * g, n_mt) + mt_idx[np.minimum(mt_draw, len(mt_idx) - 1)]
        key = np.concatenate([key_nm, key_mt])
        del key_nm, key_mt
        key.sort()
        start = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        cnt = np.diff(np.r_[start, len(key)])
        uk = key[start]
        data_parts.append(cnt.astype(np.float32))
        idx_parts.append((uk % g).astype(np.int32))
        row_nnz[a:b] = np.bincount(uk // g, minlength=m)
        del key, start, cnt, uk
    data = np.concatenate(data_parts)
    del data_parts
    indices = np.concatenate(idx_parts)
    del idx_parts
    nnz = len(data)
    ip_dtype = np.int32 if nnz < np.iinfo(np.int32).max else np.int64
    indptr = np.zeros(n + 1, dtype=ip_dtype)
    np.cumsum(row_nnz, out=indptr[1:])
    X = sparse.csr_matrix((data, indices, indptr), shape=(n, g), copy=False)
    assert X.data.dtype == np.float32 and X.has_sorted_indices
    t_gen = time.perf_counter() - t0

    barcodes = _barcodes(n)
    obs = pd.DataFrame(
        {
            "barcode": barcodes,
            "sample": pd.Categorical(["bench"] * n),
            "batch": pd.Categorical(np.array([f"batch{i + 1}" for i in range(n_batches)])[batch]),
        },
        index=pd.Index("bench_" + barcodes.astype(object)),
    )
    var = pd.DataFrame(
        {
            "gene_ids": ids.astype(str),
            "gene_symbols": symbols.astype(str),
            "feature_types": "Gene Expression",
        },
        index=pd.Index(symbols.astype(str)),
    )
    adata = ad.AnnData(X=X, obs=obs, var=var)
    adata.layers["counts"] = adata.X
    assert adata.layers["counts"] is adata.X, "X must be the very object in layers['counts']"
    adata.uns["scssl"] = {"sample": "bench", "gene_id_space": "ensembl", "qc_overrides": {}}
    t1 = time.perf_counter()
    write_h5ad(adata, in_path, compression=None)
    t_write = time.perf_counter() - t1

    total = np.asarray(X.sum(axis=1)).ravel()
    mt_frac = np.asarray(X[:, mt_idx].sum(axis=1)).ravel() / np.maximum(total, 1)
    ribo_frac = np.asarray(X[:, np.flatnonzero(is_ribo)].sum(axis=1)).ravel() / np.maximum(total, 1)
    meta = {
        "params": _gen_params(args),
        "n_cells": n,
        "n_genes": g,
        "nnz": int(nnz),
        "density": nnz / (n * g),
        "data_dtype": str(X.data.dtype),
        "indices_dtype": str(X.indices.dtype),
        "indptr_dtype": str(X.indptr.dtype),
        "bytes_data": int(X.data.nbytes),
        "bytes_indices": int(X.indices.nbytes),
        "bytes_indptr": int(X.indptr.nbytes),
        "mean_counts_per_cell": float(total.mean()),
        "median_counts_per_cell": float(np.median(total)),
        "median_genes_per_cell": float(np.median(row_nnz)),
        "mean_genes_per_cell": float(row_nnz.mean()),
        "median_pct_mt": float(100 * np.median(mt_frac)),
        "median_pct_ribo": float(100 * np.median(ribo_frac)),
        "n_low_quality": int(low.sum()),
        "n_mt_genes": int(is_mt.sum()),
        "n_ribo_genes": int(is_ribo.sum()),
        "n_cell_types": n_types,
        "n_batches": n_batches,
        "generate_s": round(t_gen, 1),
        "write_s": round(t_write, 1),
        "file_bytes": in_path.stat().st_size,
    }
    _atomic.write_json(meta_path, meta)
    print(
        f"generated {n} x {g}, nnz {nnz:,} ({t_gen:.1f}s), wrote {in_path} ({t_write:.1f}s)",
        flush=True,
    )


def _gen_params(args: argparse.Namespace) -> dict:
    return {
        "n_cells": args.n_cells,
        "n_genes": args.n_genes,
        "counts_per_cell": args.counts_per_cell,
        "seed": args.seed,
        "version": 1,
    }


# ----------------------------------------------------------------------------------------------
# measuring
# ----------------------------------------------------------------------------------------------

_START = re.compile(r" INFO (.+?) \.\.\.$")
_DONE = re.compile(r" INFO (.+?) finished \(([\d.]+)s\)")


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(x) for x in fh.read().split()]
    except OSError:
        return []


def _status_kib(pid: int, field: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
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
            rss = _status_kib(pid, "VmRSS")
            hwm = _status_kib(pid, "VmHWM")
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


# ----------------------------------------------------------------------------------------------
# report
# ----------------------------------------------------------------------------------------------


def _version(pkg: str) -> str:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "not installed"


def _machine() -> dict:
    mem = cpu = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024**2:.1f} GiB"
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
        "ram": mem,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": {
            p: _version(p) for p in ("scssl", "anndata", "scanpy", "numpy", "scipy", "h5py")
        },
    }


def _gb(b: float) -> str:
    return f"{b / GIB:.2f} GiB"


def _mmss(s: float) -> str:
    m, sec = divmod(s, 60)
    return f"{int(m)}:{sec:04.1f}" if m else f"{sec:.1f} s"


def _h5_nnz(path: Path) -> int | None:
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


def render(args, meta: dict, steps: list[dict], machine: dict, repro: str) -> str:
    counts_b = meta["bytes_data"] + meta["bytes_indices"] + meta["bytes_indptr"]
    ref_b = counts_b + meta["nnz"] * 4
    today = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    v = machine["versions"]
    lines = [
        SECTION,
        "",
        f"Measured {today} with `benchmarks/bench_qc_preprocess.py` (doublets: "
        f"`{args.doublets}`). Each step runs as its own process through the real CLI, as the "
        "pipeline runs it; peak RSS is the kernel's maximum resident set size of that process "
        f"({steps[0]['how'] if steps else ''}).",
        "",
        f"**Machine**: {machine['nproc']} CPU cores ({machine['cpu']}), {machine['ram']} RAM, "
        f"{machine['os']}; Python {machine['python']}; scssl {v['scssl']}, anndata "
        f"{v['anndata']}, scanpy {v['scanpy']}, numpy {v['numpy']}, scipy {v['scipy']}, "
        f"h5py {v['h5py']}.",
        "",
        f"**Matrix**: {meta['n_cells']:,} cells × {meta['n_genes']:,} genes, "
        f"{meta['nnz']:,} stored values ({100 * meta['density']:.2f}% dense); "
        f"mean {meta['mean_counts_per_cell']:,.0f} counts/cell (median "
        f"{meta['median_counts_per_cell']:,.0f}), median {meta['median_genes_per_cell']:,.0f} "
        f"genes/cell, median {meta['median_pct_mt']:.1f}% mito and "
        f"{meta['median_pct_ribo']:.1f}% ribosomal counts; {meta['n_cell_types']} cell types, "
        f"{meta['n_batches']} batches (`obs['batch']`), {meta['n_low_quality']:,} low-quality "
        f"cells. CSR with {meta['data_dtype']} values, {meta['indices_dtype']} indices, "
        f"{meta['indptr_dtype']} indptr. Generated in {meta['generate_s']:.0f} s in a separate "
        f"process (not measured) and written uncompressed ({_gb(meta['file_bytes'])}) in "
        f"{meta['write_s']:.0f} s.",
        "",
        "| reference size | bytes |",
        "|---|---:|",
        f"| counts CSR (data + indices + indptr) | {_gb(counts_b)} |",
        f"| counts + normalized values (one more float32 value array; indices and indptr are "
        f"shared) | {_gb(ref_b)} |",
        f"| limit: {LIMIT}× counts + normalized values | {_gb(LIMIT * ref_b)} |",
        "",
        "| step | wall time | CPU (user + sys) | peak RSS | peak RSS / (counts + normalized) "
        f"| < {LIMIT}× |",
        "|---|---:|---:|---:|---:|:---:|",
    ]
    for s in steps:
        rss_b = s.get("maxrss_kib", s["sampled_hwm_kib"]) * 1024
        cpu = s.get("user_s", 0) + s.get("sys_s", 0)
        ok = s["rc"] == 0 and rss_b < LIMIT * ref_b
        status = "PASS" if ok else (f"FAIL (exit {s['rc']})" if s["rc"] else "FAIL")
        lines.append(
            f"| `scssl {s['name']}` | {_mmss(s['wall_s'])} | {_mmss(cpu)} | {_gb(rss_b)} | "
            f"{rss_b / ref_b:.2f}× | {status} |"
        )
    total_wall = sum(s["wall_s"] for s in steps)
    lines.append(f"| **total** | **{_mmss(total_wall)}** | | | | |")
    lines.append("")
    pre = next((s for s in steps if s["name"] == "preprocess"), None)
    if pre and pre.get("input_nnz"):
        own = (meta["bytes_indptr"] + pre["input_nnz"] * 12) if pre["input_nnz"] else 0
        rss_b = pre.get("maxrss_kib", pre["sampled_hwm_kib"]) * 1024
        lines += [
            f"`scssl preprocess` reads the QC'd matrix ({pre['input_nnz']:,} stored values); "
            f"against its own counts + normalized values ({_gb(own)}) its peak is "
            f"{rss_b / own:.2f}×.",
            "",
        ]
    lines += [
        "Stages inside each step (times from the steps' own `... finished (N.Ns)` log lines; "
        "peak RSS sampled from `/proc` every 0.1 s while the stage ran, so it can miss "
        "very short spikes; RSS after = resident size when the stage ended):",
        "",
        "| step | stage | time | peak RSS in stage | RSS after |",
        "|---|---|---:|---:|---:|",
    ]
    for s in steps:
        for st in s["stages"]:
            name = ("&nbsp;&nbsp;" * st["depth"]) + st["stage"]
            t = st["logged_s"] if st["logged_s"] is not None else st["wall_s"]
            after = _gb(st["rss_end_kib"] * 1024) if st["rss_end_kib"] else ""
            lines.append(
                f"| {s['name']} | {name} | {_mmss(t)} | {_gb(st['peak_kib'] * 1024)} | {after} |"
            )
    lines.append("")
    write_notes = []
    for s in steps:
        after = s["stages"][-1]
        if s["wall_s"] > 0:
            write_notes.append(
                f"`scssl {s['name']}` spends {_mmss(after['wall_s'])} "
                f"({100 * after['wall_s'] / s['wall_s']:.0f}% of its wall time) after its last "
                "stage, mostly writing the gzip-compressed .h5ad"
                + (" (and the QC report files)" if s["name"] == "qc" else "")
                + "; and "
                f"{_mmss(s['stages'][0]['wall_s'])} starting up and reading its input."
            )
    if write_notes:
        lines += ["Reading and writing:", ""] + [f"- {n}" for n in write_notes] + [""]
    failed = [s for s in steps if s["rc"] != 0]
    for s in failed:
        lines += [f"`scssl {s['name']}` failed (exit {s['rc']}); last log lines:", "", "```"]
        lines += [*s.get("error", "").splitlines()[-15:], "```", ""]
    lines += ["To reproduce:", "", "```sh", repro]
    for s in steps:
        lines.append(shlex.join(["scssl", *s["cmd"][s["cmd"].index(s["name"]) :]]))
    lines += ["```", ""]
    return "\n".join(lines)


def update_md(path: Path, section: str) -> None:
    from scssl._atomic import write_text

    header = (
        "# Benchmarks\n\n"
        "Timings and memory of scssl steps on synthetic data. Each section is written by a "
        "script in `benchmarks/`; rerun it to refresh the figures.\n\n"
    )
    text = path.read_text() if path.exists() else header
    lines = text.splitlines(keepends=True)
    start = next((i for i, ln in enumerate(lines) if ln.rstrip() == SECTION), None)
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


# ----------------------------------------------------------------------------------------------
# main
# ----------------------------------------------------------------------------------------------


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
    p.add_argument("--generate-only", action="store_true", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
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
        or meta.get("params") != _gen_params(args)
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
        nnz_qc = _h5_nnz(qc_out)
        steps.append(run_step("preprocess", pre_cmd, workdir))
        steps[-1]["input_nnz"] = nnz_qc

    counts_b = meta["bytes_data"] + meta["bytes_indices"] + meta["bytes_indptr"]
    ref_b = counts_b + meta["nnz"] * 4
    print(f"\ncounts CSR {_gb(counts_b)}; counts + normalized {_gb(ref_b)}")
    ok = True
    for s in steps:
        rss = s.get("maxrss_kib", s["sampled_hwm_kib"]) * 1024
        passed = s["rc"] == 0 and rss < LIMIT * ref_b
        ok &= passed
        print(
            f"{s['name']:>10}: rc {s['rc']}, wall {s['wall_s']:.1f}s, peak RSS {_gb(rss)} "
            f"(sampled {_gb(s['sampled_peak_kib'] * 1024)}), {rss / ref_b:.2f}x -> "
            f"{'PASS' if passed else 'FAIL'}"
        )
        for st in s["stages"]:
            t = st["logged_s"] if st["logged_s"] is not None else st["wall_s"]
            print(
                f"{'':12}{'  ' * st['depth']}{st['stage']}: {t:.1f}s, "
                f"peak {_gb(st['peak_kib'] * 1024)}"
            )
    ok &= len(steps) == 2
    (workdir / f"result_{tag}.json").write_text(
        json.dumps({"meta": meta, "steps": steps}, indent=2, default=str)
    )

    repro_args = ["python", "benchmarks/bench_qc_preprocess.py"]
    defaults = parse_args([])
    for opt in ("n_cells", "n_genes", "counts_per_cell", "doublets", "seed"):
        if getattr(args, opt) != getattr(defaults, opt):
            repro_args += [f"--{opt.replace('_', '-')}", str(getattr(args, opt))]
    if not args.no_md:
        section = render(args, meta, steps, _machine(), shlex.join(repro_args))
        section = section.replace(str(workdir) + "/", "benchmarks/_scratch/")
        section = section.replace(str(Path(sys.executable).parent) + "/", "")
        update_md(args.out_md, section)
        print(f"wrote {args.out_md}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
