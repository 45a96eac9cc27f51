"""Read and validate the CSV samplesheet against ``scssl/assets/schema_input.json``.

The schema is the one nf-schema's ``samplesheetToList`` uses in the pipeline; the nf-schema
keyword ``uniqueEntries`` and the project keyword ``x-path`` (a path relative to the
samplesheet's folder that must exist; the pipeline resolves it the same way in
``subworkflows/local/utils_scssl``) are implemented here.
"""

from __future__ import annotations

import copy
import csv
import difflib
import json
import math
import os
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
from jsonschema import Draft202012Validator

from .._errors import InputError
from .formats import detect_format

QC_OVERRIDE_COLUMNS = (
    "min_genes", "max_genes", "min_counts", "max_counts", "max_pct_mt", "max_pct_ribo",
    "max_pct_hb", "n_mads", "expected_doublet_rate",
)  # fmt: skip
METADATA_COLUMNS = ("batch", "condition", "expected_cells", "site")
MAX_REPORTED = 50
_INT_RE = re.compile(r"^[+-]?\d+$")
_LINE_RE = re.compile(r" line (\d+)")
_HINT = (
    "Hint: the samplesheet is a comma-separated file with a header line; required columns are "
    "'sample' and 'path', every column and its rules are in assets/schema_input.json."
)


@lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    text = (resources.files("scssl") / "assets" / "schema_input.json").read_text("utf-8")
    return json.loads(text)


def load_schema() -> dict[str, Any]:
    """Return (a copy of) the samplesheet JSON Schema shipped with the package."""
    return copy.deepcopy(_schema())


def _properties() -> dict[str, dict[str, Any]]:
    return _schema()["items"]["properties"]


def _line_of(message: str) -> int:
    found = _LINE_RE.search(message)
    return int(found.group(1)) if found else 0


def _cast(value: str, kind: str | None) -> Any:
    """Cast like nf-schema does; a value that cannot be cast stays a string."""
    if kind == "integer" and _INT_RE.match(value):
        return int(value)
    if kind == "number":
        try:
            number = float(value)
        except ValueError:
            return value
        return number if math.isfinite(number) else value
    return value


