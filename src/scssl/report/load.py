"""Read what a run left behind for the report: cells table, QC files, checkpoints, metrics.

Only ``obs``, a few ``obsm`` slots and ``uns`` of the final .h5ad are read; the expression
matrix stays on disk, so a 100,000-cell file loads in seconds.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._errors import InputError

OBSM_READ = ("X_umap", "protein_clr", "protein_counts")


@dataclass
class RunData:
    """The cells of a run: obs of every cell, the obsm slots the report draws, small uns."""

    path: Path
    obs: pd.DataFrame
    obsm: dict[str, Any]
    uns: dict[str, Any]
    n_vars: int
    obsm_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)


def read_run(path: str | Path, *, obsm_keys: tuple[str, ...] = OBSM_READ) -> RunData:
    """``obs``, ``obsm[obsm_keys]`` and ``uns`` of an .h5ad, without its matrices."""
    import h5py
    from anndata.io import read_elem

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file; give the run's final .h5ad with --input.")
    try:
        with h5py.File(path, "r") as f:
            if "obs" not in f or "var" not in f:
                raise InputError(f"{path}: not an AnnData .h5ad (no obs/var groups).")
            obs = read_elem(f["obs"])
            var_index = f["var"].attrs.get("_index", "_index")
            n_vars = int(f["var"][var_index].shape[0])
            obsm_group = f.get("obsm", {})
            obsm = {k: read_elem(obsm_group[k]) for k in obsm_keys if k in obsm_group}
            shapes = {k: _shape(obsm_group[k]) for k in obsm_group}
            uns = read_elem(f["uns"]) if "uns" in f else {}
    except (OSError, KeyError) as err:
        raise InputError(f"{path}: not a readable .h5ad file ({err}).") from None
    return RunData(path, obs, obsm, uns, n_vars, shapes)


def _shape(node: Any) -> tuple[int, ...]:
    if hasattr(node, "shape"):
        return tuple(int(s) for s in node.shape)
    cols = node.attrs.get("column-order", [])
    index = node.attrs.get("_index", "_index")
    n = node[index].shape[0] if index in node else 0
    return (int(n), len(cols))


def sample_rows(run: RunData, sample: str) -> np.ndarray:
    """Row indices of ``sample``'s cells; InputError listing the samples there are."""
    if "sample" not in run.obs:
        raise InputError(
            f"{run.path}: no obs['sample'] column; give the merged file of a scssl run "
            "(scssl merge writes it)."
        )
    values = run.obs["sample"].astype(str).to_numpy()
    rows = np.flatnonzero(values == sample)
    if rows.size == 0:
        there = ", ".join(sorted(set(values))) or "none"
        raise InputError(f"{run.path}: no cells of sample {sample!r} (samples there: {there}).")
    return rows


def read_json(path: str | Path, what: str) -> dict[str, Any]:
    """A JSON object from ``path``; InputError naming the file and ``what`` it should be."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file ({what}).")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not valid JSON ({err}); expected {what}.") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object ({what}).")
    return data


def qc_summary(qc_dir: Path | None, sample: str, uns: dict[str, Any]) -> tuple[dict | None, str]:
    """The sample's QC summary and where it came from.

    From ``<qc_dir>/<sample>_qc_summary.json`` when a folder is given (missing file: error),
    else from ``uns['scssl_qc'][sample]`` that merge keeps, else None.
    """
    if qc_dir is not None:
        path = Path(qc_dir) / f"{sample}_qc_summary.json"
        if not path.is_file():
            raise InputError(
                f"{path}: no such file; --qc-dir must hold the files `scssl qc` wrote for "
                f"sample {sample!r} (<sample>_qc_summary.json)."
            )
        data = read_json(path, "the QC summary written by `scssl qc`")
        for key in ("n_cells_input", "n_cells_pass", "removed_by"):
            if key not in data:
                raise InputError(f"{path}: field {key!r} missing; not a `scssl qc` summary.")
        return data, str(path)
    stored = uns.get("scssl_qc", {})
    if isinstance(stored, dict) and isinstance(stored.get(sample), dict):
        return _plain(stored[sample]), "uns['scssl_qc'] of the input .h5ad"
    return None, ""


def qc_cells(qc_dir: Path | None, sample: str) -> pd.DataFrame | None:
    """Every input cell's QC metrics (``<sample>_qc_cells.tsv.gz``) when the folder has it."""
    if qc_dir is None:
        return None
    path = Path(qc_dir) / f"{sample}_qc_cells.tsv.gz"
    if not path.is_file():
        return None
    try:
        with gzip.open(path, "rt") as fh:
            table = pd.read_csv(fh, sep="\t", index_col=0, keep_default_na=False, na_values=[""])
    except (OSError, EOFError, ValueError, pd.errors.ParserError) as err:
        raise InputError(f"{path}: unreadable per-cell QC table ({err}).") from None
    if "qc_fail" not in table or "qc_total_counts" not in table:
        raise InputError(f"{path}: columns qc_fail and qc_total_counts missing.")
    table["qc_fail"] = table["qc_fail"].fillna("").astype(str)
    return table


def _plain(obj: Any) -> Any:
    """Arrays and numpy scalars from an h5ad ``uns`` turned into JSON types."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return [_plain(v) for v in obj.tolist()]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


@dataclass
class ModelRun:
    """A checkpoint folder's JSON side and its per-epoch history."""

    path: Path
    name: str
    config: dict[str, Any]
    history: pd.DataFrame


def read_model(folder: str | Path) -> ModelRun:
    """``config.json`` (when present) and ``history.tsv`` of a checkpoint folder."""
    folder = Path(folder)
    hist = folder / "history.tsv"
    if not folder.is_dir() or not hist.is_file():
        raise InputError(
            f"{folder}: not a checkpoint folder with history.tsv (as `scssl pretrain` or "
            "`scssl finetune` write it)."
        )
    cfg_path = folder / "config.json"
    config = read_json(cfg_path, "a checkpoint config") if cfg_path.is_file() else {}
    try:
        history = pd.read_csv(hist, sep="\t")
    except (ValueError, pd.errors.ParserError) as err:
        raise InputError(f"{hist}: unreadable history ({err}).") from None
    if "epoch" not in history or "train_loss" not in history:
        raise InputError(f"{hist}: columns 'epoch' and 'train_loss' missing.")
    family = config.get("family", folder.name)
    name = f"{family} classifier" if config.get("task") == "classifier" else str(family)
    return ModelRun(folder, name, config, history)


def read_versions(paths: list[Path]) -> dict[str, dict[str, str]]:
    """Merge ``versions.yml`` files (``{process: {tool: version}}``) into one mapping."""
    import yaml

    out: dict[str, dict[str, str]] = {}
    for path in paths:
        if not Path(path).is_file():
            raise InputError(f"{path}: no such file (a versions.yml).")
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except yaml.YAMLError as err:
            raise InputError(f"{path}: not valid YAML ({err}).") from None
        if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
            raise InputError(f"{path}: expected 'process: {{tool: version}}' mappings.")
        for proc, tools in data.items():
            out.setdefault(str(proc), {}).update({str(k): str(v) for k, v in tools.items()})
    return out


def knee_totals(path: str | Path) -> pd.Series:
    """Total RNA counts per barcode of a raw (unfiltered) matrix, for the barcode-rank plot."""
    from ..io.read import read_sample

    adata = read_sample(path, sample=None, raw=True)
    totals = np.asarray(adata.X.sum(axis=1)).ravel()
    return pd.Series(totals, index=adata.obs_names.astype(str), name="total_counts")
