"""``summary.json``: one machine-readable record of a run for a LIMS (samples, model, metrics)."""

from __future__ import annotations

from typing import Any

from .. import __version__
from .checks import sample_warnings
from .context import ReportContext
from .facts import sample_facts
from .load import ModelRun, qc_summary, sample_rows

FORMAT = "scssl-run-summary"
FORMAT_VERSION = 1


def all_sample_facts(ctx: ReportContext) -> dict[str, dict[str, Any]]:
    """Facts and warnings of every sample of the run, in order of appearance."""
    out = {}
    samples = ctx.run.obs["sample"].astype(str).unique().tolist() if "sample" in ctx.run.obs else []
    for sample in samples:
        rows = sample_rows(ctx.run, sample)
        qc, _ = qc_summary(ctx.qc_dir, sample, ctx.run.uns)
        facts = sample_facts(ctx.run, rows, sample, ctx.keys, qc, ctx.compositions)
        facts["warnings"] = sample_warnings(facts, ctx.thresholds)
        out[sample] = facts
    return out


def model_record(m: ModelRun) -> dict[str, Any]:
    """Family, configs, seed, data hash and the loss figures of one checkpoint."""
    h = m.history
    rec: dict[str, Any] = {
        "name": m.name,
        "path": str(m.path),
        **{
            k: m.config[k]
            for k in ("family", "task", "seed", "data_hash", "scssl_version")
            if k in m.config
        },
        "model_config": m.config.get("model_config", {}),
        "train_config": m.config.get("train_config", {}),
        "n_genes": len(m.config.get("spec", {}).get("genes", []) or []) or None,
        "epochs": int(h["epoch"].max()),
        "final_train_loss": float(h["train_loss"].iloc[-1]),
    }
    if "val_loss" in h and h["val_loss"].notna().any():
        best = h.loc[h["val_loss"].idxmin()]
        rec["best_val_loss"] = float(best["val_loss"])
        rec["best_epoch"] = int(best["epoch"])
    return rec


def run_summary(ctx: ReportContext) -> dict[str, Any]:
    """The whole run as plain JSON types."""
    run = ctx.run
    samples = all_sample_facts(ctx)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "scssl_version": __version__,
        "generated": ctx.generated,
        "run": {
            "name": ctx.run_name,
            "input": str(run.path),
            "n_cells": int(run.obs.shape[0]),
            "n_genes": run.n_vars,
            "n_samples": len(samples),
            "keys": {k: v for k, v in vars(ctx.keys).items()},
            "embeddings": {
                k: list(v) for k, v in run.obsm_shapes.items() if k.startswith("X_scssl_")
            },
            "n_warnings": sum(len(f["warnings"]) for f in samples.values()),
        },
        "samples": samples,
        "models": [model_record(m) for m in ctx.models],
        "metrics": ctx.metrics,
        "warning_thresholds": ctx.thresholds.to_dict(),
        "versions": ctx.versions,
    }
