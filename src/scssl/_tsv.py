"""Tab-separated text and commented YAML headers of MultiQC custom-content files."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import yaml


def cell(v: Any, digits: int = 4) -> str:
    """One TSV cell: None as empty, floats with ``digits`` significant digits, no tabs/newlines."""
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v).replace("\t", " ").replace("\n", " ")


def tsv_text(columns: Sequence[str], rows: Iterable[Sequence[Any]], digits: int = 4) -> str:
    """A header line of ``columns`` and one line per row of cells, newline-terminated."""
    lines = ["\t".join(columns)]
    lines += ["\t".join(cell(v, digits) for v in row) for row in rows]
    return "\n".join(lines) + "\n"


def commented_yaml(doc: Mapping[str, Any], *, width: int, allow_unicode: bool = False) -> str:
    """``doc`` as block YAML with every line behind ``# `` (a custom-content file's header)."""
    text = yaml.safe_dump(
        dict(doc),
        sort_keys=False,
        default_flow_style=False,
        width=width,
        allow_unicode=allow_unicode,
    )
    return "".join(f"# {line}\n" for line in text.splitlines())
