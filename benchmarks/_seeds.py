"""Training-seed replicates of a ``quality.py`` run: where each is saved, and their mean."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np


def run_path(runs_dir: Path, dataset: str, slug: str, seed: int) -> Path:
    """The JSON of one (dataset, config, training seed) run; seed 0 keeps the plain name."""
    suffix = "" if seed == 0 else f"__seed{seed}"
    return runs_dir / f"{dataset}__{slug}{suffix}.json"


def saved_seeds(runs_dir: Path, dataset: str, slug: str) -> list[int]:
    """Training seeds with a saved run file of ``dataset`` x ``slug`` (valid or not)."""
    if not runs_dir.is_dir():
        return []
    pat = re.compile(rf"^{re.escape(dataset)}__{re.escape(slug)}(?:__seed(\d+))?\.json$")
    found = (pat.match(p.name) for p in runs_dir.iterdir())
    return sorted(int(m.group(1) or 0) for m in found if m)


def _mean_metrics(items: list[dict]) -> dict:
    out = {k: float(np.mean([m[k] for m in items])) for k in items[0]}
    aris = [m["kmeans_ari"] for m in items]
    out["kmeans_ari_sd"] = float(np.std(aris))  # now across training seeds
    return out


def merge_seeds(recs: list[dict]) -> dict:
    """One record of the runs of one (dataset, config) under several training seeds.

    Metrics are the means over the seeds; ``kmeans_ari_sd`` becomes the sd of the per-seed
    KMeans ARIs (each already a mean over KMeans seeds) and ``train_seeds`` lists the seeds.
    A single run is returned as it is, with its seed listed.
    """
    recs = sorted(recs, key=lambda r: (r.get("train_config") or {}).get("seed", 0))
    seeds = [(r.get("train_config") or {}).get("seed", 0) for r in recs]
    if len(recs) == 1:
        return {**recs[0], "train_seeds": seeds}
    out = {**recs[0], "train_seeds": seeds, "metrics": _mean_metrics([r["metrics"] for r in recs])}
    if all("metrics_alt" in r for r in recs):
        out["metrics_alt"] = _mean_metrics([r["metrics_alt"] for r in recs])
    out["train_seconds"] = float(np.mean([r["train_seconds"] for r in recs]))
    out["n_epochs"] = float(np.mean([r["n_epochs"] for r in recs]))
    earlier = next((r["earlier"] for r in recs if r.get("earlier")), None)
    if earlier:  # any run from an earlier train config marks the row
        out["earlier"] = earlier
    return out
