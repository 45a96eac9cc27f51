"""Benchmark: label transfer, marker annotation and clustering at scale (issue 4 figures).

Parts (each saved as its own JSON under ``--scratch``; ``--render-only`` rewrites the
markdown from what is saved):

- ``transfer``: Baron mouse pancreas donor 1 -> donor 2, and pbmc4k_2170 labelled cells split
  50/50 (stratified, seed 0). One default ``mae`` per data set is pretrained without labels on
  all its cells (reference + query; ``--pretrain-epochs``). Each classifier mode (knn, linear,
  full) is fine-tuned on the reference with ``scssl.tl.finetune`` (seeds ``--seeds``) and
  the query is labelled with ``scssl.tl.annotate``; the baseline is a logistic regression on
  ``obsm['X_pca']`` of the same preprocessing, fitted on the same reference cells.
- ``markers``: pbmc4k_2170 without its labels (``pbmc_human`` table) and Baron
  (``pancreas_mouse``), clustered by ``scssl.tl.cluster`` on the mae embedding.
- ``scale``: ``scssl cluster`` (neighbours, Leiden 1.0, UMAP, marker genes) as a fresh
  process on ``--scale-cells`` synthetic cells, timed.

Usage::

    python benchmarks/annotate_quality.py
    python benchmarks/annotate_quality.py --parts scale --scale-threads 2
    python benchmarks/annotate_quality.py --render-only
    python benchmarks/annotate_quality.py --parts transfer --set standardize=true \
        --scratch /tmp/annot_std --out-md none    # an opt-in encoder setting, not published
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
from _annotate_report import SECTION, render
from _quality_md import REPO, command_line, machine_facts, now, replace_section

from scssl._atomic import write_json
from scssl._cli_common import _parse_set

PACKAGES = ("scssl", "torch", "scanpy", "scikit-learn", "anndata", "leidenalg", "igraph")
SCRATCH = REPO / "benchmarks/_scratch/annotate"
# the benchmark data's labels, and the bundled tables' types, as broad blood lineages
PBMC4K_BROAD = {"T_CD4": "T", "T_CD8": "T", "B": "B", "NK": "NK", "MNP": "myeloid"}
PBMC_TABLE_BROAD = {
    "CD4 T": "T", "CD8 T": "T", "NK": "NK", "B": "B", "Plasma": "B",
    "CD14 Monocyte": "myeloid", "FCGR3A Monocyte": "myeloid", "cDC": "myeloid",
    "pDC": "myeloid", "Platelet": "platelet",
}  # fmt: skip


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--parts", nargs="+", default=["transfer", "markers", "scale"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument(
        "--pretrain-epochs", type=int, default=None, help="default: the mae train defaults"
    )
    p.add_argument(
        "--pretrain-min-steps",
        type=int,
        default=2000,
        help="encoder step budget (scssl pretrain --min-steps); 0: the mae default",
    )
    p.add_argument(
        "--encoder-seed",
        type=int,
        default=0,
        help="training seed of the transfer part's encoders; not 0: saved beside seed 0's",
    )
    p.add_argument("--threads", type=int, default=1, help="torch/BLAS threads (quality parts)")
    p.add_argument("--scale-cells", type=int, default=100_000)
    p.add_argument("--scale-threads", type=int, default=2)
    p.add_argument("--scratch", type=Path, default=SCRATCH)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--out-md", default=str(REPO / "docs/benchmarks.md"), help="'none': skip")
    p.add_argument("--render-only", action="store_true")
    p.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="mae model config of the encoders (as scssl pretrain --set); needs --out-md none",
    )
    args = p.parse_args(argv)
    try:
        args.model_config = _parse_set(tuple(args.sets), "--set")
    except Exception as err:
        p.error(str(err))
    if args.model_config and args.out_md != "none":
        p.error("--set scores a non-default encoder: give --out-md none (and a --scratch)")
    if args.encoder_seed and args.parts != ["transfer"]:
        p.error("--encoder-seed scores label transfer only: give --parts transfer")
    return args


def _encoder(
    adata, folder: Path, epochs: int | None, min_steps: int = 0, model_config=None, seed: int = 0
) -> dict:
    """Pretrain a mae (defaults, or ``model_config``; training seed ``seed``) on every cell of
    ``adata`` (no labels) once; its facts."""
    from scssl.models import config_from_dict, config_to_dict
    from scssl.models.mae import MAEConfig
    from scssl.tl.pretrain import pretrain, train_config_for
    from scssl.train import save_checkpoint

    over = {"seed": seed} if epochs is None else {"seed": seed, "max_epochs": epochs}
    if min_steps:
        over["min_steps"] = min_steps
    tcfg = train_config_for("mae", over)
    want = {
        "train_config": asdict(tcfg),
        "model_config": config_to_dict(config_from_dict(MAEConfig, dict(model_config or {}))),
    }
    if (folder / "config.json").is_file():
        saved = json.loads((folder / "config.json").read_text())
        if any(saved[k] != json.loads(json.dumps(v)) for k, v in want.items()):
            shutil.rmtree(folder)  # trained with other settings: train again
    if not (folder / "config.json").is_file():
        t0 = time.perf_counter()
        module, hist, dhash, _ = pretrain(
            adata, family="mae", model_config=model_config, train_config=tcfg, progress=False
        )
        secs = time.perf_counter() - t0
        save_checkpoint(folder, module, tcfg, history=hist, data_hash=dhash)
        (folder / "seconds.txt").write_text(f"{secs:.1f}\n")
    meta = json.loads((folder / "config.json").read_text())
    n_hist = len((folder / "history.tsv").read_text().splitlines()) - 1
    return {
        "epochs": n_hist,
        "max_epochs": meta["train_config"]["max_epochs"],
        "min_steps": meta["train_config"].get("min_steps", 0),
        "seconds": float((folder / "seconds.txt").read_text()),
        "n_cells": adata.n_obs,
        "model_config": meta["model_config"],
    }


def _encoder_of(adata, folder: Path, args: argparse.Namespace) -> dict:
    """``_encoder`` with the command line's encoder settings."""
    return _encoder(
        adata, folder, args.pretrain_epochs, args.pretrain_min_steps, args.model_config,
        args.encoder_seed,
    )  # fmt: skip


