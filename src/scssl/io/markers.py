"""Marker tables: bundled (PBMC, pancreas) or a user CSV/TSV (cell_type,gene[,weight]) or GMT."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pandas as pd

from .._errors import InputError
from .gmt import read_gmt

BUNDLED = ("pbmc_human", "pancreas_human", "pancreas_mouse")


@dataclass(frozen=True)
class MarkerTable:
    """Marker genes per cell type; a negative weight argues against the type."""

    name: str
    markers: dict[str, dict[str, float]]

    @property
    def cell_types(self) -> list[str]:
        return list(self.markers)

    @property
    def genes(self) -> list[str]:
        return sorted({g for m in self.markers.values() for g in m})


def bundled_marker_tables() -> dict[str, Path]:
    """Name -> path of the marker tables shipped with scssl."""
    root = resources.files("scssl") / "assets" / "markers"
    return {name: Path(str(root / f"{name}.csv")) for name in BUNDLED}


def read_markers(source: str | Path) -> MarkerTable:
    """A bundled table by name, or a CSV/TSV (``cell_type,gene[,weight]``) or GMT file.

    Lines starting with ``#`` are comments. Raises InputError naming the file and what is
    wrong (missing column, bad weight, no markers).
    """
    bundled = bundled_marker_tables()
    if str(source) in bundled:
        return _read_table(bundled[str(source)], name=str(source))
    path = Path(source)
    if not path.is_file():
        raise InputError(
            f"{path}: marker table not found; give a CSV/TSV (cell_type,gene[,weight]), a GMT "
            f"file, or a bundled table: {', '.join(BUNDLED)}."
        )
    if path.suffix.lower() == ".gmt":
        sets = read_gmt(path)
        return MarkerTable(path.stem, {k: dict.fromkeys(v, 1.0) for k, v in sets.items()})
    return _read_table(path, name=path.stem)


def _read_table(path: Path, *, name: str) -> MarkerTable:
    sep = "\t" if path.suffix.lower() in (".tsv", ".txt") else ","
    try:
        df = pd.read_csv(path, sep=sep, comment="#", dtype=str, skip_blank_lines=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not a readable marker table ({err}).") from None
    df.columns = [str(c).strip().lower() for c in df.columns]
    missing = [c for c in ("cell_type", "gene") if c not in df.columns]
    if missing:
        raise InputError(
            f"{path}: missing column(s) {missing}; expected a header 'cell_type,gene[,weight]' "
            f"(found {list(df.columns)})."
        )
    weights = pd.to_numeric(df["weight"], errors="coerce") if "weight" in df else None
    if weights is not None:
        bad = weights.isna() & df["weight"].notna()
        if bad.any():
            row = int(bad.to_numpy().argmax())
            raise InputError(
                f"{path}: weight {df['weight'].iloc[row]!r} of {df['gene'].iloc[row]} "
                "is not a number."
            )
        weights = weights.fillna(1.0)
    markers: dict[str, dict[str, float]] = {}
    for i, (ct, gene) in enumerate(zip(df["cell_type"], df["gene"], strict=True)):
        if pd.isna(ct) or pd.isna(gene) or not str(ct).strip() or not str(gene).strip():
            continue
        w = 1.0 if weights is None else float(weights.iloc[i])
        if w != 0:
            markers.setdefault(str(ct).strip(), {})[str(gene).strip()] = w
    if not markers:
        raise InputError(f"{path}: no markers found (rows of cell_type,gene[,weight]).")
    no_positive = [t for t, m in markers.items() if not any(w > 0 for w in m.values())]
    if no_positive:
        raise InputError(f"{path}: cell type(s) {no_positive} have no positive-weight marker.")
    return MarkerTable(name, markers)
