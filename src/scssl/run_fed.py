"""``scssl run`` with ``federated: true``: sites as groups of samples, on one machine.

A site is the samplesheet's ``site`` column (each sample its own site without it). Each site
merges and preprocesses its own samples; the rounds of federated pretraining run as
``scssl federate`` does (local training per site, FedAvg); then every site embeds, clusters,
annotates, evaluates and reports its own cells with the final global model::

    ingest/<sample>.h5ad  qc/<sample>...          as without federation
    sites/<site>/merge/merged.h5ad
    sites/<site>/preprocess/preprocessed.h5ad     + preprocessed_hvg.h5ad
    federated/genes/<site>.txt                    each site's HVG names (without --fed_genes)
    federated/global/                             the final global model (a checkpoint folder,
                                                  per-round losses, scssl_fedloss_mqc.json)
    federated/sites/<site>/                       what the site sent in the last round
    sites/<site>/{embed,cluster,finetune,annotate,evaluate,report,pipeline_info}/
    multiqc/                                      one report over every site
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from . import steps, steps_fed
from ._atomic import write_text
from ._log import logger
from .run import _MQC_FOLDERS, _versions, downstream, multiqc, preprocess_params


def site_groups(sheet: pd.DataFrame) -> dict[str, list[str]]:
    """Site -> its samples, in samplesheet order (a sample without a site is its own)."""
    groups: dict[str, list[str]] = {}
    for sample, row in sheet.iterrows():
        site = row.get("site") if "site" in sheet.columns else None
        name = str(sample) if site is None or pd.isna(site) else str(site)
        groups.setdefault(name, []).append(str(sample))
    return groups


def run_federated(
    p: dict[str, Any], sheet: pd.DataFrame, qc_files: dict[str, Path], out: Path, device: str
) -> Path:
    """Per site merge + preprocess, federated rounds, then per site the usual downstream steps.

    Returns the ``sites/`` folder.
    """
    groups = site_groups(sheet)
    pre = {}
    for site, samples in groups.items():
        base = out / "sites" / site
        merged = steps.merge(
            [qc_files[s] for s in samples],
            base / "merge" / "merged.h5ad",
            batch_key=p["batch_key"],
            join=p["join"],
            min_cells_gene=p["min_cells_gene"],
        )
        pre[site] = steps.preprocess(
            merged,
            base / "preprocess" / "preprocessed.h5ad",
            params=preprocess_params(p),
            hvg_output=base / "preprocess" / "preprocessed_hvg.h5ad",
        )
    model = dict(p["model"] or {})
    if p["gmt"]:
        model["gmt"] = p["gmt"]
    train = {k: p[k] for k in ("batch_size", "lr") if p[k] is not None}
    fed = out / "federated"
    glob = steps_fed.run_rounds(
        pre,
        fed,
        gene_lists=[p["fed_genes"]] if p["fed_genes"] else [],
        rounds=p["fed_rounds"],
        local_epochs=p["fed_local_epochs"],
        mu=p["fed_mu"],
        family=p["family"],
        model_config=model,
        train_overrides=train,
        seed=p["seed"],
        min_overlap=p["min_overlap"],
        device=device,
    )
    versions = write_text(out / "pipeline_info" / "scssl_software_versions.yml", _versions())
    folders = [out / "qc", glob, out / "pipeline_info"]
    for site in groups:
        base = out / "sites" / site
        downstream(p, pre[site], glob, base, qc_dir=out / "qc", versions=versions, device=device)
        folders += [base / d for d in _MQC_FOLDERS if d != "qc"]
    multiqc(p, out, folders)
    logger.info("scssl run (federated, %d sites) finished: %s", len(groups), out / "sites")
    return out / "sites"
