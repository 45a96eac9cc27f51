"""File-level steps: read inputs, call the API, write outputs atomically.

The CLI and ``scssl run`` both call these, so a Nextflow task and a laptop run execute the
same code with the same arguments.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from . import io, pp
from ._errors import InputError
from .io.samplesheet import METADATA_COLUMNS, QC_OVERRIDE_COLUMNS


def split_meta(meta: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, float]]:
    """Split samplesheet fields into obs metadata and per-sample QC overrides."""
    unknown = set(meta) - set(METADATA_COLUMNS) - set(QC_OVERRIDE_COLUMNS)
    if unknown:
        allowed = ", ".join((*METADATA_COLUMNS, *QC_OVERRIDE_COLUMNS))
        raise InputError(f"unknown sample field(s) {sorted(unknown)}; allowed: {allowed}.")
    metadata = {k: v for k, v in meta.items() if k in METADATA_COLUMNS and v is not None}
    overrides = {k: float(v) for k, v in meta.items() if k in QC_OVERRIDE_COLUMNS and v is not None}
    return metadata, overrides


def ingest(
    input: str | Path,
    output: str | Path,
    *,
    sample: str,
    meta: Mapping[str, Any] | None = None,
    raw: bool = False,
) -> Path:
    """Read one sample and write ``output`` (.h5ad) in the scssl layout."""
    metadata, overrides = split_meta(meta or {})
    adata = io.read_sample(input, sample=sample, raw=raw, metadata=metadata, qc_overrides=overrides)
    adata.uns["scssl"]["sample"] = sample
    return io.write_h5ad(adata, output)


def qc(
    input: str | Path,
    output: str | Path,
    *,
    params: pp.QCParams,
    report_dir: str | Path | None = None,
) -> dict:
    """QC one sample file; write the filtered .h5ad and the summary/plot files beside it."""
    adata = io.read_h5ad(input)
    result = pp.run_qc(adata, params)
    out = Path(output)
    sample = result.summary["sample"]
    pp.write_qc_outputs(result, report_dir or out.parent, prefix=sample)
    io.write_h5ad(result.adata, out)
    return result.summary


def merge(
    inputs: Sequence[str | Path],
    output: str | Path,
    *,
    batch_key: str = "batch",
    join: str = "inner",
    min_cells_gene: int = 3,
) -> Path:
    """Concatenate QC'd sample files into one .h5ad."""
    adatas = [io.read_h5ad(p) for p in inputs]
    merged = pp.merge_samples(adatas, batch_key=batch_key, join=join, min_cells_gene=min_cells_gene)
    del adatas
    return io.write_h5ad(merged, output)


def preprocess(
    input: str | Path,
    output: str | Path,
    *,
    params: pp.PreprocessParams,
    hvg_output: str | Path | None = None,
) -> Path:
    """Normalize, select HVGs and compute PCA; optionally also write the HVG-only file."""
    adata = io.read_h5ad(input)
    adata = pp.preprocess(adata, params)
    if hvg_output is not None:
        io.write_h5ad(pp.subset_hvg(adata).copy(), hvg_output)
    return io.write_h5ad(adata, output)


def pretrain(
    input: str | Path,
    output: str | Path,
    *,
    family: str = "mae",
    model_config: Mapping[str, Any] | None = None,
    train_overrides: Mapping[str, Any] | None = None,
    batch_key: str | None = "batch",
    use_protein: bool = True,
    resume: bool = False,
    epochs: int | None = None,
    progress: bool = True,
    devices: int = 1,
    backed: bool = False,
) -> Path | None:
    """Train a model family and write its checkpoint folder to ``output``.

    Resume state lives in ``<output>.partial/`` until training finishes; with ``epochs`` the
    run stops after that many epochs (returns None) and ``resume=True`` continues it.
    ``devices`` > 1 trains data-parallel (DDP) on that many GPUs (CPU: gloo processes).
    ``backed`` reads the matrices from ``input`` one row block at a time (out-of-core).
    """
    import shutil

    from .tl.pretrain import pretrain as _pretrain
    from .tl.pretrain import train_config_for
    from .train.checkpoint import save_checkpoint

    out = Path(output)
    workdir = out.with_name(out.name + ".partial")
    tcfg = train_config_for(family, dict(train_overrides or {}))
    if backed:
        from .data.backed import read_shell

        adata = read_shell(input)
    else:  # the HVG columns only: the other genes' values never reach the model
        adata = io.read_h5ad_parts(input, genes=io.h5ad_parts.hvg_names(input))
    module, history, dhash, trainer = _pretrain(
        adata,
        family=family,
        model_config=dict(model_config or {}),
        train_config=tcfg,
        batch_key=batch_key,
        use_protein=use_protein,
        workdir=workdir,
        resume=resume,
        epochs=epochs,
        progress=progress,
        devices=devices,
        backed=input if backed else None,
    )
    if not trainer.finished:
        return None
    save_checkpoint(out, module, tcfg, history=history, data_hash=dhash)
    shutil.rmtree(workdir, ignore_errors=True)
    return out


def embed(
    input: str | Path,
    checkpoint: str | Path,
    output: str | Path,
    *,
    min_overlap: float = 0.5,
    device: str = "cpu",
    smooth_k: int = 0,
    seed: int = 0,
) -> Path:
    """Add ``obsm['X_scssl_<family>']`` from ``checkpoint`` and write ``output``.

    Reads only the checkpoint's genes; ``output`` is ``input`` plus the embedding (with
    ``smooth_k`` > 1 neighbour-smoothed, the per-cell one in ``obsm[key + '_cell']``).
    """
    from .tl.embed import embed as _embed

    genes = io.h5ad_parts.checkpoint_genes(checkpoint)
    adata = io.read_h5ad_parts(input, genes=genes)
    _embed(adata, checkpoint, min_overlap=min_overlap, device=device, smooth_k=smooth_k, seed=seed)
    return io.update_h5ad(input, output, adata)