def _seed_tag(args: argparse.Namespace) -> str:
    """Suffix of the scratch names of a run with encoder seed not 0 ('' for seed 0)."""
    return f"_encoder_seed{args.encoder_seed}" if args.encoder_seed else ""


def _split(name: str, adata) -> tuple[np.ndarray, np.ndarray, str]:
    if name == "baron_mouse":
        donor = adata.obs["batch"].astype(str).to_numpy()
        return donor == "mouse1", donor == "mouse2", "donor 1 (mouse1) -> donor 2 (mouse2)"
    from sklearn.model_selection import train_test_split

    idx = np.flatnonzero(adata.obs["scored"].to_numpy())
    labels = adata.obs["label"].astype(str).to_numpy()[idx]
    tr, te = train_test_split(idx, test_size=0.5, random_state=0, stratify=labels)
    ref, query = np.zeros(adata.n_obs, bool), np.zeros(adata.n_obs, bool)
    ref[tr], query[te] = True, True
    return ref, query, "labelled cells split 50/50 (stratified, seed 0)"


def _scores(truth: np.ndarray, pred: np.ndarray) -> dict:
    from scssl.tl._metrics import classification

    m = classification(truth, pred)
    return {k: m[k] for k in ("accuracy", "macro_f1", "per_class_f1")}


