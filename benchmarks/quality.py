"""Benchmark: embedding quality of every model family on labelled real data, against PCA.

For each dataset (``scssl.io.benchmark_data``) x each configuration (``_quality_configs``:
every importable family with its defaults, plus variants, plus PCA), train with
``scssl.tl.pretrain`` on the CPU (family train defaults, training seed 0, or each seed of
``--train-seeds``), embed every cell and score the embedding with KMeans and Leiden ARI / NMI
(``_quality_score``). A row trained with several seeds shows their mean (``_seeds``).
Families that do not import yet are skipped with a note.

Each finished (dataset, config) pair is saved at once as its own JSON under
``<out-json stem>_runs/``; a rerun skips pairs already saved with the same model and train
config, so a crash loses at most the run in progress. At the end every saved result goes to
``--out-json`` and the section ``## Embedding quality`` of ``--out-md`` is rewritten
(``_quality_report``).

Usage::

    python benchmarks/quality.py                                  # everything
    python benchmarks/quality.py --datasets pbmc4k_2170 --configs '^mae$'
    python benchmarks/quality.py --render-only                    # markdown from saved runs
    python benchmarks/quality.py --configs '^mae$' --train-seeds 0 1 2 --keep-earlier
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import time
import traceback
from dataclasses import asdict
from pathlib import Path

from _quality_configs import PCA, RunConfig, build_grid, resolved_config
from _quality_md import REPO, command_line, machine, now, replace_section
from _quality_report import SECTION, render
from _quality_score import score
from _seeds import merge_seeds, run_path, saved_seeds

from scssl._atomic import write_json
from scssl.io.benchmark_data import DATASETS, load_benchmark
from scssl.models import FAMILIES, get_family
from scssl.tl.embed import SMOOTH_K
from scssl.tl.smooth import smooth_embedding

PACKAGES = ("scssl", "torch", "scanpy", "scikit-learn", "anndata", "leidenalg", "igraph")


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    p.add_argument(
        "--configs", nargs="+", default=None, help="regexes on config names (PCA always runs)"
    )
    p.add_argument("--rerun", default=None, help="regex: redo matching configs even if saved")
    p.add_argument("--gmt", default=None, help="GMT gene sets: adds mae masker=programme")
    p.add_argument("--data-dir", default=None, help="default: $SCSSL_DATA_DIR or ../shared/data")
    p.add_argument("--out-json", type=Path, default=REPO / "benchmarks/_scratch/quality.json")
    p.add_argument("--out-md", default=str(REPO / "docs/benchmarks.md"), help="'none': skip")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--max-epochs", type=int, default=None, help="override (smoke tests only; saved)"
    )
    p.add_argument(
        "--train-seeds",
        nargs="+",
        type=int,
        default=[0],
        help="training seeds of the selected configs (runs saved under other seeds still count)",
    )
    p.add_argument("--render-only", action="store_true")
    p.add_argument(
        "--keep-earlier",
        action="store_true",
        help="also show runs of unselected configs made under an earlier train config (marked)",
    )
    return p.parse_args(argv)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=+-]+", "_", name)


def _train_config(run: RunConfig, max_epochs: int | None, seed: int = 0) -> dict:
    if run.family == PCA:
        return {}
    from scssl.tl.pretrain import train_config_for

    over = {"seed": seed, "device": "cpu"}
    if max_epochs is not None:
        over["max_epochs"] = max_epochs
    return asdict(train_config_for(run.family, over))


def _key(run: RunConfig, tcfg: dict) -> dict:
    return {
        "model_config": resolved_config(run),
        "use_protein": run.use_protein,
        "train_config": tcfg,
        "smooth_k": SMOOTH_K,
        "smooth_variant_k": VARIANT_K,
        "unit_embedding": run.family != PCA and get_family(run.family)[1].unit_embedding,
    }


VARIANT_K = 15  # the neighbour-smoothed variant scored beside every embedding
ALT = " [smoothed]"


def _rows(rec: dict, order: int, label: str) -> list[dict]:
    """The result's table rows: the embedding ``scssl embed`` stores by default, and the
    same embedding smoothed over ``VARIANT_K`` neighbours (``--smooth-k``; PCA alike)."""
    rows = [{**rec, "order": order, "label": label}]
    if "metrics_alt" in rec:
        k = rec["smooth_variant_k"]
        alt = f"{label} + neighbour smoothing (`--smooth-k {k}`)"
        if rec["family"] == PCA:
            alt = f"{label.split(' (')[0]} + the same neighbour smoothing (k = {k})"
        rows.append(
            {
                **rec,
                "config": rec["config"] + ALT,
                "metrics": rec["metrics_alt"],
                "default": False,
                "order": order + 0.5,
                "label": alt,
            }
        )
    return rows


def _load_saved(path: Path, key: dict, *, earlier: bool = False) -> dict | None:
    """The saved run of ``key``; with ``earlier``, also one of the same model config trained
    under another train config (marked ``earlier`` with the fields that differ)."""
    if not path.is_file():
        return None
    rec = json.loads(path.read_text())
    if isinstance(rec.get("train_config"), dict) and key.get("train_config"):
        # a TrainConfig field added after the run, at its default, did not change that run
        from scssl.train.config import TrainConfig

        rec = {**rec, "train_config": {**asdict(TrainConfig()), **rec["train_config"]}}
    if isinstance(rec.get("model_config"), dict) and rec.get("family", PCA) != PCA:
        # likewise a model Config field added after the run, at its default
        defaults = resolved_config(RunConfig(rec["family"], rec["family"]))
        rec = {**rec, "model_config": {**defaults, **rec["model_config"]}}
    rec.setdefault("smooth_k", 0)  # runs before the smoothing option: per-cell output
    rec.setdefault("smooth_variant_k", None)  # ... and no smoothed variant
    rec.setdefault("unit_embedding", False)  # runs before unit-length embeddings
    if rec.get("status") != "ok":
        return None
    if all(rec.get(k) == v for k, v in key.items()):
        return rec
    other = ("train_config", "smooth_variant_k", "unit_embedding")
    if not earlier or any(rec.get(k) != v for k, v in key.items() if k not in other):
        return None
    now_tc = key.get("train_config") or {}
    diff = {k: v for k, v in rec["train_config"].items() if now_tc.get(k) != v}
    if rec["smooth_variant_k"] != key["smooth_variant_k"]:
        diff["smoothed variant"] = "not scored"
    if rec["unit_embedding"] != key["unit_embedding"]:
        diff["embedding"] = "unit length" if rec["unit_embedding"] else "not unit length"
    return {**rec, "earlier": diff}


def _run_one(adata, run: RunConfig, tcfg: dict) -> dict:
    obs = adata.obs
    if run.family == PCA:
        key = "pca_scaled" if run.model_config.get("scale") else "pca"
        if f"X_{key}" not in adata.obsm:
            from scssl.pp.pca import pca

            pca(adata, scale=key == "pca_scaled", key_added=key)
        emb, secs, n_ep = adata.obsm[f"X_{key}"], 0.0, 0
    else:
        from scssl.tl.embed import stored_embedding
        from scssl.tl.pretrain import pretrain
        from scssl.train.config import TrainConfig

        t0 = time.perf_counter()
        module, history, _, trainer = pretrain(
            adata,
            family=run.family,
            model_config=run.model_config,
            train_config=TrainConfig(**tcfg),
            use_protein=run.use_protein,
            progress=False,
        )
        secs, n_ep = time.perf_counter() - t0, len(history)
        emb = stored_embedding(module, trainer.data)  # what `scssl embed` stores
    if SMOOTH_K > 1:  # what `scssl embed` stores by default
        emb = smooth_embedding(emb, SMOOTH_K)
    alt = smooth_embedding(emb, VARIANT_K)
    labels, scored = obs["label"].to_numpy(), obs["scored"].to_numpy()
    return {
        "metrics": score(emb, labels, scored),
        "metrics_alt": score(alt, labels, scored),
        "train_seconds": secs,
        "n_epochs": n_ep,
    }


def _train_and_save(adata, ds: str, run: RunConfig, path: Path, key: dict) -> dict:
    """Train and score one (dataset, config, training seed) run, save it at ``path``."""
    out = _run_one(adata, run, key["train_config"])
    rec = {
        "dataset": ds,
        "config": run.name,
        "family": run.family,
        "default": run.default,
        "n_cells": int(adata.n_obs),
        "n_scored": int(adata.obs["scored"].sum()),
        "date": now(),
        "status": "ok",
        "load_avg_1min": os.getloadavg()[0],
        **key,
        **out,
    }
    write_json(path, rec)
    m = out["metrics"]
    seed = (key["train_config"] or {}).get("seed", 0)
    print(
        f"[{ds}] {run.name} seed {seed}: KMeans ARI {m['kmeans_ari']:.3f} NMI "
        f"{m['kmeans_nmi']:.3f} | Leiden ARI {m['leiden_ari']:.3f} NMI {m['leiden_nmi']:.3f}"
        f" | train {out['train_seconds']:.0f}s, {out['n_epochs']} epochs",
        flush=True,
    )
    return rec


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)
    logging.getLogger("scssl").setLevel(logging.WARNING)
    runs_dir = args.out_json.parent / f"{args.out_json.stem}_runs"
    grid, notes = build_grid(FAMILIES, gmt=args.gmt)
    selected = [
        r
        for r in grid
        if r.family == PCA
        or args.configs is None
        or any(re.search(c, r.name) for c in args.configs)
    ]
    results: list[dict] = []
    t_all = time.perf_counter()
    for ds in args.datasets:
        adata, unloadable = None, False
        for order, run in enumerate(grid):
            if not run.runs_on(ds):
                continue
            seeds = [0] if run.family == PCA else args.train_seeds
            extra = [] if run.family == PCA else saved_seeds(runs_dir, ds, _slug(run.name))
            recs: list[dict] = []
            for seed in sorted(set(seeds) | set(extra)):
                path = run_path(runs_dir, ds, _slug(run.name), seed)
                tcfg = _train_config(run, args.max_epochs, seed)
                key = _key(run, tcfg)
                wanted = run in selected and seed in seeds and not args.render_only
                redo = wanted and args.rerun is not None and re.search(args.rerun, run.name)
                saved = None if redo else _load_saved(path, key)
                if saved is None and not redo and not wanted and args.keep_earlier:
                    saved = _load_saved(path, key, earlier=True)
                if saved is not None or not wanted:
                    recs += [saved] if saved is not None else []
                    continue
                if adata is None:
                    t0 = time.perf_counter()
                    try:
                        adata = load_benchmark(ds, args.data_dir)
                    except Exception as err:
                        notes.append(f"{ds}: could not be loaded ({err}).")
                        unloadable = True
                        break
                    print(f"[{ds}] loaded {adata.shape} in {time.perf_counter() - t0:.0f}s")
                print(f"[{ds}] {run.name} (training seed {seed}) ...", flush=True)
                try:
                    recs.append(_train_and_save(adata, ds, run, path, key))
                except Exception as err:
                    traceback.print_exc()
                    notes.append(f"{ds} / {run.name}: failed ({type(err).__name__}: {err}).")
            if recs:
                results += _rows(merge_seeds(recs), order, run.label)
            if unloadable:
                break
    meta = {
        "date": now(),
        "command": command_line(),
        "machine": machine(PACKAGES, args.threads),
        "datasets": args.datasets,
        "families": list(FAMILIES),
        "notes": notes,
        "wall_seconds": time.perf_counter() - t_all,
    }
    if args.render_only and args.out_json.is_file():
        # nothing measured: the section keeps the date and command of the last measuring run
        last = json.loads(args.out_json.read_text()).get("meta", {})
        meta.update({k: last[k] for k in ("date", "command") if k in last})
    write_json(args.out_json, {"meta": meta, "results": results})
    print(f"{len(results)} results -> {args.out_json} ({meta['wall_seconds']:.0f}s)")
    for n in notes:
        print("note:", n)
    if args.out_md.lower() != "none":
        replace_section(Path(args.out_md), SECTION, render(results, meta))
        print(f"section '{SECTION}' -> {args.out_md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
