"""Benchmark: the `mae` embedding as the encoder outputs it vs scaled to unit length.

For each labelled data set (``scssl.io.benchmark_data``) and training seed, train ``mae`` with
its defaults (``scssl.tl.pretrain``, CPU), embed every cell (``embed_module``: the raw
encoder output) and score the raw and the unit-length embedding (what ``scssl embed``
stores for ``mae``) with KMeans at the true number of classes (mean of 3 KMeans seeds) and
Leiden (``_quality_score``). PCA and unit-length PCA are scored alike, once per data set.
Writes the section ``## Unit-length embeddings`` of docs/benchmarks.md.

Usage::

    python benchmarks/unit_embedding.py --seeds 0 1 2
    python benchmarks/unit_embedding.py --render-only
"""

from __future__ import annotations

import sys

import numpy as np
from _quality_md import dataset_args, machine, reproduce, seeded_section_main, table
from _quality_score import score

from scssl.io.benchmark_data import load_benchmark
from scssl.tl.smooth import unit_length

SECTION = "## Unit-length embeddings"
PACKAGES = ("scssl", "torch", "scikit-learn", "scanpy")


def _pair(emb: np.ndarray, labels: np.ndarray, scored: np.ndarray) -> dict:
    keep = ("kmeans_ari", "leiden_ari", "leiden_n_clusters")
    raw, one = score(emb, labels, scored), score(unit_length(emb), labels, scored)
    return {"raw": {k: raw[k] for k in keep}, "unit": {k: one[k] for k in keep}}


def run(datasets: list[str], seeds: list[int]) -> dict:
    from scssl.tl.embed import embed_module
    from scssl.tl.pretrain import pretrain, train_config_for

    out: dict = {}
    for ds in datasets:
        adata = load_benchmark(ds)
        labels = adata.obs["label"].to_numpy().astype(str)
        scored = adata.obs["scored"].to_numpy()
        rec = {"pca": _pair(adata.obsm["X_pca"], labels, scored), "mae": {}}
        for seed in seeds:
            tcfg = train_config_for("mae", {"seed": seed, "device": "cpu"})
            module, _, _, tr = pretrain(
                adata, family="mae", train_config=tcfg, use_protein=False, progress=False
            )
            rec["mae"][str(seed)] = _pair(embed_module(module, tr.data), labels, scored)
            m = rec["mae"][str(seed)]
            print(
                f"[{ds}] seed {seed}: KMeans ARI raw {m['raw']['kmeans_ari']:.3f} "
                f"unit {m['unit']['kmeans_ari']:.3f}",
                flush=True,
            )
        out[ds] = rec
    return out


def render(res: dict) -> str:
    rows, wins, n, means = [], 0, 0, {"raw": [], "unit": [], "pca": [], "pca_unit": []}
    for ds, rec in res["results"].items():
        seeds = sorted(rec["mae"], key=int)
        raw = [rec["mae"][s]["raw"] for s in seeds]
        one = [rec["mae"][s]["unit"] for s in seeds]
        wins += sum(u["kmeans_ari"] >= r["kmeans_ari"] for r, u in zip(raw, one, strict=True))
        n += len(seeds)
        km_raw = float(np.mean([r["kmeans_ari"] for r in raw]))
        km_one = float(np.mean([u["kmeans_ari"] for u in one]))
        means["raw"].append(km_raw)
        means["unit"].append(km_one)
        means["pca"].append(rec["pca"]["raw"]["kmeans_ari"])
        means["pca_unit"].append(rec["pca"]["unit"]["kmeans_ari"])
        rows.append(
            [
                ds,
                ", ".join(f"{r['kmeans_ari']:.3f}" for r in raw),
                ", ".join(f"{u['kmeans_ari']:.3f}" for u in one),
                f"{km_raw:.3f} → {km_one:.3f}",
                f"{np.mean([r['leiden_ari'] for r in raw]):.3f} → "
                f"{np.mean([u['leiden_ari'] for u in one]):.3f}",
                f"{rec['pca']['raw']['kmeans_ari']:.3f} → {rec['pca']['unit']['kmeans_ari']:.3f}",
            ]
        )
    header = [
        "data set",
        "mae KMeans ARI, raw (per seed)",
        "unit length (per seed)",
        "mean raw → unit",
        "Leiden ARI raw → unit",
        "PCA raw → unit",
    ]
    mean = {k: float(np.mean(v)) for k, v in means.items()}
    lines = [
        SECTION,
        "",
        f"Measured {res['date']} with `benchmarks/unit_embedding.py`: `mae` defaults trained "
        f"with training seeds {', '.join(map(str, res['seeds']))} on each labelled data set "
        "(as in 'Embedding quality'); each embedding scored as the encoder outputs it (raw) "
        "and scaled to unit length (what `scssl embed` stores for `mae`), KMeans at the true "
        "number of classes (mean of 3 KMeans seeds) and Leiden (resolution 1.0).",
        "",
        machine(PACKAGES, res["threads"]),
        "",
        *table(header, rows, "lllrrr"),
        "",
        f"Unit length ≥ raw in {wins} of {n} runs; mean KMeans ARI over the data sets "
        f"{mean['raw']:.3f} → {mean['unit']:.3f}. PCA scaled to unit length: "
        f"{mean['pca']:.3f} → {mean['pca_unit']:.3f} (centred principal components carry no "
        "such direction/length split, so the scaling stays a `mae` property, not a default "
        "for every embedding).",
        "",
        *reproduce(res["command"]),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    return seeded_section_main(
        argv,
        doc=__doc__,
        section=SECTION,
        name="unit_embedding",
        run=lambda args: run(args.datasets, args.seeds),
        render=render,
        add_args=dataset_args,
    )


if __name__ == "__main__":
    sys.exit(main())
