"""Top marker genes per cluster: from a markers table, ``uns['rank_genes_groups']``, or computed.

The computed fallback ranks genes by the difference of mean log-normalized expression between
a cluster and all other cells, among genes detected in at least 25% of the cluster's cells:
one pass over the sparse matrix, a quick description rather than a test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from .._errors import InputError

GROUP_COLUMNS = ("cluster", "group", "leiden", "cell_type", "label")
GENE_COLUMNS = ("gene", "names", "gene_symbol", "gene_symbols", "feature")
SCORE_COLUMNS = ("logfoldchanges", "log2fc", "logfc", "scores", "score", "mean_diff")
MIN_DETECTED = 0.25


def read_markers(path: str | Path) -> pd.DataFrame:
    """A markers table (TSV/CSV): one row per cluster and gene, best first within a cluster.

    Returns columns ``group``, ``gene`` and ``score`` (NaN when the table has no score).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file (a markers table).")
    sep = "," if path.suffix.lower() == ".csv" else "\t"
    try:
        table = pd.read_csv(path, sep=sep)
    except (ValueError, pd.errors.ParserError) as err:
        raise InputError(f"{path}: unreadable markers table ({err}).") from None
    lower = {c.lower(): c for c in table.columns}
    group = next((lower[c] for c in GROUP_COLUMNS if c in lower), None)
    gene = next((lower[c] for c in GENE_COLUMNS if c in lower), None)
    if group is None or gene is None:
        raise InputError(
            f"{path}: needs a cluster column ({', '.join(GROUP_COLUMNS)}) and a gene column "
            f"({', '.join(GENE_COLUMNS)}); found {list(table.columns)}."
        )
    score = next((lower[c] for c in SCORE_COLUMNS if c in lower), None)
    out = pd.DataFrame(
        {
            "group": table[group].astype(str),
            "gene": table[gene].astype(str),
            "score": table[score].astype(float) if score else np.nan,
        }
    )
    return out


def uns_markers(uns: dict[str, Any], cluster_key: str) -> pd.DataFrame | None:
    """``uns['rank_genes_groups']`` (scanpy) when it was computed on ``cluster_key``."""
    rgg = uns.get("rank_genes_groups")
    if not isinstance(rgg, dict) or "names" not in rgg:
        return None
    if rgg.get("params", {}).get("groupby") not in (cluster_key, None):
        return None
    names = rgg["names"]
    scores = rgg.get("logfoldchanges", rgg.get("scores"))
    rows = []
    for group in names.dtype.names or ():
        for rank, gene in enumerate(names[group]):
            score = float(scores[group][rank]) if scores is not None else np.nan
            rows.append((str(group), str(gene), score))
    return pd.DataFrame(rows, columns=["group", "gene", "score"]) if rows else None


def _normalized_x(path: Path, n_obs: int) -> tuple[sparse.csr_matrix, list[str]]:
    """X as log-normalized CSR, and gene names, from an .h5ad on disk."""
    import h5py
    from anndata.io import read_elem

    with h5py.File(path, "r") as f:
        uns_scssl = read_elem(f["uns"]["scssl"]) if "uns" in f and "scssl" in f["uns"] else {}
        layer = uns_scssl.get("X_layer")
        node = f["layers"][layer] if layer else f["X"]
        X = read_elem(node)
        var = read_elem(f["var"])
        is_log = "log1p" in f.get("uns", {}) and layer is None
    X = sparse.csr_matrix(X, dtype=np.float32)
    if X.shape[0] != n_obs:
        raise InputError(f"{path}: X has {X.shape[0]} rows, obs {n_obs}.")
    if not is_log:
        size = np.asarray(X.sum(axis=1)).ravel()
        X = sparse.diags(1e4 / np.maximum(size, 1)).dot(X).tocsr()
        X.data = np.log1p(X.data)
    return X, [str(v) for v in var.index]


def quick_markers(path: Path, groups: pd.Series, n_top: int = 10) -> pd.DataFrame:
    """Top ``n_top`` genes per group by mean log-expression difference vs the other cells."""
    X, genes = _normalized_x(path, len(groups))
    codes = pd.Categorical(groups.astype(str))
    k, n = len(codes.categories), len(codes)
    ok = codes.codes >= 0
    G = sparse.csr_matrix(
        (np.ones(ok.sum(), np.float32), (codes.codes[ok], np.flatnonzero(ok))), shape=(k, n)
    )
    sizes = np.asarray(G.sum(axis=1)).ravel()
    sums = np.asarray(G.dot(X).todense())
    values, X.data = X.data, np.ones_like(X.data)  # detection counts without copying indices
    frac = np.asarray(G.dot(X).todense()) / np.maximum(sizes, 1)[:, None]
    X.data = values
    total = sums.sum(axis=0)
    rest = np.maximum(sizes.sum() - sizes, 1)[:, None]
    diff = sums / np.maximum(sizes, 1)[:, None] - (total[None, :] - sums) / rest
    diff[frac < MIN_DETECTED] = -np.inf
    rows = []
    for i, group in enumerate(codes.categories):
        top = np.argsort(-diff[i], kind="stable")[:n_top]
        rows += [(str(group), genes[j], float(diff[i, j])) for j in top if np.isfinite(diff[i, j])]
    return pd.DataFrame(rows, columns=["group", "gene", "score"])


def top_markers(table: pd.DataFrame, n_top: int) -> dict[str, list[str]]:
    """The first ``n_top`` genes of every group, groups in natural order."""
    out: dict[str, list[str]] = {}
    for group, sub in table.groupby("group", sort=False):
        out[str(group)] = sub["gene"].head(n_top).tolist()
    return dict(sorted(out.items(), key=lambda kv: _natural(kv[0])))


def _natural(v: str) -> tuple:
    try:
        return (0, float(v), v)
    except ValueError:
        return (1, 0.0, v)
