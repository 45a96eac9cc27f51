"""Marker tables: the bundled ones, user CSV/TSV/GMT files, and clear errors for bad ones."""

from __future__ import annotations

import pytest

from scssl._errors import InputError
from scssl.io.markers import BUNDLED, bundled_marker_tables, read_markers


def test_bundled_tables_ship_with_the_package_and_name_canonical_markers():
    assert set(bundled_marker_tables()) == set(BUNDLED)
    pbmc = read_markers("pbmc_human")
    assert {"CD3D", "CD3E"} <= set(pbmc.markers["CD4 T"]) and pbmc.markers["NK"]["CD3E"] < 0
    assert pbmc.markers["B"]["MS4A1"] == 1.0 and "LYZ" in pbmc.markers["CD14 Monocyte"]
    mouse = read_markers("pancreas_mouse")
    assert {"Ins1", "Ins2"} <= set(mouse.markers["beta"]) and "Gcg" in mouse.markers["alpha"]
    human = read_markers("pancreas_human")
    assert "INS" in human.markers["beta"] and "PRSS1" in human.markers["acinar"]


def test_user_csv_tsv_and_gmt(tmp_path):
    csv = tmp_path / "m.csv"
    csv.write_text("# my table\ncell_type,gene\nA,G1\nA,G2\nB,G3\n")
    t = read_markers(csv)
    assert t.markers == {"A": {"G1": 1.0, "G2": 1.0}, "B": {"G3": 1.0}} and t.name == "m"
    tsv = tmp_path / "m.tsv"
    tsv.write_text("Cell_Type\tGene\tWeight\nA\tG1\t2\nA\tG9\t-1\nB\tG3\t0.5\n")
    assert read_markers(tsv).markers == {"A": {"G1": 2.0, "G9": -1.0}, "B": {"G3": 0.5}}
    gmt = tmp_path / "m.gmt"
    gmt.write_text("A\tdesc\tG1\tG2\nB\tdesc\tG3\n")
    assert read_markers(gmt).markers == {"A": {"G1": 1.0, "G2": 1.0}, "B": {"G3": 1.0}}


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("type,symbol\nA,G1\n", "missing column(s) ['cell_type', 'gene']"),
        ("cell_type,gene,weight\nA,G1,high\n", "weight 'high' of G1 is not a number"),
        ("cell_type,gene,weight\nA,G1,-1\n", "['A'] have no positive-weight marker"),
        ("cell_type,gene\n", "no markers found"),
    ],
)
def test_bad_tables_name_the_file_and_the_problem(tmp_path, text, needle):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        read_markers(path)
    assert str(path) in str(err.value) and needle in str(err.value)


def test_unknown_table_lists_the_bundled_ones(tmp_path):
    with pytest.raises(InputError, match="pbmc_human, pancreas_human, pancreas_mouse"):
        read_markers(tmp_path / "nope.csv")
