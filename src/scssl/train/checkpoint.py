"""Checkpoints: weights in safetensors, everything else in JSON; loading never unpickles.

A checkpoint is a folder::

    model.safetensors   weights
    config.json         format version, scssl version, family, model and train config,
                        data spec (genes, batches, proteins), extras, seed, data hash
    history.tsv         per-epoch losses, learning rate and throughput
    loss.png            train and validation loss per epoch

A classifier (``scssl finetune``) is the same folder with ``task: classifier`` and a
``classifier`` block (head config, classes, the encoder it started from) in config.json, the
encoder's weights under ``backbone.`` in model.safetensors, and ``summary.json``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from .._atomic import atomic_path
from .._errors import InputError
from ..data.spec import DataSpec
from ..models import config_from_dict, config_to_dict, get_family
from ..models.base import SSLModule
from ..models.classifier import ClassifierConfig, ClassifierModule
from .config import TrainConfig

FORMAT = "scssl-checkpoint"
FORMAT_VERSION = 1
REQUIRED = ("format", "format_version", "family", "model_config", "train_config", "spec")


@dataclass
class Checkpoint:
    """The JSON side of a checkpoint."""

    family: str
    model_config: dict[str, Any]
    train_config: dict[str, Any]
    spec: DataSpec
    extras: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    data_hash: str = ""
    scssl_version: str = __version__
    history: list[dict[str, Any]] = field(default_factory=list)
    task: str = "encoder"
    classifier: dict[str, Any] = field(default_factory=dict)


def history_tsv(history: list[dict[str, Any]]) -> str:
    """Per-epoch rows as TSV (columns: union of keys, in first-seen order)."""
    cols = list(dict.fromkeys(k for row in history for k in row))
    lines = ["\t".join(cols)]
    for row in history:
        lines.append("\t".join(_fmt(row.get(c, "")) for c in cols))
    return "\n".join(lines) + "\n"


def _fmt(v: Any) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def _meta(module: SSLModule, train_config: TrainConfig, data_hash: str) -> dict[str, Any]:
    """The JSON side of an encoder: family, configs, data spec, extras, seed, data hash."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "scssl_version": __version__,
        "family": module.family,
        "model_config": config_to_dict(module.config),
        "train_config": asdict(train_config),
        "spec": module.spec.to_dict(),
        "extras": module.extras,
        "seed": train_config.seed,
        "data_hash": data_hash,
    }


def _write_folder(
    folder: str | Path,
    module: torch.nn.Module,
    meta: dict[str, Any],
    history: list[dict[str, Any]],
    title: str | None,
    files: dict[str, str] | None = None,
) -> Path:
    """Weights, config.json, history.tsv and ``files`` into ``folder`` atomically; with a
    ``title``, also the loss plot (loss.png)."""
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    with atomic_path(folder, is_dir=True) as tmp:
        save_file(state, str(tmp / "model.safetensors"), metadata={"format": FORMAT})
        (tmp / "config.json").write_text(json.dumps(meta, indent=2) + "\n")
        (tmp / "history.tsv").write_text(history_tsv(history))
        for name, text in (files or {}).items():
            (tmp / name).write_text(text)
        if history and title is not None:
            from .plot import plot_history

            plot_history(history, tmp / "loss.png", title=title)
    return Path(folder)


def save_checkpoint(
    folder: str | Path,
    module: SSLModule,
    train_config: TrainConfig,
    *,
    history: list[dict[str, Any]],
    data_hash: str,
) -> Path:
    """Write the checkpoint folder atomically (a temporary folder renamed into place)."""
    meta = _meta(module, train_config, data_hash)
    return _write_folder(folder, module, meta, history, f"scssl {module.family}")


def save_classifier(
    folder: str | Path,
    module: ClassifierModule,
    train_config: TrainConfig,
    *,
    history: list[dict[str, Any]],
    data_hash: str,
    encoder: dict[str, Any],
    summary: dict[str, Any],
) -> Path:
    """Write a classifier checkpoint: the encoder's JSON plus ``task: classifier``.

    ``model.safetensors`` holds the encoder under ``backbone.`` and the head (or the kNN
    reference); ``summary.json`` the classes, validation scores and gene overlap;
    ``encoder`` names the pretrained checkpoint it started from.
    """
    meta = _meta(module.backbone, train_config, data_hash)
    meta["task"] = "classifier"
    meta["classifier"] = {
        "config": config_to_dict(module.config),
        "extras": module.extras,
        "encoder": encoder,
    }
    files = {"summary.json": json.dumps(summary, indent=2, default=_plain) + "\n"}
    title = f"scssl classifier ({module.config.mode}) on {module.backbone.family}"
    return _write_folder(folder, module, meta, history, title, files)


