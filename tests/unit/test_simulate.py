"""The simulator writes valid Cell Ranger v3 folders whose biology is real enough to test on."""

from __future__ import annotations

import gzip
import hashlib
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scanpy as sc
import scipy.io
import scipy.sparse as sp
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score

from scssl._errors import InputError
from scssl.io.write_10x import write_10x_mtx
from scssl.sim import simulate

MATRIX_FILES = ("matrix.mtx.gz", "features.tsv.gz", "barcodes.tsv.gz")


def _matrix_dir(root: Path, sample: str) -> Path:
    return root / sample / "outs" / "filtered_feature_bc_matrix"


def _load(root: Path, sample: str) -> tuple[sc.AnnData, pd.DataFrame]:
    adata = sc.read_10x_mtx(_matrix_dir(root, sample), gex_only=False)
    truth = pd.read_csv(root / sample / "truth.csv")
    assert list(truth["barcode"]) == list(adata.obs_names)
    return adata, truth


def _gex(adata: sc.AnnData) -> sc.AnnData:
    return adata[:, adata.var["feature_types"] == "Gene Expression"]


def _row_sums(X: sp.spmatrix) -> np.ndarray:
    return np.asarray(X.sum(axis=1)).ravel()


def _singlets(truth: pd.DataFrame) -> np.ndarray:
    return (~truth["is_doublet"] & ~truth["is_low_quality"]).to_numpy()


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    sheet = simulate(tmp_path_factory.mktemp("sim") / "out", seed=7)
    return sheet.parent


def test_layout_and_samplesheet(sim: Path) -> None:
    sheet = pd.read_csv(sim / "samplesheet.csv")
    assert list(sheet.columns) == ["sample", "path", "batch", "condition", "expected_cells"]
    assert list(sheet["sample"]) == ["sim_1", "sim_2", "sim_3"]
    assert list(sheet["batch"]) == ["b1", "b2", "b3"]
    assert list(sheet["condition"]) == ["ctrl", "stim", "ctrl"]
    assert (sheet["expected_cells"] == 400).all()
    for row in sheet.itertuples():
        assert not Path(row.path).is_absolute()
        assert (sim / row.path) == sim / row.sample / "outs"
        for name in MATRIX_FILES:
            assert (sim / row.path / "filtered_feature_bc_matrix" / name).is_file()
        truth = pd.read_csv(sim / row.sample / "truth.csv")
        assert list(truth.columns) == ["barcode", "cell_type", "is_doublet", "is_low_quality"]
        assert len(truth) == 400 and truth["barcode"].is_unique
        assert truth["barcode"].str.fullmatch(r"[ACGT]{16}-1").all()
        assert truth["is_doublet"].sum() == 24 and truth["is_low_quality"].sum() == 20
        assert not (truth["is_doublet"] & truth["is_low_quality"]).any()
    assert not list(sim.rglob("*.tmp*"))


def test_matrix_file_format(sim: Path) -> None:
    folder = _matrix_dir(sim, "sim_1")
    with gzip.open(folder / "matrix.mtx.gz", "rt") as fh:
        lines = [next(fh) for _ in range(5)]
    assert lines[0] == "%%MatrixMarket matrix coordinate integer general\n"
    assert lines[1].startswith("%metadata_json:")
    n_features, n_cells, _ = map(int, lines[2].split())
    assert (n_features, n_cells) == (2000 + 12, 400)
    features = pd.read_csv(folder / "features.tsv.gz", sep="\t", header=None)
    assert features.shape == (2012, 3)
    gex = features[features[2] == "Gene Expression"]
    assert len(gex) == 2000 and (features.index[:2000] == gex.index).all()
    assert gex[0].str.fullmatch(r"ENSG9\d{10}").all() and gex[0].is_unique
    assert list(gex[1].iloc[-13:]) == [
        "MT-ND1", "MT-ND2", "MT-CO1", "MT-CO2", "MT-ATP8", "MT-ATP6", "MT-CO3", "MT-ND3",
        "MT-ND4L", "MT-ND4", "MT-ND5", "MT-ND6", "MT-CYB",
    ]  # fmt: skip
    assert gex[1].str.startswith("MT-").sum() == 13
    assert 35 <= gex[1].str.fullmatch(r"RP[SL]\d+[AX]?").sum() <= 45
    assert {"HBA1", "HBA2", "HBB", "HBD"} <= set(gex[1])
    assert gex[1].duplicated().sum() == 1  # one symbol shared by two gene ids
    adt = features[features[2] == "Antibody Capture"]
    assert len(adt) == 12 and {"CD3_TotalSeqB", "CD19_TotalSeqB", "IgG1_control_TotalSeqB"} <= set(
        adt[1]
    )


def test_counts_are_sparse_nonnegative_integers(sim: Path) -> None:
    adata, _ = _load(sim, "sim_1")
    X = adata.X.tocsr()
    assert X.data.min() > 0 and np.all(X.data == np.round(X.data))
    density = _gex(adata).X.nnz / (400 * 2000)
    assert 0.05 < density < 0.5  # most entries zero, as in real droplet data
    means = np.asarray(_gex(adata).X.mean(axis=0)).ravel()
    assert np.quantile(means, 0.99) > 20 * np.median(means)  # heavy-tailed gene abundance


