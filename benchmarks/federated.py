"""Benchmark: federated pretraining (FedAvg, FedProx) against central and site-only training.

Splits (two sites each): Baron mouse pancreas donor 1 / donor 2; Kang 2018 PBMC ctrl /
IFN-beta stim; and a non-IID split of the pooled Baron cells in which each cell type sits
mostly (90 %) at one site. Every site preprocesses its own cells (``scssl.pp.preprocess``,
2000 HVGs); the shared gene list is the union of the two sites' HVG names (names only).

Encoders, all ``mae`` with the family's default model config and train config read at run
time except the batch (``--batch-size``, 128) and learning rate (``--lr``, 1e-3): a site of
~1,000 cells is 2 steps an epoch at the mae default of 512. Each is trained on the shared
gene list with the same budget of R x E epochs over the cells it sees:

- ``fedavg``: R rounds x E local epochs per site, FedAvg weighted by cells;
- ``fedprox``: the same with FedProx's proximal term (``--mu``);
- ``central``: one model on the pooled cells, ``max_epochs = R x E``;
- ``site A only`` / ``site B only``: one model on one site's cells, ``max_epochs = R x E``.

Each is scored by KMeans ARI at the true number of classes (mean of 3 KMeans seeds,
``_quality_score.kmeans_scores``) on the pooled cells and on each site's cells, for 3
training seeds (mean +- sd). Kang has condition labels only: its cell types are a proxy,
broad PBMC types called from the bundled ``pbmc_human`` marker table (``scssl annotate``'s
marker scoring on each cell's log-normalized expression), scoring only cells whose best
type leads the runner-up by a margin.

Usage::

    python benchmarks/federated.py                    # everything, writes docs/benchmarks.md
    python benchmarks/federated.py --splits baron --seeds 0 --out-md none
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import torch
from _quality_md import REPO, command_line, fmt, machine, now, replace_section, reproduce, table
from _quality_score import kmeans_scores

from scssl import pp, steps_fed
from scssl.data.prepare import build_cell_data
from scssl.fed.vocab import site_genes
from scssl.io.benchmark_data import default_data_dir, load_benchmark
from scssl.tl.embed import embed_module
from scssl.tl.pretrain import pretrain, train_config_for
from scssl.train.checkpoint import load_checkpoint

SECTION = "## Federated pretraining"
PACKAGES = ("scssl", "torch", "scanpy", "scikit-learn", "anndata")
SPLITS = ("baron", "kang", "baron_noniid")
BROAD = {
    "CD4 T": "T",
    "CD8 T": "T",
    "NK": "NK",
    "B": "B",
    "Plasma": "B",
    "CD14 Monocyte": "Monocyte",
    "FCGR3A Monocyte": "Monocyte",
    "cDC": "DC",
    "pDC": "DC",
    "Platelet": "Platelet",
}


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--splits", nargs="+", default=list(SPLITS), choices=SPLITS)
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--local-epochs", type=int, default=None, help="default: max_epochs / rounds")
    p.add_argument("--mu", type=float, default=0.01, help="FedProx proximal weight")
    p.add_argument(
        "--batch-size",
        type=int,
        default=128,
        help="every encoder's batch: sites of ~1,000 cells get 2 steps an epoch at mae's 512",
    )
    p.add_argument("--lr", type=float, default=1e-3, help="every encoder's learning rate")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--workdir", type=Path, default=REPO / "benchmarks/_scratch/federated")
    p.add_argument("--out-md", default=str(REPO / "docs/benchmarks.md"), help="'none': skip")
    p.add_argument("--render-only", action="store_true", help="markdown from the saved JSONs")
    return p.parse_args(argv)


# --- data ------------------------------------------------------------------------------
def _site(adata: ad.AnnData) -> ad.AnnData:
    """One site's own preprocessing (no information from the other site)."""
    a = ad.AnnData(
        X=adata.layers["counts"].copy(),
        obs=adata.obs[["label", "scored"]].copy(),
        var=adata.var[["gene_ids"]].copy(),
        layers={"counts": adata.layers["counts"].copy()},
    )
    return pp.preprocess(a, pp.PreprocessParams(n_top_genes=2000, batch_key=None))


