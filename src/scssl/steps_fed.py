"""File-level federated steps: ``scssl federate genes | init | local-train | aggregate | run``.

What leaves a site is the folder ``local-train`` writes, and nothing else::

    model.safetensors   the locally trained weights
    config.json         family, model and train config, the shared gene list, the round and
                        the sha256 of the global weights it started from
    site.json           site name, round, number of cells (train/held-out), losses, and how
                        many genes of the shared list the site measures
    history.tsv         per-epoch local losses

``aggregate`` refuses a site folder holding any other file, opens only these files (listed
with their sha256 in the global model's ``aggregate_inputs.json``) and never reads a site's
history.tsv. The global model is an ordinary checkpoint folder (``scssl embed`` takes it)
with a ``federated`` block in config.json: the round, the sites' cell counts and the losses
of every round (also in history.tsv, loss.png and ``scssl_fedloss_mqc.json``).
"""

from __future__ import annotations

import hashlib
import json
import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from . import io
from ._atomic import write_text
from ._errors import InputError
from ._log import logger

SITE_FILES = ("model.safetensors", "config.json", "site.json", "history.tsv")
FEDLOSS_MQC = "scssl_fedloss_mqc.json"
INPUTS_MANIFEST = "aggregate_inputs.json"


def sha256(path: str | Path) -> str:
    """sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def genes(input: str | Path, output: str | Path) -> Path:
    """Write a site's highly variable gene names (names only, no values) as a gene list."""
    return _write_site_genes(io.read_h5ad(input), output)


def _write_site_genes(adata: Any, output: str | Path) -> Path:
    from .fed.vocab import site_genes

    return write_text(output, "\n".join(site_genes(adata)) + "\n")


def _federated(meta: Mapping[str, Any], where: str) -> dict[str, Any]:
    fed = meta.get("federated")
    if not isinstance(fed, dict) or "round" not in fed:
        raise InputError(
            f"{where}: not a federated global model (no 'federated' block); start from "
            "`scssl federate init` or the output of `scssl federate aggregate`."
        )
    return fed


def _write_global(
    output: str | Path,
    module: Any,
    train_config: Any,
    fed: dict[str, Any],
    inputs: list[dict[str, str]] | None = None,
) -> Path:
    """A checkpoint folder (as `scssl pretrain` writes) with the federated block and files."""
    from .report.mqc import fedloss_json
    from .train.checkpoint import _meta, _write_folder

    meta = _meta(module, train_config, "")
    meta["federated"] = fed
    history = [_round_row(r) for r in fed["rounds"]]
    files = {}
    if fed["rounds"]:
        files[FEDLOSS_MQC] = fedloss_json(fed["rounds"])
    if inputs is not None:
        files[INPUTS_MANIFEST] = json.dumps(inputs, indent=2) + "\n"
    return _write_folder(output, module, meta, history, "scssl federated (per round)", files)


def _round_row(r: dict[str, Any]) -> dict[str, Any]:
    row = {"epoch": r["round"], "train_loss": r["global_train_loss"], "val_loss": r["global_loss"]}
    row.update({f"loss_{s}": v["loss"] for s, v in r["sites"].items()})
    return row


def init(
    gene_lists: Sequence[str | Path],
    output: str | Path,
    *,
    family: str = "mae",
    model_config: Mapping[str, Any] | None = None,
    train_overrides: Mapping[str, Any] | None = None,
    seed: int = 0,
) -> Path:
    """Round 0: a seeded, untrained global model on the union of ``gene_lists``."""
    import torch

    from .fed.vocab import read_gene_list, union_gene_lists, vocab_spec
    from .models import config_from_dict, get_family
    from .tl.pretrain import train_config_for

    if not gene_lists:
        raise InputError("--genes: give at least one gene list file.")
    names = union_gene_lists(read_gene_list(p) for p in gene_lists)
    try:
        cfg_cls, module_cls = get_family(family)
        config = config_from_dict(cfg_cls, dict(model_config or {}))
    except (ValueError, TypeError) as err:
        raise InputError(f"--family {family}: {err}") from None
    spec = vocab_spec(names)
    try:
        extras = module_cls.build_extras(config, spec, None)
    except (AttributeError, TypeError, KeyError):
        raise InputError(
            f"{family} with {dict(model_config or {})} derives statistics from the training "
            "cells (e.g. mae standardize=true), which would have to leave the sites; not "
            "available in federated mode."
        ) from None
    tcfg = train_config_for(family, {**dict(train_overrides or {}), "seed": seed})
    torch.manual_seed(seed)
    module = module_cls(config, spec, extras)
    fed = {"round": 0, "n_genes": len(names), "sites": [], "rounds": []}
    out = _write_global(output, module, tcfg, fed)
    logger.info("federated global model (round 0): %s, %d genes", family, len(names))
    return out