def transfer(name: str, args, data_dir) -> dict:
    from sklearn.linear_model import LogisticRegression

    from scssl.io.benchmark_data import load_benchmark
    from scssl.models.classifier import MODES, ClassifierConfig
    from scssl.tl.annotate import annotate
    from scssl.tl.cluster import cluster
    from scssl.tl.embed import embed
    from scssl.tl.finetune import finetune, finetune_train_config
    from scssl.train.checkpoint import save_classifier

    adata = load_benchmark(name, data_dir)
    enc_dir = args.scratch / f"{name}_mae{_seed_tag(args)}"
    enc = _encoder_of(adata, enc_dir, args)
    ref_m, q_m, how = _split(name, adata)
    ref, query = adata[ref_m].copy(), adata[q_m].copy()
    truth = query.obs["label"].astype(str).to_numpy()
    t0 = time.perf_counter()
    lr = LogisticRegression(max_iter=5000).fit(ref.obsm["X_pca"], ref.obs["label"].astype(str))
    base = _scores(truth, lr.predict(query.obsm["X_pca"]))
    base["seconds"] = time.perf_counter() - t0
    embed(query, enc_dir)  # the query's kNN graph for smoothing, as scssl cluster builds it
    cluster(query, use_rep="X_scssl_mae", resolutions=(1.0,), umap=False)
    runs = []
    for mode in MODES:
        for seed in args.seeds:
            cfg = ClassifierConfig(mode=mode)
            tcfg = finetune_train_config({"seed": seed}, mode=mode)
            t0 = time.perf_counter()
            res = finetune(ref, enc_dir, label_key="label", config=cfg, train_config=tcfg,
                           progress=False)  # fmt: skip
            secs = time.perf_counter() - t0
            clf_dir = args.scratch / f"{name}{_seed_tag(args)}_clf_{mode}_{seed}"
            folder = save_classifier(
                clf_dir, res.module, res.train_config,
                history=res.history, data_hash=res.data_hash, encoder=res.encoder,
                summary=res.summary,
            )  # fmt: skip
            row = {"mode": mode, "seed": seed, "seconds": secs, "epochs": len(res.history)}
            for tag, smooth, conf in (("cell", 0.0, 0.0), ("smoothed", 0.5, 0.0),
                                      ("default", 0.5, 0.5)):  # fmt: skip
                q = query.copy()
                annotate(q, classifier=folder, smooth=smooth, min_confidence=conf)
                pred = q.obs["scssl_label"].astype(str).to_numpy()
                row[tag] = _scores(truth, pred)
                row[tag]["unknown"] = float((pred == "Unknown").mean())
            runs.append(row)
            print(name, mode, seed, f"{row['cell']['macro_f1']:.4f}", flush=True)
        f1 = [r["cell"]["macro_f1"] for r in runs if r["mode"] == mode]
        print(name, mode, f"mean macro-F1 per cell {np.mean(f1):.3f}", flush=True)
    return {
        "dataset": name,
        "split": how,
        "n_reference": int(ref_m.sum()),
        "n_query": int(q_m.sum()),
        "n_classes": len(set(truth)),
        "reference_counts": ref.obs["label"].astype(str).value_counts().to_dict(),
        "encoder": enc,
        "baseline": base,
        "runs": runs,
    }


def markers(args, data_dir) -> dict:
    from scssl.io.benchmark_data import load_benchmark
    from scssl.tl.annotate import annotate
    from scssl.tl.cluster import cluster
    from scssl.tl.embed import embed

    out = {}
    for name, table, broad_truth, broad_pred in (
        ("pbmc4k_2170", "pbmc_human", PBMC4K_BROAD, PBMC_TABLE_BROAD),
        ("baron_mouse", "pancreas_mouse", None, None),
    ):
        adata = load_benchmark(name, data_dir)
        enc_dir = args.scratch / f"{name}_mae"
        _encoder_of(adata, enc_dir, args)
        embed(adata, enc_dir)
        cluster(adata, use_rep="X_scssl_mae", resolutions=(1.0,), umap=False)
        scored = adata.obs["scored"].to_numpy()
        truth = adata.obs["label"].astype(str).to_numpy()[scored]
        if broad_truth:
            truth = np.array([broad_truth[t] for t in truth])
        res: dict = {"table": table, "n_scored": int(scored.sum())}
        for smooth in (0.0, 0.5):
            t0 = time.perf_counter()
            summary = annotate(adata, markers=table, smooth=smooth)
            secs = time.perf_counter() - t0
            for key in ("scssl_label", "scssl_label_cluster"):
                pred = adata.obs[key].astype(str).to_numpy()[scored]
                if broad_pred:
                    pred = np.array([broad_pred.get(p, p) for p in pred])
                s = _scores(truth, pred)
                s["unknown"] = float((pred == "Unknown").mean())
                res[f"{key}@{smooth}"] = s
            res[f"seconds@{smooth}"] = secs
        res["cluster_key"] = summary["cluster_key"]
        res["n_clusters"] = len(summary["clusters"])
        out[name] = res
        print(name, {k: v["accuracy"] for k, v in res.items() if isinstance(v, dict)}, flush=True)
    return out