def _kang_raw(root: Path) -> ad.AnnData:
    from scssl.io import read_sample

    parts = []
    for cond in ("ctrl", "stim"):
        a = read_sample(root / "cellranger" / f"kang2018_ifnb_{cond}", sample=cond)
        a.obs["batch"] = cond
        parts.append(a)
    pooled = ad.concat(parts, join="inner", merge="same")
    pooled.layers["counts"] = pooled.layers["counts"].tocsr().astype(np.float32)
    pooled.X = pooled.layers["counts"]
    pooled.var["gene_ids"] = pooled.var_names.astype(str)
    # proxy labels: broad PBMC types from the bundled marker table on log-normalized counts
    from scssl.io.markers import read_markers
    from scssl.tl.marker_score import score_markers

    norm = pp.preprocess(pooled.copy(), pp.PreprocessParams(n_top_genes=2000, batch_key=None))
    S = score_markers(norm, read_markers("pbmc_human"), graph=None).scores
    broad = S.T.groupby(S.columns.map(BROAD)).max().T
    top2 = np.sort(broad.to_numpy(), axis=1)[:, -2:]
    label = broad.columns.to_numpy()[broad.to_numpy().argmax(axis=1)]
    ok = (top2[:, 1] >= 0.1) & (top2[:, 1] - top2[:, 0] >= 0.1)
    pooled.obs["label"] = np.where(ok, label, "?")
    pooled.obs["scored"] = ok
    return pooled


def load_split(name: str, root: Path) -> tuple[dict[str, ad.AnnData], str]:
    """Two preprocessed sites and a note on the labels."""
    if name == "kang":
        pooled = _kang_raw(root)
        note = "proxy labels: broad PBMC types from pbmc_human marker scores"
        groups = pooled.obs["batch"].astype(str).to_numpy()
    else:
        pooled = load_benchmark("baron_mouse", root, preprocess=False)
        note = "published cell types"
        groups = pooled.obs["batch"].astype(str).to_numpy()
        if name == "baron_noniid":
            rng = np.random.default_rng(0)
            labels = pooled.obs["label"].astype(str).to_numpy()
            sizes = pd.Series(labels).value_counts()
            home = {t: ("A", "B")[i % 2] for i, t in enumerate(sizes.index)}
            away = {"A": "B", "B": "A"}
            groups = np.array(
                [home[t] if rng.random() < 0.9 else away[home[t]] for t in labels], dtype=object
            )
            note = "published cell types; each type 90 % at one site (types alternate by size)"
    sites = {}
    for g in sorted(set(groups)):
        sites[str(g)] = _site(pooled[groups == g].copy())
    return sites, note


# --- training --------------------------------------------------------------------------
def _embed(module, adata: ad.AnnData) -> np.ndarray:
    data, _ = build_cell_data(adata, module.spec)
    return embed_module(module, data)


def _central(adata: ad.AnnData, genes: list[str], epochs: int, seed: int, train: dict):
    a = adata.copy()
    a.var["highly_variable"] = a.var_names.isin(genes)
    tcfg = train_config_for("mae", {**train, "max_epochs": epochs, "seed": seed, "device": "cpu"})
    module, hist, _, _ = pretrain(
        a, family="mae", train_config=tcfg, batch_key=None, progress=False
    )
    return module, len(hist)


def _pool(sites: dict[str, ad.AnnData], genes: list[str]) -> ad.AnnData:
    parts = []
    for name, a in sites.items():
        b = a[:, a.var_names.isin(genes)].copy()
        b.obs["site"] = name
        parts.append(b)
    pooled = ad.concat(parts, join="outer", merge="same", fill_value=0)
    pooled.uns["log1p"] = {"base": None}
    pooled.layers["counts"] = pooled.layers["counts"].tocsr()
    return pooled