def _plain(o: Any) -> Any:
    if hasattr(o, "item"):
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    raise TypeError(type(o).__name__)


def read_checkpoint_config(folder: str | Path) -> dict[str, Any]:
    """The checkpoint's config.json, checked for format and required keys."""
    folder = Path(folder)
    cfg_path = folder / "config.json"
    if (
        not folder.is_dir()
        or not cfg_path.is_file()
        or not (folder / "model.safetensors").is_file()
    ):
        raise InputError(
            f"{folder}: not an scssl checkpoint (expected a folder with "
            "model.safetensors and config.json, as written by `scssl pretrain`)."
        )
    try:
        meta = json.loads(cfg_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"{cfg_path}: corrupted checkpoint config ({err}).") from None
    missing = [k for k in REQUIRED if k not in meta] if isinstance(meta, dict) else list(REQUIRED)
    if missing or meta.get("format") != FORMAT:
        raise InputError(f"{cfg_path}: not an scssl checkpoint config (missing {missing}).")
    if meta["format_version"] > FORMAT_VERSION:
        raise InputError(
            f"{cfg_path}: written by a newer scssl (format "
            f"{meta['format_version']}); upgrade scssl to load it."
        )
    return meta


def _read_state(
    folder: Path, meta: dict[str, Any], device: str
) -> tuple[SSLModule, dict[str, torch.Tensor]]:
    """Rebuild the encoder from ``meta``; return it and the weights of the whole folder."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        cfg_cls, module_cls = get_family(meta["family"])
        config = config_from_dict(cfg_cls, meta["model_config"])
        spec = DataSpec.from_dict(meta["spec"])
    except (ValueError, KeyError, TypeError) as err:
        raise InputError(f"{folder}/config.json: invalid checkpoint config ({err}).") from None
    try:
        state = load_file(str(folder / "model.safetensors"), device=device)
    except (SafetensorError, OSError, ValueError) as err:
        raise InputError(f"{folder}/model.safetensors: corrupted weights ({err}).") from None
    return module_cls(config, spec, meta.get("extras", {})), state


def _load_strict(module: torch.nn.Module, state: dict, folder: Path, device: str) -> None:
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as err:
        first = str(err).splitlines()[0]
        raise InputError(f"{folder}: weights do not match the config ({first}).") from None
    module.to(device).eval()


def _checkpoint(meta: dict[str, Any], spec: DataSpec) -> Checkpoint:
    return Checkpoint(
        family=meta["family"],
        model_config=meta["model_config"],
        train_config=meta["train_config"],
        spec=spec,
        extras=meta.get("extras", {}),
        seed=meta.get("seed", 0),
        data_hash=meta.get("data_hash", ""),
        scssl_version=meta.get("scssl_version", "?"),
        task=meta.get("task", "encoder"),
        classifier=meta.get("classifier", {}),
    )


def load_checkpoint(folder: str | Path, *, device: str = "cpu") -> tuple[SSLModule, Checkpoint]:
    """Rebuild the module from config.json and load its weights (safetensors, no pickle).

    For a classifier checkpoint (``scssl finetune``) this is its fine-tuned encoder.
    """
    folder = Path(folder)
    meta = read_checkpoint_config(folder)
    module, state = _read_state(folder, meta, device)
    if meta.get("task") == "classifier":
        state = {k[9:]: v for k, v in state.items() if k.startswith("backbone.")}
    _load_strict(module, state, folder, device)
    return module, _checkpoint(meta, module.spec)


def load_classifier(
    folder: str | Path, *, device: str = "cpu"
) -> tuple[ClassifierModule, Checkpoint]:
    """Rebuild a classifier written by :func:`save_classifier` (encoder + head or kNN)."""
    folder = Path(folder)
    meta = read_checkpoint_config(folder)
    if meta.get("task") != "classifier":
        raise InputError(
            f"{folder}: an encoder checkpoint (from `scssl pretrain`), not a classifier; "
            "train one with `scssl finetune --checkpoint "
            f"{folder} --reference REF.h5ad --label-key KEY`."
        )
    backbone, state = _read_state(folder, meta, device)
    try:
        clf = meta["classifier"]
        config = config_from_dict(ClassifierConfig, clf["config"])
        module = ClassifierModule(config, backbone, dict(clf["extras"]))
    except (ValueError, KeyError, TypeError) as err:
        raise InputError(f"{folder}/config.json: invalid classifier config ({err}).") from None
    _load_strict(module, state, folder, device)
    return module, _checkpoint(meta, backbone.spec)
