"""Labelled real data sets for the embedding benchmarks, as preprocessed AnnData.

Every loader returns the scssl layout: ``layers['counts']`` (CSR float32 raw counts),
``obs['label']`` (str), ``obs['batch']`` (the donor for Baron, else one batch),
``obs['scored']`` (bool: cells whose label counts in the scores) and, for CBMC,
``obsm['protein_clr']`` (the published, already CLR-normalised ADTs, ``ADT_0`` ... ``ADT_9``).
The data are then preprocessed with :func:`scssl.pp.preprocess` (2000 HVGs, batch-aware for
Baron), so ``X`` is log-normalized and ``obsm['X_pca']`` is the PCA baseline.

The files are those described in ``../shared/data/README.md`` (the plain HDF5 benchmark
copies keep cells in rows; checked below against the label vector).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pandas as pd
from scipy import sparse

from .._errors import InputError
from .._keys import COUNTS_LAYER, PROTEIN_CLR_KEY, PROTEIN_KEY

DATA_ENV = "SCSSL_DATA_DIR"
DATASETS = ("10x_pbmc_4271", "mouse_bladder_2746", "pbmc4k_2170", "baron_mouse", "cbmc")
_H5 = {
    "10x_pbmc_4271": "benchmarks/10x_pbmc_4271_top2000.h5",
    "mouse_bladder_2746": "benchmarks/mouse_bladder_2746_top2000.h5",
    "cbmc": "citeseq/cbmc_stoeckius2017_top2000.h5",
}
UNLABELLED = "?"  # pbmc4k cells the annotation left open: trained on, never scored


def default_data_dir() -> Path | None:
    """``$SCSSL_DATA_DIR``, else ``../shared/data`` beside the working directory or the repo."""
    env = os.environ.get(DATA_ENV)
    repo = Path(__file__).resolve().parents[3]
    cands = ([Path(env)] if env else []) + [
        Path.cwd().parent / "shared" / "data",
        repo.parent / "shared" / "data",
    ]
    return next((c for c in cands if c.is_dir()), None)


def _csr(X: np.ndarray | sparse.spmatrix) -> sparse.csr_matrix:
    return sparse.csr_matrix(X, dtype=np.float32)


def _assemble(
    counts: sparse.csr_matrix,
    labels: np.ndarray,
    *,
    genes: list[str] | None,
    obs_names: list[str] | None,
    batch: np.ndarray | str,
    scored: np.ndarray | None = None,
) -> ad.AnnData:
    n, g = counts.shape
    obs = pd.DataFrame(
        {
            "label": pd.Categorical(np.asarray(labels, dtype=str)),
            "batch": pd.Categorical(np.broadcast_to(np.asarray(batch, dtype=str), (n,))),
            "scored": np.ones(n, bool) if scored is None else np.asarray(scored, bool),
        },
        index=pd.Index(obs_names if obs_names is not None else [f"c{i}" for i in range(n)]),
    )
    names = genes if genes is not None else [f"g{j}" for j in range(g)]
    var = pd.DataFrame({"gene_ids": names}, index=ad.utils.make_index_unique(pd.Index(names)))
    adata = ad.AnnData(X=counts, obs=obs, var=var)
    adata.layers[COUNTS_LAYER] = adata.X
    return adata


def _h5_labels(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y)
    if np.issubdtype(y.dtype, np.number) and np.all(y == np.round(y)):
        y = y.astype(np.int64)
    return y.astype(str)


def _read_plain_h5(path: Path) -> tuple[sparse.csr_matrix, np.ndarray, np.ndarray | None]:
    with h5py.File(path, "r") as h:
        X = np.asarray(h["X"][:], dtype=np.float32)
        y = np.asarray(h["Y"][:]).ravel()
        adt = np.asarray(h["ADT_X"][:], dtype=np.float32) if "ADT_X" in h else None
    if X.shape[0] != len(y) and X.shape[1] == len(y):
        X = X.T  # stored genes x cells: put cells in rows
    if X.shape[0] != len(y):
        raise InputError(f"{path}: X {X.shape} does not match {len(y)} labels in Y.")
    if adt is not None and adt.shape[0] != len(y):
        adt = adt.T
    return _csr(X), _h5_labels(y), adt


def _load_h5(name: str, root: Path) -> ad.AnnData:
    path = root / _H5[name]
    counts, labels, adt = _read_plain_h5(path)
    adata = _assemble(counts, labels, genes=None, obs_names=None, batch=name)
    if adt is not None:
        cols = [f"ADT_{j}" for j in range(adt.shape[1])]
        adata.obsm[PROTEIN_CLR_KEY] = pd.DataFrame(adt, index=adata.obs_names, columns=cols)
    adata.uns["benchmark_source"] = str(path)
    return adata


def _load_pbmc4k(root: Path) -> ad.AnnData:
    from .read import read_cellranger

    folder = root / "cellranger" / "pbmc4k_2170_labeled"
    raw = read_cellranger(folder / "filtered_feature_bc_matrix")
    lab = pd.read_csv(folder / "cell_labels.csv", index_col="barcode")["Annotation"].astype(str)
    labels = lab.reindex(raw.obs_names)
    if labels.isna().any():
        raise InputError(f"{folder}: {int(labels.isna().sum())} cells have no row in labels.")
    adata = _assemble(
        _csr(raw.layers[COUNTS_LAYER]),
        labels.to_numpy(),
        genes=raw.var_names.tolist(),
        obs_names=raw.obs_names.tolist(),
        batch="pbmc4k",
        scored=labels.to_numpy() != UNLABELLED,
    )
    adata.var["gene_ids"] = raw.var["gene_ids"].astype(str).to_numpy()
    adata.uns["benchmark_source"] = str(folder)
    return adata


def _load_baron(root: Path) -> ad.AnnData:
    folder = root / "benchmarks" / "baron_mouse_pancreas"
    frames = []
    for gsm in ("GSM2230761", "GSM2230762"):
        files = sorted(folder.glob(f"{gsm}_*.csv.gz"))
        if not files:
            raise InputError(f"{folder}: no {gsm}_*.csv.gz")
        df = pd.read_csv(files[0], index_col=0)
        # file name GSM..._mouse1_umifm_counts.csv.gz: the donor is the second field
        df.insert(0, "donor", files[0].name.split("_")[1])
        frames.append(df)
    df = pd.concat(frames, join="outer").fillna(0)
    genes = [c for c in df.columns if c not in ("donor", "barcode", "assigned_cluster")]
    adata = _assemble(
        _csr(df[genes].to_numpy(np.float32)),
        df["assigned_cluster"].to_numpy(),
        genes=genes,
        obs_names=df.index.astype(str).tolist(),
        batch=df["donor"].to_numpy(),
    )
    adata.obs["barcode"] = df["barcode"].astype(str).to_numpy()
    adata.uns["benchmark_source"] = str(folder)
    return adata


def _loaders() -> dict[str, Callable[[Path], ad.AnnData]]:
    return {
        "10x_pbmc_4271": lambda r: _load_h5("10x_pbmc_4271", r),
        "mouse_bladder_2746": lambda r: _load_h5("mouse_bladder_2746", r),
        "pbmc4k_2170": _load_pbmc4k,
        "baron_mouse": _load_baron,
        "cbmc": lambda r: _load_h5("cbmc", r),
    }


def load_benchmark(
    name: str,
    data_dir: str | Path | None = None,
    *,
    preprocess: bool = True,
    n_top_genes: int = 2000,
) -> ad.AnnData:
    """One labelled benchmark data set in the scssl layout, preprocessed unless told not to.

    Parameters
    ----------
    name
        One of :data:`DATASETS`.
    data_dir
        The shared data folder (default: :func:`default_data_dir`).
    preprocess
        Run :func:`scssl.pp.preprocess` (``n_top_genes`` HVGs, ``batch_key='batch'``, PCA of
        the log-normalized HVGs, not z-scored).

    Returns
    -------
    AnnData with ``layers['counts']``, ``obs['label', 'batch', 'scored']`` and, for ``cbmc``,
    ``obsm['protein_clr']``; ``uns['benchmark']`` names the set and its scored classes.
    """
    if name not in DATASETS:
        raise InputError(f"unknown benchmark {name!r}; choose one of {', '.join(DATASETS)}")
    root = Path(data_dir) if data_dir is not None else default_data_dir()
    if root is None or not root.is_dir():
        raise InputError(f"benchmark data folder not found ({root}); set ${DATA_ENV}.")
    adata = _loaders()[name](root)
    if PROTEIN_KEY in adata.obsm:  # never re-normalise: the benchmark ADTs are already CLR
        del adata.obsm[PROTEIN_KEY]
    scored = adata.obs["scored"].to_numpy(bool)
    classes = sorted(adata.obs["label"].astype(str)[scored].unique())
    adata.uns["benchmark"] = {
        "name": name,
        "n_classes": len(classes),
        "classes": classes,
        "n_scored": int(scored.sum()),
    }
    if preprocess:
        from ..pp.preprocess import PreprocessParams
        from ..pp.preprocess import preprocess as _preprocess

        adata.uns.pop("log1p", None)
        # obsm['X_pca'] stays the PCA of log-normalized HVGs: the benchmarks' first baseline
        # (quality.py scores the scaled one beside it)
        params = PreprocessParams(n_top_genes=n_top_genes, batch_key="batch", scale_pca=False)
        _preprocess(adata, params)
    return adata