def _scores(embs: dict[str, np.ndarray], pooled: ad.AnnData) -> dict[str, float]:
    labels = pooled.obs["label"].astype(str).to_numpy()
    scored = pooled.obs["scored"].to_numpy(bool)
    site = pooled.obs["site"].astype(str).to_numpy()
    out = {}
    for where, mask in [("pooled", np.ones(len(site), bool))] + [
        (s, site == s) for s in sorted(set(site))
    ]:
        emb = embs[where] if where in embs else embs["pooled"][mask]
        k = len(np.unique(labels[mask & scored]))
        out[where] = kmeans_scores(emb, labels[mask], scored[mask], k)["kmeans_ari"]
    return out


def run_split(name: str, args: argparse.Namespace, root: Path, budget: tuple[int, int]) -> dict:
    rounds, local = budget
    train = {"batch_size": args.batch_size, "lr": args.lr}
    t0 = time.perf_counter()
    sites, note = load_split(name, root)
    names = sorted(sites)
    genes = list(dict.fromkeys(g for s in names for g in site_genes(sites[s])))
    pooled = _pool(sites, genes)
    work = args.workdir / name
    for s in names:
        steps_fed.io.write_h5ad(sites[s], work / f"{s}.h5ad")
    results: dict[str, dict[str, list[float]]] = {}
    epochs_run: dict[str, list[int]] = {}

    def add(enc: str, scores: dict[str, float], n_epochs: int) -> None:
        for k, v in scores.items():
            results.setdefault(enc, {}).setdefault(k, []).append(v)
        epochs_run.setdefault(enc, []).append(n_epochs)
        print(f"  {name} {enc}: " + ", ".join(f"{k} {v:.3f}" for k, v in scores.items()))

    for seed in args.seeds:
        for enc, mu in (("fedavg", 0.0), ("fedprox", args.mu)):
            glob = steps_fed.run_rounds(
                {s: work / f"{s}.h5ad" for s in names},
                work / f"{enc}_{seed}",
                rounds=rounds,
                local_epochs=local,
                mu=mu,
                seed=seed,
                train_overrides=train,
            )
            module, _ = load_checkpoint(glob)
            add(enc, _scores({"pooled": _embed(module, pooled)}, pooled), rounds * local)
        module, n = _central(pooled, genes, rounds * local, seed, train)
        add("central", _scores({"pooled": _embed(module, pooled)}, pooled), n)
        for s in names:
            module, n = _central(sites[s], genes, rounds * local, seed, train)
            add(f"site {s} only", _scores({"pooled": _embed(module, pooled)}, pooled), n)
    return {
        "split": name,
        "note": note,
        "sites": {s: int(sites[s].n_obs) for s in names},
        "n_classes": {
            s: int(sites[s].obs["label"][sites[s].obs["scored"]].nunique()) for s in names
        },
        "n_scored": int(pooled.obs["scored"].sum()),
        "n_genes": len(genes),
        "rounds": rounds,
        "local_epochs": local,
        "mu": args.mu,
        "train": train,
        "seeds": args.seeds,
        "results": results,
        "epochs_run": epochs_run,
        "seconds": time.perf_counter() - t0,
    }


# --- report ----------------------------------------------------------------------------
def _ms(v: list[float]) -> str:
    return f"{np.mean(v):.3f} ± {np.std(v):.3f}" if len(v) > 1 else fmt(v[0])