def _site_seed(seed: int, round_: int, site: str) -> int:
    """A different seed per round and site (held-out split, batches, masks)."""
    return seed + 1000 * round_ + zlib.crc32(site.encode()) % 997


def local_train_adata(
    adata: Any,
    global_: str | Path,
    output: str | Path,
    *,
    site: str,
    local_epochs: int = 4,
    mu: float = 0.0,
    min_overlap: float = 0.5,
    seed: int | None = None,
    device: str = "cpu",
    progress: bool = False,
) -> Path:
    """:func:`local_train` on an AnnData already in memory (the one-machine round driver)."""
    from .fed.local import local_train as _local_train
    from .train.checkpoint import _meta, load_checkpoint, read_checkpoint_config
    from .train.config import TrainConfig

    gpath = Path(global_)
    gmeta = read_checkpoint_config(gpath)
    fed = _federated(gmeta, str(gpath / "config.json"))
    round_ = int(fed["round"]) + 1
    module, ckpt = load_checkpoint(gpath, device=device)
    tcfg = TrainConfig(**ckpt.train_config)
    base_seed = tcfg.seed if seed is None else seed
    tcfg = replace(tcfg, seed=_site_seed(base_seed, round_, site), device=device)
    module, history, summary, report = _local_train(
        adata,
        module,
        tcfg,
        epochs=local_epochs,
        mu=mu,
        min_overlap=min_overlap,
        where=f"site {site}",
        progress=progress,
    )
    meta = _meta(module, tcfg, "")
    meta["federated"] = {
        "site": site,
        "round": round_,
        "base_sha256": sha256(gpath / "model.safetensors"),
    }
    site_json = {
        "site": site,
        "round": round_,
        **summary,
        "local_epochs": local_epochs,
        "mu": mu,
        "genes": {k: v for k, v in report.to_dict().items() if k != "missing"},
    }
    _write_site(output, module, meta, site_json, history)
    logger.info(
        "site %s round %d: %d cells, held-out loss %.4f",
        site,
        round_,
        summary["n_cells"],
        summary["loss"],
    )
    return Path(output)


def _write_site(
    output: str | Path, module: Any, meta: dict, site_json: dict, history: list[dict]
) -> None:
    """The site folder: exactly :data:`SITE_FILES` (no loss plot)."""
    from .train.checkpoint import _write_folder

    site = {"site.json": json.dumps(site_json, indent=2) + "\n"}
    _write_folder(output, module, meta, history, None, site)


def local_train(
    input: str | Path,
    global_: str | Path,
    output: str | Path,
    **kwargs: Any,
) -> Path:
    """Train the global model on one site's preprocessed cells; write the site folder."""
    return local_train_adata(io.read_h5ad(input), global_, output, **kwargs)


def _site_folder(folder: Path) -> None:
    """InputError unless ``folder`` holds exactly the files a site may send."""
    if not folder.is_dir():
        raise InputError(f"{folder}: not a site folder (from `scssl federate local-train`).")
    names = sorted(p.name for p in folder.iterdir())
    extra = [n for n in names if n not in SITE_FILES]
    if extra:
        raise InputError(
            f"{folder}: holds {extra}; a site sends only {', '.join(SITE_FILES)}. Remove the "
            "other files (expression data never leaves a site)."
        )
    missing = [n for n in SITE_FILES if n not in names and n != "history.tsv"]
    if missing:
        raise InputError(f"{folder}: missing {missing}; rerun `scssl federate local-train`.")


def _site_summary(path: Path) -> dict[str, Any]:
    try:
        site = json.loads(path.read_text())
        n = site["n_cells"]
        ok = isinstance(n, int) and n > 0 and math.isfinite(float(site["loss"]))
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError):
        ok = False
    if not ok:
        raise InputError(f"{path}: not a site summary (needs site, round, n_cells > 0, loss).")
    return site


def _entry(path: Path, kind: str) -> dict[str, str]:
    return {"path": str(path), "kind": kind, "sha256": sha256(path)}


