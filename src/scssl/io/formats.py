"""Recognise what a sample path holds: Cell Ranger outs/, a matrix folder, a 10x .h5 or an .h5ad."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .._errors import InputError

MTX_NAMES = ("matrix.mtx.gz", "matrix.mtx")
FEATURE_NAMES = ("features.tsv.gz", "features.tsv", "genes.tsv.gz", "genes.tsv")
BARCODE_NAMES = ("barcodes.tsv.gz", "barcodes.tsv")


@dataclass(frozen=True)
class Source:
    """A resolved input: ``kind`` is ``mtx``, ``h5_10x`` or ``h5ad``; ``path`` its location."""

    kind: str
    path: Path


def _first(folder: Path, names: tuple[str, ...]) -> Path | None:
    for name in names:
        if (folder / name).is_file():
            return folder / name
    return None


def _is_mtx_folder(folder: Path) -> bool:
    return _first(folder, MTX_NAMES) is not None


def _mtx_in(folder: Path) -> Path | None:
    """The folder itself, or its single genome sub-folder (Cell Ranger 1/2 layout)."""
    if _is_mtx_folder(folder):
        return folder
    subs = sorted(p for p in folder.iterdir() if p.is_dir() and _is_mtx_folder(p))
    if len(subs) > 1:
        names = ", ".join(p.name for p in subs)
        raise InputError(
            f"{folder}: holds several genome sub-folders ({names}); point the samplesheet "
            "at the one to use."
        )
    return subs[0] if subs else None


def detect_format(path: str | Path, *, raw: bool = False) -> Source:
    """Resolve ``path`` to a readable source.

    Accepts a Cell Ranger ``outs/`` folder (or the run folder holding ``outs/``), in which the
    ``filtered_`` matrix is chosen unless ``raw`` is true; a v3 matrix folder
    (``features.tsv.gz``); a v2/legacy folder (``genes.tsv``, also with its genome sub-folder);
    a 10x ``.h5`` (v2 or v3); or an ``.h5ad``. Raises :class:`InputError` otherwise.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file or folder; check the samplesheet 'path' column.")
    if p.is_file():
        name = p.name.lower()
        if name.endswith(".h5ad"):
            return Source("h5ad", p)
        if name.endswith(".h5"):
            return Source("h5_10x", p)
        raise InputError(
            f"{p}: unsupported file type; give a Cell Ranger outs/ folder, a matrix folder, "
            "a 10x .h5 or an .h5ad."
        )
    if (p / "outs").is_dir():
        p = p / "outs"
    if not any(p.iterdir()):
        raise InputError(f"{p}: the folder is empty; expected Cell Ranger output.")
    found = _mtx_in(p)
    if found is not None:
        return Source("mtx", found)
    which = "raw" if raw else "filtered"
    for stem in (f"{which}_feature_bc_matrix", f"{which}_gene_bc_matrices"):
        folder = p / stem
        if folder.is_dir():
            found = _mtx_in(folder)
            if found is not None:
                return Source("mtx", found)
        for h5 in (p / f"{stem}.h5", p / f"{stem}_h5.h5"):
            if h5.is_file():
                return Source("h5_10x", h5)
    raise InputError(
        f"{p}: no {which} Cell Ranger matrix found (looked for matrix.mtx(.gz), "
        f"{which}_feature_bc_matrix/, {which}_gene_bc_matrices/ and their .h5 files)."
    )