def test_low_quality_cells_have_high_mt_and_low_counts(sim: Path) -> None:
    adata, truth = _load(sim, "sim_2")
    gex = _gex(adata)
    total = _row_sums(gex.X)
    mt = _row_sums(gex.X[:, gex.var_names.str.startswith("MT-")]) / total
    ribo = _row_sums(gex.X[:, gex.var_names.str.match(r"^RP[SL]")]) / total
    lq, ok = truth["is_low_quality"].to_numpy(), _singlets(truth)
    assert np.median(mt[lq]) > 0.2 and mt[lq].min() > 0.12
    assert np.median(mt[ok]) < 0.06 and np.quantile(mt[ok], 0.95) < 0.1
    assert np.median(total[lq]) < 0.4 * np.median(total[ok])
    assert 0.1 < np.median(ribo[ok]) < 0.3
    assert 1000 < np.median(total[ok]) < 3000


def test_doublets_have_larger_libraries(sim: Path) -> None:
    adata, truth = _load(sim, "sim_3")
    total = _row_sums(_gex(adata).X)
    db = truth["is_doublet"].to_numpy()
    assert np.median(total[db]) > 1.5 * np.median(total[_singlets(truth)])
    assert truth.loc[db, "cell_type"].str.contains(r"\+").all()
    pairs = truth.loc[db, "cell_type"].str.split("+", regex=False)
    assert all(a != b for a, b in pairs)


def test_cell_types_separate(sim: Path) -> None:
    adata, truth = _load(sim, "sim_1")
    ok = _singlets(truth)
    gex = _gex(adata)[ok].copy()
    sc.pp.normalize_total(gex, target_sum=1e4)
    sc.pp.log1p(gex)
    pcs = PCA(n_components=20, random_state=0).fit_transform(gex.X.toarray())
    labels = truth.loc[ok, "cell_type"]
    found = KMeans(labels.nunique(), n_init=10, random_state=0).fit_predict(pcs)
    assert labels.nunique() == 5
    assert adjusted_rand_score(labels, found) > 0.8


def test_proteins_follow_cell_type(sim: Path) -> None:
    adata, truth = _load(sim, "sim_1")
    adt = adata[:, adata.var["feature_types"] == "Antibody Capture"]
    counts = adt.X.toarray()
    clr = np.log1p(counts) - np.log1p(counts).mean(axis=1, keepdims=True)
    ok = _singlets(truth)
    table = pd.DataFrame(clr[ok], columns=adt.var_names).groupby(truth["cell_type"][ok].values)
    means = table.mean()
    assert means["CD19_TotalSeqB"].idxmax() == "B"
    assert means["CD14_TotalSeqB"].idxmax() == "Monocyte"
    assert means["CD56_TotalSeqB"].idxmax() == "NK"
    assert means["CD8a_TotalSeqB"].idxmax() == "T_CD8"
    assert means.loc["B", "CD19_TotalSeqB"] - means.drop("B")["CD19_TotalSeqB"].max() > 1.0
    raw = pd.DataFrame(counts, columns=adt.var_names)
    assert (
        raw["IgG1_control_TotalSeqB"].mean()
        < 0.5 * raw.drop(columns="IgG1_control_TotalSeqB").mean().min()
    )


def _robust_sd(x: np.ndarray) -> float:
    return float(1.4826 * np.median(np.abs(x - np.median(x))))


def _log_ratio(A: sp.spmatrix, B: sp.spmatrix) -> np.ndarray:
    """Per-gene log ratio of pseudo-bulk proportions, on genes well covered in both groups."""
    a, b = np.asarray(A.sum(axis=0)).ravel(), np.asarray(B.sum(axis=0)).ravel()
    keep = (a >= 100) & (b >= 100)
    return np.log(a[keep] / a.sum()) - np.log(b[keep] / b.sum())


def test_batch_effect_present(sim: Path, tmp_path: Path) -> None:
    flat = simulate(tmp_path / "flat", n_samples=2, n_proteins=0, batch_effect=0.0, seed=7).parent
    spread = {}
    for name, root in (("batch", sim), ("flat", flat)):
        (a, ta), (b, tb) = _load(root, "sim_1"), _load(root, "sim_2")
        spread[name] = _robust_sd(_log_ratio(_gex(a).X[_singlets(ta)], _gex(b).X[_singlets(tb)]))
    a, ta = _load(sim, "sim_1")
    X = _gex(a).X[_singlets(ta)]
    half = np.random.default_rng(0).permutation(X.shape[0]) < X.shape[0] // 2
    noise = _robust_sd(_log_ratio(X[half], X[~half]))
    assert spread["batch"] > 0.25  # sd 0.3 per sample -> about 0.42 between two samples
    assert spread["batch"] > 2 * noise
    assert spread["batch"] > 2 * spread["flat"]


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    kwargs = {"n_samples": 2, "n_cells": 80, "n_genes": 300, "n_proteins": 4}
    simulate(tmp_path / "a", seed=3, **kwargs)
    simulate(tmp_path / "b", seed=3, **kwargs)
    simulate(tmp_path / "c", seed=4, **kwargs)
    first, again, other = (_digests(tmp_path / x) for x in "abc")
    assert len(first) == 2 + 2 * 4 and first == again  # samplesheet, markers + 4 per sample
    key = "sim_1/outs/filtered_feature_bc_matrix/matrix.mtx.gz"
    assert first[key] != other[key]
    assert first["sim_1/truth.csv"] != other["sim_1/truth.csv"]
    assert first["markers.csv"] != other["markers.csv"]


