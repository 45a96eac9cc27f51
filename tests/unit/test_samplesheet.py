"""Tests for the samplesheet schema and :func:`scssl.io.samplesheet.read_samplesheet`."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from jsonschema import Draft202012Validator

from scssl._errors import InputError
from scssl.io.samplesheet import (
    METADATA_COLUMNS,
    QC_OVERRIDE_COLUMNS,
    load_schema,
    qc_overrides,
    read_samplesheet,
)

REPO = Path(__file__).resolve().parents[2]
HEADER = "sample,path"


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    """A folder with an .h5ad, a 10x .h5, a matrix folder and an unsupported file."""
    (tmp_path / "a.h5ad").write_bytes(b"")
    (tmp_path / "b.h5").write_bytes(b"")
    (tmp_path / "mtx").mkdir()
    (tmp_path / "mtx" / "matrix.mtx.gz").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("x")
    return tmp_path


def _sheet(folder: Path, text: str, name: str = "samplesheet.csv") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def _error(folder: Path, text: str, **kwargs: bool) -> str:
    with pytest.raises(InputError) as info:
        read_samplesheet(_sheet(folder, text), **kwargs)
    message = str(info.value)
    assert message.rstrip().splitlines()[-1].startswith("Hint:")
    return message


def test_valid_sheet_round_trips_with_dtypes(inputs: Path) -> None:
    text = (
        "sample,path,batch,condition,expected_cells,min_genes,max_genes,min_counts,max_counts,"
        "max_pct_mt,max_pct_ribo,max_pct_hb,n_mads,expected_doublet_rate\n"
        " s1 , a.h5ad ,b1,ctrl,5000,200,6000,500,50000,12.5,40,5,3,0.06\n"
        "s2,mtx,b2,treated,,,,,,,,,,\n"
        f"s3,{inputs / 'b.h5'},b2,,,,,,,,,,2.5,\n"
    )
    df = read_samplesheet(_sheet(inputs, text))
    assert list(df.index) == ["s1", "s2", "s3"]
    assert df.index.name == "sample"
    given = [c for c in METADATA_COLUMNS if c != "site"]  # site: only in federated sheets
    assert list(df.columns) == ["path", *given, *QC_OVERRIDE_COLUMNS]
    assert df.loc["s1", "path"] == str(inputs / "a.h5ad")
    assert df.loc["s2", "path"] == str(inputs / "mtx")
    assert all(Path(p).is_absolute() for p in df["path"])
    for col in ("expected_cells", "min_genes", "max_genes", "min_counts", "max_counts"):
        assert df[col].dtype == "Int64", col
    for col in ("max_pct_mt", "max_pct_ribo", "max_pct_hb", "n_mads", "expected_doublet_rate"):
        assert df[col].dtype == "float64", col
    assert df.loc["s1", "expected_cells"] == 5000
    assert pd.isna(df.loc["s2", "expected_cells"]) and pd.isna(df.loc["s3", "condition"])
    assert df.loc["s1", "batch"] == "b1"
    overrides = qc_overrides(df.loc["s1"])
    assert overrides == {
        "min_genes": 200, "max_genes": 6000, "min_counts": 500, "max_counts": 50000,
        "max_pct_mt": 12.5, "max_pct_ribo": 40.0, "max_pct_hb": 5.0, "n_mads": 3.0,
        "expected_doublet_rate": 0.06,
    }  # fmt: skip
    assert type(overrides["min_genes"]) is int and type(overrides["n_mads"]) is float
    assert qc_overrides(df.loc["s2"]) == {}
    assert qc_overrides(df.loc["s3"]) == {"n_mads": 2.5}


def test_minimal_sheet_has_only_path(inputs: Path) -> None:
    df = read_samplesheet(_sheet(inputs, f"{HEADER}\ns1,a.h5ad\n"))
    assert list(df.columns) == ["path"]
    assert qc_overrides(df.loc["s1"]) == {}


def test_relative_paths_resolve_against_sheet_folder(
    inputs: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    (inputs / "sheets").mkdir()
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    df = read_samplesheet(_sheet(inputs / "sheets", f"{HEADER}\ns1,../a.h5ad\n"))
    assert df.loc["s1", "path"] == str(inputs / "a.h5ad")


def test_check_paths_false_skips_existence(tmp_path: Path) -> None:
    df = read_samplesheet(_sheet(tmp_path, f"{HEADER}\ns1,missing.h5ad\n"), check_paths=False)
    assert df.loc["s1", "path"] == str(tmp_path / "missing.h5ad")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"samplesheet\.csv does not exist"):
        read_samplesheet(tmp_path / "samplesheet.csv")


def test_empty_file(tmp_path: Path) -> None:
    assert "samplesheet.csv is empty" in _error(tmp_path, "\n  \n")


def test_header_without_samples(tmp_path: Path) -> None:
    assert "has a header but no samples" in _error(tmp_path, f"{HEADER}\n")


def test_missing_required_column(inputs: Path) -> None:
    msg = _error(inputs, "sample,file\ns1,a.h5ad\n")
    assert "line 1: required column 'path' is missing; columns found: 'sample', 'file'" in msg


def test_not_comma_separated(inputs: Path) -> None:
    msg = _error(inputs, "sample\tpath\ns1\ta.h5ad\n")
    assert "required column 'sample' is missing" in msg
    assert "not comma-separated" in msg


def test_unknown_column(inputs: Path) -> None:
    msg = _error(inputs, "sample,path,min_gene\ns1,a.h5ad,10\n")
    assert "samplesheet.csv line 1, column 'min_gene': unknown column" in msg
    assert "did you mean 'min_genes'?" in msg
    assert "allowed columns: sample, path, batch" in msg


def test_bad_sample_characters(inputs: Path) -> None:
    msg = _error(inputs, f"{HEADER}\nmy sample!,a.h5ad\n")
    assert "samplesheet.csv line 2, column 'sample':" in msg
    assert "only letters, digits, '_', '.' and '-'" in msg and "(got 'my sample!')" in msg


def test_duplicate_sample(inputs: Path) -> None:
    msg = _error(inputs, f"{HEADER}\ns1,a.h5ad\ns2,a.h5ad\ns1,mtx\n")
    assert "line 4, column 'sample': duplicate sample 's1', already used on line 2" in msg


@pytest.mark.parametrize("row", ["s1,", "s1", "s1,   "])
def test_missing_path(inputs: Path, row: str) -> None:
    msg = _error(inputs, f"{HEADER}\n{row}\n")
    assert "samplesheet.csv line 2, column 'path': missing value; Path must be given" in msg


def test_path_does_not_exist(inputs: Path) -> None:
    msg = _error(inputs, f"{HEADER}\ns1,nope.h5ad\n")
    assert f"line 2, column 'path': path does not exist: {inputs / 'nope.h5ad'}" in msg


def test_unsupported_format(inputs: Path) -> None:
    msg = _error(inputs, f"{HEADER}\ns1,notes.txt\n")
    assert "line 2, column 'path':" in msg and "unsupported file type" in msg


def test_non_integer_expected_cells(inputs: Path) -> None:
    msg = _error(inputs, "sample,path,expected_cells\ns1,a.h5ad,1.5\ns2,a.h5ad,many\n")
    assert "line 2, column 'expected_cells': Expected cells must be a whole number >= 1" in msg
    assert "(got '1.5')" in msg and "line 3, column 'expected_cells'" in msg


def test_out_of_range_pct_mt(inputs: Path) -> None:
    msg = _error(inputs, "sample,path,max_pct_mt\ns1,a.h5ad,150\n")
    assert "line 2, column 'max_pct_mt': max_pct_mt must be a number between 0 and 100" in msg
    assert "(got '150')" in msg


def test_too_many_fields(inputs: Path) -> None:
    msg = _error(inputs, f"{HEADER}\ns1,a.h5ad,extra\n")
    assert "samplesheet.csv line 2: has 3 fields but the header has 2 columns" in msg


def test_all_problems_reported_in_line_order(inputs: Path) -> None:
    text = "sample,path,n_mads\ns1,a.h5ad,0\nbad name,nope.h5ad,\ns1,,2\n"
    lines = [ln for ln in _error(inputs, text).splitlines() if " line " in ln]
    assert len(lines) == 5
    assert [ln.split(",")[0].split()[-1] for ln in lines] == ["2", "3", "3", "4", "4"]
    assert "n_mads must be a number > 0" in lines[0]


def test_schema_is_valid_draft_2020_12_and_matches_repo_asset() -> None:
    schema = load_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["type"] == "array" and schema["uniqueEntries"] == ["sample"]
    items = schema["items"]
    assert items["required"] == ["sample", "path"] and items["properties"]["sample"]["meta"]
    assert set(QC_OVERRIDE_COLUMNS) | set(METADATA_COLUMNS) <= set(items["properties"])
    assert all("errorMessage" in spec for spec in items["properties"].values())
    asset = REPO / "assets" / "schema_input.json"
    assert asset.is_symlink()
    assert json.loads(asset.read_text()) == schema
