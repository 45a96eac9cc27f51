"""Bad inputs: a clear message naming the file, row or field; a non-zero exit; no output."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pytest
from scipy import sparse

GENES = [f"ENSG{i:011d}" for i in range(1, 41)]


def write_mtx(
    folder: Path,
    counts: np.ndarray,
    *,
    field: str = "integer",
    genes=None,
    barcodes=None,
    values=None,
) -> Path:
    """Write a v3 folder for a genes x cells array (optionally with raw value strings)."""
    folder.mkdir(parents=True, exist_ok=True)
    genes = GENES[: counts.shape[0]] if genes is None else genes
    barcodes = [f"AAAC{i:012d}-1" for i in range(counts.shape[1])] if barcodes is None else barcodes
    r, c = np.nonzero(counts)
    vals = values if values is not None else [str(int(v)) for v in counts[r, c]]
    body = "".join(f"{i + 1} {j + 1} {v}\n" for i, j, v in zip(r, c, vals, strict=True))
    head = f"%%MatrixMarket matrix coordinate {field} general\n"
    head += f"{counts.shape[0]} {counts.shape[1]} {len(r)}\n"
    with gzip.open(folder / "matrix.mtx.gz", "wt") as f:
        f.write(head + body)
    with gzip.open(folder / "features.tsv.gz", "wt") as f:
        f.writelines(f"{g}\tSYM{k}\tGene Expression\n" for k, g in enumerate(genes))
    with gzip.open(folder / "barcodes.tsv.gz", "wt") as f:
        f.writelines(f"{b}\n" for b in barcodes)
    return folder


def counts(n_genes=40, n_cells=30, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).poisson(2.0, (n_genes, n_cells))


def scssl(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "scssl.cli", *map(str, args)], capture_output=True, text=True
    )


def ingest(tmp_path: Path, inp: Path | str) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path / "out" / "s.h5ad"
    return scssl("ingest", "--input", inp, "--output", out, "--sample", "s1"), out


def assert_fails(res: subprocess.CompletedProcess, out: Path, *needles: str, code: int = 2):
    assert res.returncode == code, res.stderr
    for n in needles:
        assert n in res.stderr, f"{n!r} not in: {res.stderr}"
    assert "Traceback" not in res.stderr
    assert not out.exists()
    if out.parent.exists():
        assert not [p for p in out.parent.iterdir() if p.name.endswith(".tmp")]


def test_missing_folder(tmp_path):
    res, out = ingest(tmp_path, tmp_path / "nope")
    assert_fails(res, out, "nope", "no such file or folder")


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    res, out = ingest(tmp_path, tmp_path / "empty")
    assert_fails(res, out, "empty", "the folder is empty")


def test_truncated_matrix(tmp_path):
    folder = write_mtx(tmp_path / "m", counts())
    raw = (folder / "matrix.mtx.gz").read_bytes()
    (folder / "matrix.mtx.gz").write_bytes(raw[: len(raw) // 2])
    res, out = ingest(tmp_path, folder)
    assert_fails(res, out, "matrix.mtx.gz", "truncated or corrupt")


def test_features_barcodes_count_mismatch(tmp_path):
    folder = write_mtx(tmp_path / "m", counts(), barcodes=[f"B{i}-1" for i in range(29)])
    res, out = ingest(tmp_path, folder)
    assert_fails(res, out, "30 barcodes", "barcodes.tsv.gz lists 29", "do not belong together")


def test_feature_count_mismatch(tmp_path):
    folder = write_mtx(tmp_path / "m", counts(), genes=GENES[:39])
    res, out = ingest(tmp_path, folder)
    assert_fails(res, out, "40 features", "features.tsv.gz lists 39")


def test_non_integer_counts(tmp_path):
    c = counts()
    n = int((c > 0).sum())
    folder = write_mtx(tmp_path / "m", c, field="real", values=["1.5"] * n)
    res, out = ingest(tmp_path, folder)
    assert_fails(res, out, "non-integer", "raw UMI counts")


def test_negative_counts(tmp_path):
    c = counts()
    n = int((c > 0).sum())
    folder = write_mtx(tmp_path / "m", c, values=["-3"] + ["1"] * (n - 1))
    res, out = ingest(tmp_path, folder)
    assert_fails(res, out, "negative values")


def test_nan_inf_in_h5ad(tmp_path):
    X = sparse.random(20, 30, density=0.3, format="csr", random_state=0, dtype=np.float32)
    X.data[:] = np.round(X.data * 10) + 1
    X.data[5] = np.inf
    X.data[7] = np.nan
    path = tmp_path / "in.h5ad"
    ad.AnnData(X=X).write_h5ad(path)
    res, out = ingest(tmp_path, path)
    assert_fails(res, out, "in.h5ad", "NaN/Inf")


def test_duplicate_barcodes(tmp_path):
    bcs = [f"AAAC{i:012d}-1" for i in range(30)]
    bcs[7] = bcs[3]
    folder = write_mtx(tmp_path / "m", counts(), barcodes=bcs)
    res, out = ingest(tmp_path, folder)
    assert_fails(res, out, "duplicated barcode", bcs[3])


def test_zero_cells(tmp_path):
    folder = write_mtx(tmp_path / "m", np.zeros((40, 0), int), barcodes=[])
    res, out = ingest(tmp_path, folder)
    assert_fails(res, out, "zero cells")


def test_zero_genes(tmp_path):
    folder = write_mtx(tmp_path / "m", np.zeros((0, 5), int), genes=[])
    res, out = ingest(tmp_path, folder)
    assert_fails(res, out, "zero genes")


def test_directory_where_file_expected(tmp_path):
    (tmp_path / "d.h5ad").mkdir()
    out = tmp_path / "qc" / "x.h5ad"
    res = scssl("qc", "--input", tmp_path / "d.h5ad", "--output", out)
    assert_fails(res, out, "d.h5ad", "is a folder; expected an .h5ad file")


def test_unsupported_extension(tmp_path):
    f = tmp_path / "counts.txt"
    f.write_text("1 2 3\n")
    res, out = ingest(tmp_path, f)
    assert_fails(res, out, "counts.txt", "unsupported file type")


def test_not_an_hdf5_file(tmp_path):
    f = tmp_path / "fake.h5"
    f.write_text("not hdf5")
    res, out = ingest(tmp_path, f)
    assert_fails(res, out, "fake.h5", "not a readable HDF5 file")


def test_missing_barcodes_file(tmp_path):
    folder = write_mtx(tmp_path / "m", counts())
    (folder / "barcodes.tsv.gz").unlink()
    res, out = ingest(tmp_path, folder)
    assert_fails(res, out, "missing barcodes.tsv(.gz)")


def test_samplesheet_missing_column(tmp_path):
    sheet = tmp_path / "s.csv"
    sheet.write_text("sample,batch\ns1,b1\n")
    out = tmp_path / "res"
    res = scssl("run", "--samplesheet", sheet, "--outdir", out)
    assert res.returncode == 2, res.stderr
    assert "path" in res.stderr and "s.csv" in res.stderr
    assert not out.exists()


def test_samplesheet_duplicate_sample_ids(tmp_path):
    folder = write_mtx(tmp_path / "m", counts())
    sheet = tmp_path / "s.csv"
    sheet.write_text(f"sample,path\ns1,{folder}\ns1,{folder}\n")
    out = tmp_path / "res"
    res = scssl("run", "--samplesheet", sheet, "--outdir", out)
    assert res.returncode == 2, res.stderr
    assert "line 3" in res.stderr and "'sample'" in res.stderr and "line 2" in res.stderr
    assert not out.exists()


def test_unknown_meta_field(tmp_path):
    folder = write_mtx(tmp_path / "m", counts())
    out = tmp_path / "out" / "s.h5ad"
    res = scssl(
        "ingest", "--input", folder, "--output", out, "--sample", "s1", "--meta", "max_pct_mito=5"
    )
    assert_fails(res, out, "--meta max_pct_mito: unknown field", "allowed")


@pytest.fixture(scope="module")
def mixed_id_spaces(tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("mixed")
    c = counts(n_cells=60)
    ens = write_mtx(tmp / "ens", c)
    sym = write_mtx(tmp / "sym", c, genes=[f"SYM{k}" for k in range(40)])
    paths = []
    for name, folder in (("ens", ens), ("sym", sym)):
        p = tmp / f"{name}.h5ad"
        assert scssl("ingest", "--input", folder, "--output", p, "--sample", name).returncode == 0
        paths.append(p)
    return paths[0], paths[1]


def test_mixed_gene_id_spaces(tmp_path, mixed_id_spaces):
    out = tmp_path / "merged.h5ad"
    res = scssl(
        "merge", "--input", mixed_id_spaces[0], "--input", mixed_id_spaces[1], "--output", out
    )
    assert_fails(res, out, "different gene id spaces", "ens: ensembl", "sym: symbol")


def test_every_cell_removed_by_qc(tmp_path, mixed_id_spaces):
    out = tmp_path / "qc" / "ens.h5ad"
    res = scssl(
        "qc",
        "--input",
        mixed_id_spaces[0],
        "--output",
        out,
        "--min-genes",
        "1000",
        "--doublet-method",
        "none",
        "--min-cells-pass",
        "10",
    )
    assert_fails(res, out, "only 0 of 60 cells passed QC", "min_genes flagged 60", code=1)
    assert not any(out.parent.glob("*")) if out.parent.exists() else True


def test_bad_option_value(tmp_path, mixed_id_spaces):
    out = tmp_path / "qc.h5ad"
    res = scssl("qc", "--input", mixed_id_spaces[0], "--output", out, "--filter-mode", "median")
    assert_fails(res, out, "--filter-mode", "'median' is not one of")


def test_meta_value_checked_against_schema(tmp_path):
    folder = write_mtx(tmp_path / "m", counts())
    out = tmp_path / "out" / "s.h5ad"
    res = scssl(
        "ingest", "--input", folder, "--output", out, "--sample", "s1", "--meta", "max_pct_mt=140"
    )
    assert_fails(res, out, "--meta max_pct_mt=140")


def test_embed_refuses_a_foreign_checkpoint(tmp_path, mixed_id_spaces):
    ck = tmp_path / "ck"
    ck.mkdir()
    (ck / "config.json").write_text('{"format": "something-else"}')
    (ck / "model.safetensors").write_bytes(b"\x00" * 16)
    out = tmp_path / "emb.h5ad"
    res = scssl("embed", "--input", mixed_id_spaces[0], "--checkpoint", ck, "--output", out)
    assert_fails(res, out, "not an scssl checkpoint config")


def test_pretrain_refuses_unpreprocessed_input(tmp_path, mixed_id_spaces):
    out = tmp_path / "ck"
    res = scssl("pretrain", "--input", mixed_id_spaces[0], "--output", out, "--device", "cpu")
    assert_fails(res, out, "no highly variable genes")


def test_pretrain_unknown_hyperparameter(tmp_path, mixed_id_spaces):
    out = tmp_path / "ck"
    res = scssl(
        "pretrain",
        "--input",
        mixed_id_spaces[0],
        "--output",
        out,
        "--device",
        "cpu",
        "--set",
        "maskr=swap",
    )
    assert_fails(res, out, "--family mae", "unknown MAEConfig option(s): ['maskr']")