def test_no_proteins_and_one_sample(tmp_path: Path) -> None:
    sheet = simulate(tmp_path / "s", n_samples=1, n_cells=50, n_genes=200, n_proteins=0)
    adata = sc.read_10x_mtx(_matrix_dir(sheet.parent, "sim_1"), gex_only=False)
    assert adata.shape == (50, 200)
    assert (adata.var["feature_types"] == "Gene Expression").all()
    assert pd.read_csv(sheet)["path"].tolist() == ["sim_1/outs"]


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"n_samples": 0}, "n_samples"),
        ({"n_samples": 2.5}, "n_samples"),
        ({"n_cells": True}, "n_cells"),
        ({"n_cells": 5}, "n_cells"),
        ({"n_genes": 50}, "n_genes"),
        ({"n_proteins": -1}, "n_proteins"),
        ({"n_cell_types": 0}, "n_cell_types"),
        ({"n_cell_types": 1}, "n_cell_types"),
        ({"n_genes": 100, "n_cell_types": 10}, "n_cell_types"),
        ({"batch_effect": -0.1}, "batch_effect"),
        ({"batch_effect": float("nan")}, "batch_effect"),
        ({"low_quality_rate": 0.9}, "low_quality_rate"),
        ({"doublet_rate": -0.01}, "doublet_rate"),
        ({"mean_counts": 0}, "mean_counts"),
        ({"seed": -1}, "seed"),
        ({"seed": "1"}, "seed"),
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict, name: str) -> None:
    with pytest.raises(InputError, match=re.escape(name)):
        simulate(tmp_path / "x", **kwargs)
    assert not (tmp_path / "x").exists()


def test_write_10x_mtx_roundtrip(tmp_path: Path) -> None:
    X = sp.csr_matrix(np.array([[0, 3, 0], [1, 0, 0], [0, 0, 0], [2, 5, 7]]))
    args = (["AAAC-1", "AAAG-1", "AACC-1", "ACGT-1"], ["g1", "g2", "p1"], ["A", "B", "P"],
            ["Gene Expression"] * 2 + ["Antibody Capture"])  # fmt: skip
    folder = write_10x_mtx(tmp_path / "m", X, *args)
    with gzip.open(folder / "matrix.mtx.gz", "rt") as fh:
        text = fh.read().splitlines()
    assert text[2:] == ["3 4 5", "2 1 3", "1 2 1", "1 4 2", "2 4 5", "3 4 7"]
    back = scipy.io.mmread(folder / "matrix.mtx.gz")
    assert (sp.csr_matrix(back).T != X).nnz == 0
    with gzip.open(folder / "features.tsv.gz", "rt") as fh:
        assert fh.readline() == "g1\tA\tGene Expression\n"
    before = _digests(folder)
    write_10x_mtx(tmp_path / "m", X, *args)
    assert _digests(folder) == before
    with pytest.raises(InputError, match="shape"):
        write_10x_mtx(tmp_path / "bad", X[:3], *args)
    with pytest.raises(InputError, match="integer"):
        write_10x_mtx(tmp_path / "bad", X * 0.5, *args)


def test_marker_table_names_each_type_and_its_marker_genes(tmp_path: Path) -> None:
    simulate(tmp_path, n_samples=1, n_cells=200, n_genes=600, n_proteins=0, seed=1)
    markers = pd.read_csv(tmp_path / "markers.csv")
    truth = pd.read_csv(tmp_path / "sim_1" / "truth.csv")
    types = set(truth["cell_type"][~truth["cell_type"].str.contains(r"\+")])
    assert set(markers["cell_type"]) == types
    assert (markers["weight"] > 0).all() and markers.groupby("cell_type").size().min() >= 3
    # a type's markers are higher in its own cells than in the others
    a = sc.read_10x_mtx(tmp_path / "sim_1" / "outs" / "filtered_feature_bc_matrix")
    sc.pp.normalize_total(a, target_sum=1e4)
    sc.pp.log1p(a)
    cell_type = truth.set_index("barcode").loc[a.obs_names, "cell_type"].to_numpy()
    for t, genes in markers.groupby("cell_type")["gene"]:
        score = np.asarray(a[:, a.var_names.isin(genes)].X.mean(axis=1)).ravel()
        assert score[cell_type == t].mean() > score[cell_type != t].mean() + 0.5, t