def _read_rows(path: Path, name: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Return the stripped header and ``(line, fields)`` for each non-blank data line."""
    if not path.is_file():
        what = "is a folder, not a CSV file" if path.is_dir() else "does not exist"
        raise InputError(f"Samplesheet {path} {what}.\n{_HINT}")
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            records = [(reader.line_num, row) for row in reader]
    except UnicodeDecodeError as exc:
        raise InputError(f"{name}: not a text CSV file ({exc.reason}).\n{_HINT}") from exc
    except csv.Error as exc:
        raise InputError(f"{name}: cannot be parsed as CSV ({exc}).\n{_HINT}") from exc
    records = [(line, [f.strip() for f in row]) for line, row in records]
    records = [(line, row) for line, row in records if any(row)]
    if not records:
        raise InputError(
            f"{name} is empty: expected a header line such as 'sample,path' and one line per "
            f"sample.\n{_HINT}"
        )
    return records[0][1], records[1:]


def _check_header(header: list[str], name: str) -> list[str]:
    """Raise for a header that cannot be used; return messages for unknown columns."""
    props = _properties()
    found = ", ".join(repr(c) for c in header)
    fatal = [
        f"{name} line 1: required column '{col}' is missing; columns found: {found}"
        for col in _schema()["items"]["required"]
        if col not in header
    ]
    if fatal and len(header) == 1 and any(sep in header[0] for sep in "\t;"):
        fatal.append(f"{name} line 1: the header is not comma-separated (tab or ';' found)")
    for i, col in enumerate(header, start=1):
        if not col:
            fatal.append(f"{name} line 1: column {i} has an empty name; name it or remove it")
        elif header.index(col) < i - 1:
            fatal.append(f"{name} line 1, column '{col}': appears more than once in the header")
    if fatal:
        raise InputError("\n".join([*fatal, _HINT]))
    unknown = []
    for col in header:
        if col not in props:
            close = difflib.get_close_matches(col, list(props), n=1)
            guess = f" (did you mean '{close[0]}'?)" if close else ""
            unknown.append(
                f"{name} line 1, column '{col}': unknown column{guess}; allowed columns: "
                + ", ".join(props)
            )
    return unknown


def _schema_problems(
    rows: list[dict[str, Any]], raws: list[dict[str, str]], lines: list[int], name: str
) -> list[str]:
    props = _properties()
    seen: set[tuple[int, str]] = set()
    problems = []
    for error in Draft202012Validator(_schema()).iter_errors(rows):
        if not error.path or not isinstance(error.path[0], int):
            continue  # array-level (minItems) errors are reported by read_samplesheet itself
        idx = error.path[0]
        if error.validator == "required":
            cols = [c for c in error.validator_value if c not in rows[idx]]
        else:
            cols = [str(error.path[1])] if len(error.path) > 1 else [""]
        for col in cols:
            if (idx, col) in seen:
                continue
            seen.add((idx, col))
            rule = props.get(col, {}).get("errorMessage", error.message)
            if error.validator == "required":
                reason = f"missing value; {rule}"
            else:
                reason = f"{rule} (got {raws[idx].get(col, str(error.instance))!r})"
            problems.append(f"{name} line {lines[idx]}, column '{col}': {reason}")
    return problems


def _unique_problems(rows: list[dict[str, Any]], lines: list[int], name: str) -> list[str]:
    keys = _schema().get("uniqueEntries") or []
    problems: list[str] = []
    first: dict[tuple[Any, ...], int] = {}
    for row, line in zip(rows, lines, strict=True):
        if not keys or not all(k in row for k in keys):
            continue
        combo = tuple(row[k] for k in keys)
        if combo in first:
            label = " and ".join(f"{k} {row[k]!r}" for k in keys)
            problems.append(
                f"{name} line {line}, column '{keys[0]}': duplicate {label}, already used on "
                f"line {first[combo]}; each {' + '.join(keys)} must be unique"
            )
        else:
            first.setdefault(combo, line)
    return problems


def _path_problems(rows: list[dict[str, Any]], lines: list[int], name: str) -> list[str]:
    problems = []
    exists_cols = [c for c, spec in _properties().items() if spec.get("x-path")]
    for row, line in zip(rows, lines, strict=True):
        for col in exists_cols:
            value = row.get(col)
            if not isinstance(value, str) or not value:
                continue
            where = f"{name} line {line}, column '{col}'"
            if not os.path.exists(value):
                problems.append(f"{where}: path does not exist: {value}")
                continue
            try:
                detect_format(value)
            except InputError as exc:
                problems.append(f"{where}: {exc}")
    return problems


def read_samplesheet(path: str | Path, *, check_paths: bool = True) -> pd.DataFrame:
    """Read, type and validate a samplesheet.

    Parameters
    ----------
    path
        CSV file with a header line; columns and rules are in ``assets/schema_input.json``.
        Empty cells are missing values. Relative ``path`` values are resolved against the
        folder holding the samplesheet (not the working directory); ``~`` is expanded.
    check_paths
        Also check that each ``path`` exists and holds a supported input format.

    Returns
    -------
    pandas.DataFrame
        One row per sample, indexed by ``sample``; ``path`` is absolute (str); optional columns
        appear only when present in the file, integers as ``Int64`` and numbers as ``float64``.

    Raises
    ------
    InputError
        Listing every problem found, one per line (``<file> line N, column 'x': reason``).
    """
    sheet = Path(path)
    name = sheet.name
    header, records = _read_rows(sheet, name)
    problems = _check_header(header, name)
    props = _properties()
    if not records:
        raise InputError(f"{name}: has a header but no samples (no data lines).\n{_HINT}")
    base = Path(os.path.abspath(sheet)).parent
    rows: list[dict[str, Any]] = []
    raws: list[dict[str, str]] = []
    lines: list[int] = []
    for line, fields in records:
        if len(fields) > len(header):
            problems.append(
                f"{name} line {line}: has {len(fields)} fields but the header has {len(header)} "
                "columns; quote values that contain commas"
            )
            continue
        raw = {c: v for c, v in zip(header, fields, strict=False) if v and c in props}
        row = {col: _cast(value, props[col].get("type")) for col, value in raw.items()}
        for col, spec in props.items():
            if spec.get("x-path") and col in row:
                row[col] = os.path.normpath(base / os.path.expanduser(str(row[col])))
        rows.append(row)
        raws.append(raw)
        lines.append(line)
    problems += _schema_problems(rows, raws, lines, name) + _unique_problems(rows, lines, name)
    if check_paths:
        problems += _path_problems(rows, lines, name)
    if problems:
        problems.sort(key=_line_of)
        more = len(problems) - MAX_REPORTED
        shown = problems[:MAX_REPORTED] + ([f"... and {more} more problems"] if more > 0 else [])
        head = f"Samplesheet {sheet} has {len(problems)} problem(s):"
        raise InputError("\n".join([head, *shown, _HINT]))
    return _to_frame(rows, [c for c in props if c in header])


def _to_frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    props = _properties()
    data = {}
    for col in columns:
        values = [row.get(col) for row in rows]
        kind = props[col].get("type")
        if kind == "integer":
            data[col] = pd.array(values, dtype="Int64")
        elif kind == "number":
            data[col] = pd.array([math.nan if v is None else v for v in values], dtype="float64")
        else:
            data[col] = pd.array(values, dtype=object)
    return pd.DataFrame(data).set_index("sample")


def qc_overrides(row: pd.Series) -> dict[str, int | float]:
    """Return the per-sample QC overrides present in ``row`` as plain Python numbers."""
    props = _properties()
    out: dict[str, int | float] = {}
    for col in QC_OVERRIDE_COLUMNS:
        if col in row.index and not pd.isna(row[col]):
            value = row[col]
            out[col] = int(value) if props[col].get("type") == "integer" else float(value)
    return out


def sample_fields(fields: dict[str, str], *, source: str = "--meta") -> dict[str, Any]:
    """Cast and check samplesheet fields given one by one (``--meta key=value`` in a task).

    Each value is cast by its column's schema type and validated against that column's schema,
    so a Nextflow task gets the same checks as a samplesheet row.
    """
    props = _properties()
    allowed = [k for k in props if k not in ("sample", "path")]
    out: dict[str, Any] = {}
    problems = []
    for key, raw in fields.items():
        if key not in allowed:
            problems.append(f"{source} {key}: unknown field; allowed: {', '.join(allowed)}")
            continue
        value = _cast(raw, props[key].get("type"))
        errors = list(Draft202012Validator(props[key]).iter_errors(value))
        if errors:
            hint = props[key].get("errorMessage", errors[0].message)
            problems.append(f"{source} {key}={raw}: {hint}")
            continue
        out[key] = value
    if problems:
        raise InputError("\n".join(problems))
    return out
