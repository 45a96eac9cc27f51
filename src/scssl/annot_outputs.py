"""Report files of the cluster, finetune, annotate and evaluate steps: TSV, JSON and MultiQC."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from ._atomic import write_text
from ._tsv import commented_yaml, tsv_text


def tsv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """Rows as tab-separated text (floats with 4 significant digits; None as empty)."""
    cols = list(columns or dict.fromkeys(k for r in rows for k in r))
    return tsv_text(cols, ([r.get(c) for c in cols] for r in rows), digits=4)


def mqc_header(id_: str, section: str, description: str, plot_type: str, **pconfig: Any) -> str:
    """The commented YAML header of a MultiQC custom-content TSV."""
    head: dict[str, Any] = {
        "id": id_,
        "section_name": section,
        "description": description,
        "plot_type": plot_type,
    }
    if pconfig:
        head["pconfig"] = pconfig
    return commented_yaml(head, width=10_000)


def write_mqc_table(
    path: str | Path,
    rows: Sequence[Mapping[str, Any]],
    *,
    id_: str,
    section: str,
    description: str,
    plot_type: str = "table",
    **pconfig: Any,
) -> Path:
    """A ``*_mqc.tsv`` MultiQC custom-content file (first column: the row/sample name)."""
    header = mqc_header(id_, section, description, plot_type, **pconfig)
    return write_text(path, header + tsv(rows))


def write_mqc_heatmap(
    path: str | Path, confusion: Mapping[str, Any], *, id_: str, section: str, description: str
) -> Path:
    """A ``*_mqc.yaml`` MultiQC heatmap of a confusion matrix (true classes as rows)."""
    rows, cols, counts = confusion["rows"], confusion["columns"], confusion["counts"]
    doc = {
        "id": id_,
        "section_name": section,
        "description": description,
        "plot_type": "heatmap",
        "pconfig": {"id": f"{id_}_plot", "title": section, "xlab": "predicted", "ylab": "true"},
        "xcats": list(cols),
        "ycats": list(rows),
        "data": {
            r: {c: int(n) for c, n in zip(cols, row, strict=True)}
            for r, row in zip(rows, counts, strict=True)
        },
    }
    return write_text(path, yaml.safe_dump(doc, sort_keys=False))