def scale(args) -> dict:
    """``scssl preprocess`` then ``scssl cluster`` on synthetic cells, each a fresh process."""
    from _synthetic import generate

    n = args.scale_cells
    raw = args.scratch / f"scale_{n}.h5ad"
    if not raw.is_file():
        ns = argparse.Namespace(n_cells=n, n_genes=5000, counts_per_cell=2000, seed=0)
        generate(ns, raw, raw.with_suffix(".json"))
    pre = args.scratch / f"scale_{n}_pre.h5ad"
    scssl = [sys.executable, "-m", "scssl.cli"]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.scale_threads)}
    if not pre.is_file():
        subprocess.run([*scssl, "preprocess", "--input", raw, "--output", pre, "--threads",
                        str(args.scale_threads)], check=True, env=env)  # fmt: skip
    out = args.scratch / f"scale_{n}_cl.h5ad"
    cmd = [*scssl, "cluster", "--input", str(pre), "--output", str(out), "--use-rep", "X_pca",
           "--threads", str(args.scale_threads), "--seed", "0"]  # fmt: skip
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-v", *cmd], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(proc.stderr[-3000:])
    rss = next(int(ln.split(":")[1]) for ln in proc.stderr.splitlines() if "Maximum resident" in ln)
    summary = json.loads((out.parent / f"{out.stem}_clusters.json").read_text())
    meta = json.loads(raw.with_suffix(".json").read_text())
    return {
        "n_cells": n,
        "n_genes": meta.get("n_genes"),
        "embedding": "X_pca (50 PCs of 2,000 HVGs, scssl preprocess)",
        "command": " ".join(str(c).replace(f"{REPO}/", "") for c in ["scssl", *cmd[3:]]),
        "threads": args.scale_threads,
        "wall_s": wall,
        "peak_rss_gib": rss / 1024**2,
        "seconds": summary["seconds"],
        "n_clusters": summary["n_clusters"],
        "neighbors": summary["params"]["neighbors"],
        "load_before": load,
        "load_after": os.getloadavg()[0],
    }


def main(argv: list[str] | None = None) -> None:
    args = _args(argv)
    args.scratch.mkdir(parents=True, exist_ok=True)
    if not args.render_only:
        import torch
        from threadpoolctl import threadpool_limits

        torch.set_num_threads(args.threads)
        threadpool_limits(args.threads)
        for part in args.parts:
            t0, load0 = time.perf_counter(), os.getloadavg()[0]
            if part == "transfer":
                res = {n: transfer(n, args, args.data_dir) for n in ("baron_mouse", "pbmc4k_2170")}
            elif part == "markers":
                res = markers(args, args.data_dir)
            elif part == "scale":
                res = scale(args)
            else:
                raise SystemExit(f"unknown part {part!r}")
            name = f"{part}{_seed_tag(args)}.json"
            write_json(args.scratch / name, {
                "result": res, "when": now(), "command": command_line(),
                "machine": machine_facts(PACKAGES), "threads": args.threads,
                "seeds": args.seeds, "seconds": time.perf_counter() - t0,
                "load": [load0, os.getloadavg()[0]],
            })  # fmt: skip
    files = [args.scratch / f"{p}.json" for p in ("transfer", "markers", "scale")]
    files += sorted(args.scratch.glob("transfer_encoder_seed*.json"))
    saved = {f.stem: json.loads(f.read_text()) for f in files if f.is_file()}
    if args.out_md != "none" and saved:
        replace_section(Path(args.out_md), SECTION, render(saved))
        print(f"wrote {SECTION!r} in {args.out_md}")


if __name__ == "__main__":
    main()