def render(runs: list[dict], args: argparse.Namespace, secs: float) -> str:
    r0 = runs[0]
    lines = [
        SECTION,
        "",
        f"*{now()}; written by `benchmarks/federated.py`.* Two sites per split; every site "
        "preprocesses its own cells (2000 HVGs) and the shared gene list is the union of the "
        "two sites' HVG names. All encoders are `mae` with the family's default model and "
        f"train config except batch {r0.get('train', {}).get('batch_size', 'default')} and "
        f"learning rate {r0.get('train', {}).get('lr', 'default')}; "
        f"budget R = {r0['rounds']} rounds x E = {r0['local_epochs']} local "
        f"epochs for the federated models (FedProx mu = {r0['mu']}), "
        f"{r0['rounds'] * r0['local_epochs']} epochs for the central and site-only models "
        "(early stopping as in `scssl pretrain`). "
        "Score: KMeans ARI at the true number of classes, mean of 3 KMeans seeds, on the "
        "pooled cells and on each site's cells; mean ± sd over training seeds "
        f"{', '.join(map(str, r0['seeds']))}.",
        "",
    ]
    for run in runs:
        s1, s2 = sorted(run["sites"])
        lines += [
            f"**{run['split']}**: sites {s1} ({run['sites'][s1]} cells, {run['n_classes'][s1]} "
            f"classes) and {s2} ({run['sites'][s2]} cells, {run['n_classes'][s2]} classes), "
            f"{run['n_genes']} shared genes, {run['n_scored']} scored cells; {run['note']}.",
            "",
        ]
        rows = []
        for enc, res in run["results"].items():
            rows.append([f"`{enc}`", _ms(res["pooled"]), _ms(res[s1]), _ms(res[s2])])
        lines += table(["encoder", "ARI pooled", f"ARI on {s1}", f"ARI on {s2}"], rows)
        res = run["results"]
        fed, cen = np.mean(res["fedavg"]["pooled"]), np.mean(res["central"]["pooled"])
        other = {s1: s2, s2: s1}
        pairs = [
            (s, o, np.mean(res["fedavg"][o]), np.mean(res[f"site {s} only"][o]))
            for s, o in other.items()
        ]
        beats = all(f > s for _, _, f, s in pairs)
        detail = "; ".join(f"on {o}'s cells {f:.3f} vs {s}-only {so:.3f}" for s, o, f, so in pairs)
        # the smallest margin beside the spread of the training seeds: is it more than noise?
        margin = min(f - so for _, _, f, so in pairs)
        sd = max(
            np.std(res[e][o], ddof=1)
            for s, o in other.items()
            for e in ("fedavg", f"site {s} only")
        )
        se = sd * np.sqrt(2 / len(run["seeds"]))
        noise = (
            f" Smallest margin {margin:+.3f}; training-seed sample sd (n - 1) up to {sd:.3f}, "
            f"so the standard error of a difference of two {len(run['seeds'])}-seed means is "
            f"about {se:.3f}"
            + (": the margin is within the noise." if abs(margin) < 2 * se else ".")
        )
        lines += [
            "",
            f"FedAvg - central on pooled cells: {fed - cen:+.3f} (target: not more than 0.03 "
            f"below: {'met' if fed - cen >= -0.03 else 'not met'}). FedAvg above each "
            f"site-only encoder on the other site's cells: {'yes' if beats else 'no'} "
            f"({detail}).{noise}",
            "",
        ]
    lines += [
        machine(PACKAGES, args.threads) + f" Total {secs / 60:.1f} min.",
        "",
        *reproduce(command_line().replace(" --render-only", "")),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    torch.set_num_threads(args.threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    root = Path(args.data_dir) if args.data_dir else default_data_dir()
    if root is None:
        print("no benchmark data folder: set $SCSSL_DATA_DIR", file=sys.stderr)
        return 2
    max_epochs = train_config_for("mae").max_epochs
    local = args.local_epochs or max(1, max_epochs // args.rounds)
    t0 = time.perf_counter()
    runs = []
    for name in args.splits if not args.render_only else ():
        print(f"{name}: {args.rounds} rounds x {local} local epochs", flush=True)
        run = run_split(name, args, root, (args.rounds, local))
        runs.append(run)
        args.workdir.mkdir(parents=True, exist_ok=True)
        (args.workdir / f"{name}.json").write_text(json.dumps(run, indent=1))
    secs = time.perf_counter() - t0
    if args.render_only:
        runs = [json.loads((args.workdir / f"{n}.json").read_text()) for n in args.splits]
        secs = sum(r["seconds"] for r in runs)
    md = render(runs, args, secs)
    print(md)
    if args.out_md != "none":
        replace_section(Path(args.out_md), SECTION, md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
