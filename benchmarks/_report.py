"""The markdown section ``## QC + normalize + HVG at 200k cells`` of ``docs/benchmarks.md``."""

from __future__ import annotations

import datetime as _dt
import shlex
from pathlib import Path

from _quality_md import machine_facts, replace_section

SECTION = "## QC + normalize + HVG at 200k cells"
LIMIT = 2.5
GIB = 1024**3


def machine() -> dict:
    return machine_facts(("scssl", "anndata", "scanpy", "numpy", "scipy", "h5py"))


def gb(b: float) -> str:
    return f"{b / GIB:.2f} GiB"


def mmss(s: float) -> str:
    m, sec = divmod(s, 60)
    return f"{int(m)}:{sec:04.1f}" if m else f"{sec:.1f} s"


def now() -> str:
    """The 'Measured ...' time stamp."""
    return _dt.datetime.now().strftime("%Y-%m-%d %H:%M")


def ref_sizes(meta: dict) -> tuple[int, int]:
    """Bytes of the counts CSR, and of counts + normalized values (one more float32 array)."""
    counts_b = meta["bytes_data"] + meta["bytes_indices"] + meta["bytes_indptr"]
    return counts_b, counts_b + meta["nnz"] * 4


def peak_bytes(step: dict) -> int:
    """A step's peak RSS: the kernel's maximum RSS, else the sampled high-water mark."""
    return step.get("maxrss_kib", step["sampled_hwm_kib"]) * 1024


def render(
    meta: dict,
    steps: list[dict],
    machine: dict,
    repro: str,
    *,
    doublets: str,
    measured: str,
) -> str:
    """The whole section, from the input's description and the measured steps."""
    counts_b, ref_b = ref_sizes(meta)
    v = machine["versions"]
    lines = [
        SECTION,
        "",
        f"Measured {measured} with `benchmarks/bench_qc_preprocess.py` (doublets: "
        f"`{doublets}`). Each step runs as its own process through the real CLI, as the "
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
        f"process (not measured) and written uncompressed ({gb(meta['file_bytes'])}) in "
        f"{meta['write_s']:.0f} s.",
        "",
        "| reference size | bytes |",
        "|---|---:|",
        f"| counts CSR (data + indices + indptr) | {gb(counts_b)} |",
        f"| counts + normalized values (one more float32 value array; indices and indptr are "
        f"shared) | {gb(ref_b)} |",
        f"| limit: {LIMIT}× counts + normalized values | {gb(LIMIT * ref_b)} |",
        "",
        "| step | wall time | CPU (user + sys) | peak RSS | peak RSS / counts CSR "
        f"| peak RSS / (counts + normalized) | < {LIMIT}× |",
        "|---|---:|---:|---:|---:|---:|:---:|",
    ]
    for s in steps:
        rss_b = peak_bytes(s)
        cpu = s.get("user_s", 0) + s.get("sys_s", 0)
        ok = s["rc"] == 0 and rss_b < LIMIT * ref_b
        status = "PASS" if ok else (f"FAIL (exit {s['rc']})" if s["rc"] else "FAIL")
        lines.append(
            f"| `scssl {s['name']}` | {mmss(s['wall_s'])} | {mmss(cpu)} | {gb(rss_b)} | "
            f"{rss_b / counts_b:.2f}× | {rss_b / ref_b:.2f}× | {status} |"
        )
    total_wall = sum(s["wall_s"] for s in steps)
    lines.append(f"| **total** | **{mmss(total_wall)}** | | | | | |")
    lines.append("")
    pre = next((s for s in steps if s["name"] == "preprocess"), None)
    if pre and pre.get("input_nnz"):
        own = (meta["bytes_indptr"] + pre["input_nnz"] * 12) if pre["input_nnz"] else 0
        rss_b = peak_bytes(pre)
        lines += [
            f"`scssl preprocess` reads the QC'd matrix ({pre['input_nnz']:,} stored values); "
            f"against its own counts + normalized values ({gb(own)}) its peak is "
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
            after = gb(st["rss_end_kib"] * 1024) if st["rss_end_kib"] else ""
            lines.append(
                f"| {s['name']} | {name} | {mmss(t)} | {gb(st['peak_kib'] * 1024)} | {after} |"
            )
    lines.append("")
    write_notes = []
    for s in steps:
        after = s["stages"][-1]
        if s["wall_s"] > 0:
            write_notes.append(
                f"`scssl {s['name']}` spends {mmss(after['wall_s'])} "
                f"({100 * after['wall_s'] / s['wall_s']:.0f}% of its wall time) after its last "
                "stage, mostly writing the gzip-compressed .h5ad"
                + (" (and the QC report files)" if s["name"] == "qc" else "")
                + "; and "
                f"{mmss(s['stages'][0]['wall_s'])} starting up and reading its input."
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
    """Replace the section in ``path`` (up to the next ``## ``), or append it."""
    replace_section(path, SECTION, section)
