"""Gene sets from GMT files (MSigDB style): name, description, genes... per line."""

from __future__ import annotations

from pathlib import Path

from .._atomic import write_text
from .._errors import InputError


def read_gmt(path: str | Path) -> dict[str, list[str]]:
    """Gene sets by name; raises InputError naming the file and line for malformed input."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: GMT file not found.")
    sets: dict[str, list[str]] = {}
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.rstrip("\n").split("\t")
        if len(fields) < 3:
            raise InputError(f"{path} line {n}: expected 'name<TAB>description<TAB>gene...'.")
        sets[fields[0]] = [g for g in fields[2:] if g]
    if not sets:
        raise InputError(f"{path}: no gene sets found.")
    return sets


def programme_indices(
    sets: dict[str, list[str]], genes: list[str], *, min_size: int = 3
) -> list[list[int]]:
    """Index lists of each set's genes among ``genes`` (sets with < min_size genes dropped)."""
    pos = {g.upper(): i for i, g in enumerate(genes)}
    out = []
    for members in sets.values():
        idx = sorted({pos[g.upper()] for g in members if g.upper() in pos})
        if len(idx) >= min_size:
            out.append(idx)
    if not out:
        raise InputError(
            f"no gene set has >= {min_size} of the model's genes; check the GMT "
            "uses the same gene symbols as the data."
        )
    return out


def write_gmt(sets: dict[str, list[str]], path: str | Path, description: str = "scssl") -> Path:
    """Write gene sets as a GMT file (name, description, genes; tab-separated), atomically."""
    lines = [f"{name}\t{description}\t" + "\t".join(genes) for name, genes in sets.items()]
    return write_text(path, "\n".join(lines) + "\n")
