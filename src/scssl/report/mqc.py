"""MultiQC custom-content files: per sample (``scssl report``) and per run (``scssl summary``).

Section names, descriptions and plot settings come from the packaged
``assets/multiqc_config.yml`` and are copied into every file's header, so the files make the
same sections with or without that config. Files of different samples share a section ``id``
and MultiQC merges their rows.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from .._tsv import commented_yaml, tsv_text
from .load import ModelRun


@lru_cache(maxsize=1)
def multiqc_config_text() -> str:
    """The packaged MultiQC config (identical to the repository's assets/multiqc_config.yml)."""
    return (resources.files("scssl") / "assets" / "multiqc_config.yml").read_text("utf-8")


def _section(sid: str) -> dict[str, Any]:
    data = yaml.safe_load(multiqc_config_text())["custom_data"][sid]
    return {"id": sid, **data}


def _header(sid: str) -> str:
    return commented_yaml(_section(sid), width=1000, allow_unicode=True)


def _tsv(sid: str, columns: list[str], rows: list[list[Any]]) -> str:
    return _header(sid) + tsv_text(["Sample", *columns], rows, digits=6)


QC_TABLE = (
    "n_cells_input",
    "n_cells_pass",
    "pct_cells_pass",
    "median_genes",
    "median_counts",
    "median_pct_mt",
    "n_doublets",
    "doublet_rate",
)


def sample_files(facts: dict[str, Any]) -> dict[str, str]:
    """``{file suffix: text}`` of one sample's custom-content files (only those with data)."""
    s = facts["sample"]
    clusters, ann, qc = facts["clusters"], facts["annotation"], facts["qc"]
    gs = {
        "n_cells_final": facts["n_cells"],
        "n_clusters": clusters["n_clusters"] if clusters else None,
        "median_label_score": ann["median_score"] if ann else None,
        "n_warnings": len(facts["warnings"]),
    }
    gs = {k: v for k, v in gs.items() if v is not None}
    out = {"scssl_report_mqc.tsv": _tsv("scssl_report", list(gs), [[s, *gs.values()]])}
    messages = " ".join(w["message"] for w in facts["warnings"]) or "none"
    out["scssl_warnings_mqc.tsv"] = _tsv(
        "scssl_warnings", ["n_warnings", "warnings"], [[s, len(facts["warnings"]), messages]]
    )
    if qc:
        out["scssl_qc_table_mqc.tsv"] = _tsv(
            "scssl_qc_table", list(QC_TABLE), [[s, *(qc.get(k) for k in QC_TABLE)]]
        )
        removed = {k: v for k, v in qc["removed_by"].items()}
        out["scssl_cells_removed_mqc.tsv"] = _tsv(
            "scssl_cells_removed",
            ["kept", *removed],
            [[s, qc["n_cells_pass"], *removed.values()]],
        )
    if clusters:
        names = [f"cluster {c}" for c in clusters["counts"]]
        out["scssl_cluster_composition_mqc.tsv"] = _tsv(
            "scssl_cluster_composition", names, [[s, *clusters["counts"].values()]]
        )
    if ann:
        out["scssl_annotation_mqc.tsv"] = _tsv(
            "scssl_annotation", list(ann["counts"]), [[s, *ann["counts"].values()]]
        )
    return out


def loss_json(models: list[ModelRun]) -> str | None:
    """Line graph of train and validation loss per epoch of every model (None: no model)."""
    data: dict[str, list[list[float]]] = {}
    for m in models:
        h = m.history
        for col, name in (("train_loss", "train"), ("val_loss", "validation")):
            if col in h and h[col].notna().any():
                ok = h[col].notna()
                # [epoch, loss] pairs: JSON object keys would be strings, sorted as text
                data[f"{m.name} {name}"] = [
                    [int(e), float(v)] for e, v in zip(h["epoch"][ok], h[col][ok], strict=True)
                ]
    if not data:
        return None
    return json.dumps({**_section("scssl_loss"), "data": data}, indent=1) + "\n"


def fedloss_json(rounds: list[dict[str, Any]]) -> str:
    """Line graph of federated pretraining: the global (cell-weighted) held-out loss and each
    site's local held-out loss per round (the ``rounds`` of a global model's config.json)."""
    data: dict[str, list[list[float]]] = {"global": []}
    for r in rounds:
        data["global"].append([int(r["round"]), float(r["global_loss"])])
        for site, s in r["sites"].items():
            data.setdefault(f"site {site}", []).append([int(r["round"]), float(s["loss"])])
    return json.dumps({**_section("scssl_fedloss"), "data": data}, indent=1) + "\n"


def versions_yaml(versions: dict[str, dict[str, str]]) -> str:
    """``process: {tool: version}`` for MultiQC's software versions section."""
    return yaml.safe_dump(versions, sort_keys=False)