def aggregate(inputs: Sequence[str | Path], global_: str | Path, output: str | Path) -> Path:
    """FedAvg of the site folders (weighted by cells) into the next round's global model.

    Every site must have trained the given global model (same weights hash, round, family,
    model config, gene list and spec); otherwise an InputError names the site's file.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from .fed.average import check_compatible, fedavg
    from .train.checkpoint import load_checkpoint, read_checkpoint_config
    from .train.config import TrainConfig

    if not inputs:
        raise InputError("--input: give at least one site folder.")
    gpath = Path(global_)
    gmeta = read_checkpoint_config(gpath)
    fed = _federated(gmeta, str(gpath / "config.json"))
    manifest = [
        _entry(gpath / "config.json", "global config"),
        _entry(gpath / "model.safetensors", "global weights"),
    ]
    base = manifest[1]["sha256"]
    round_ = int(fed["round"]) + 1
    states, sites = [], {}
    for folder in map(Path, inputs):
        _site_folder(folder)
        meta = read_checkpoint_config(folder)
        where = str(folder / "config.json")
        check_compatible(gmeta, str(gpath / "config.json"), meta, where)
        site = _site_summary(folder / "site.json")
        name = str(site["site"])
        if name in sites:
            raise InputError(f"{folder}: site '{name}' is given twice.")
        got = meta.get("federated", {})
        if got.get("base_sha256") != base or got.get("round") != round_ or site["round"] != round_:
            raise InputError(
                f"{where}: trained from another global model (round {got.get('round')}, not "
                f"{round_} from {gpath}); rerun local-train with this round's global model."
            )
        try:
            states.append(load_file(str(folder / "model.safetensors")))
        except (SafetensorError, OSError, ValueError) as err:
            raise InputError(f"{folder}/model.safetensors: corrupted weights ({err}).") from None
        manifest += [
            _entry(folder / "config.json", "site config"),
            _entry(folder / "site.json", "site cell count and loss"),
            _entry(folder / "model.safetensors", "site weights"),
        ]
        sites[name] = {k: site[k] for k in ("n_cells", "loss", "train_loss") if k in site}
    n = [s["n_cells"] for s in sites.values()]
    module, ckpt = load_checkpoint(gpath)
    try:
        module.load_state_dict(fedavg(states, n), strict=True)
    except (RuntimeError, ValueError, KeyError) as err:
        raise InputError(f"site weights do not match the global model ({err}).") from None
    total = sum(n)
    row = {
        "round": round_,
        "global_loss": sum(s["n_cells"] * s["loss"] for s in sites.values()) / total,
        "global_train_loss": sum(
            s["n_cells"] * s.get("train_loss", s["loss"]) for s in sites.values()
        )
        / total,
        "n_cells": total,
        "sites": sites,
    }
    new = {**fed, "round": round_, "sites": list(sites), "rounds": [*fed["rounds"], row]}
    out = _write_global(output, module, TrainConfig(**ckpt.train_config), new, manifest)
    logger.info(
        "round %d: FedAvg of %d sites, %d cells, loss %.4f",
        round_,
        len(sites),
        total,
        row["global_loss"],
    )
    return out


def run_rounds(
    sites: Mapping[str, str | Path],
    output: str | Path,
    *,
    gene_lists: Sequence[str | Path] = (),
    rounds: int = 10,
    local_epochs: int = 4,
    mu: float = 0.0,
    family: str = "mae",
    model_config: Mapping[str, Any] | None = None,
    train_overrides: Mapping[str, Any] | None = None,
    seed: int = 0,
    min_overlap: float = 0.5,
    device: str = "cpu",
    progress: bool = False,
) -> Path:
    """Every round on one machine: init, then per round local-train per site -> aggregate.

    ``sites`` maps a site name to its preprocessed .h5ad. Without ``gene_lists`` the shared
    list is the union of the sites' highly variable genes, sites by name
    (``<output>/genes/<site>.txt``; each site publishes gene names, never values). Writes
    ``<output>/global/`` (the final model), ``<output>/sites/<site>/`` (each site's last local
    model) and returns the global folder.
    """
    if rounds < 1:
        raise InputError(f"--rounds must be >= 1, not {rounds}.")
    if not sites:
        raise InputError("no sites given.")
    out = Path(output)
    data = {name: io.read_h5ad(path) for name, path in sites.items()}
    lists = [Path(p) for p in gene_lists]
    if not lists:
        for name, adata in sorted(data.items()):  # sites by name, as the pipeline orders them
            lists.append(_write_site_genes(adata, out / "genes" / f"{name}.txt"))
    glob = init(
        lists,
        out / "global",
        family=family,
        model_config=model_config,
        train_overrides=train_overrides,
        seed=seed,
    )
    for _ in range(rounds):
        folders = [
            local_train_adata(
                adata,
                glob,
                out / "sites" / name,
                site=name,
                local_epochs=local_epochs,
                mu=mu,
                min_overlap=min_overlap,
                seed=seed,
                device=device,
                progress=progress,
            )
            for name, adata in data.items()
        ]
        glob = aggregate(folders, glob, out / "global")
    return glob


def config_summary(global_: str | Path) -> dict[str, Any]:
    """The ``federated`` block of a global model's config.json."""
    from .train.checkpoint import read_checkpoint_config

    return _federated(read_checkpoint_config(global_), str(Path(global_) / "config.json"))
