"""Marker genes of clusters: rank_genes_groups on log-normalized data, as a flat table."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd

from .._errors import InputError
from .._log import step

MAX_CELLS_PER_GROUP = 1000

COLUMNS = (
    "cluster",
    "rank",
    "gene",
    "score",
    "logfoldchange",
    "pval",
    "pval_adj",
    "pct_in",
    "pct_out",
)


def rank_markers(
    adata: ad.AnnData,
    *,
    groupby: str,
    n_genes: int = 25,
    method: str = "wilcoxon",
    key_added: str = "rank_genes_groups",
    max_cells_per_group: int = MAX_CELLS_PER_GROUP,
    seed: int = 0,
) -> pd.DataFrame:
    """Top ``n_genes`` up-regulated genes of each group of ``obs[groupby]`` against the rest.

    ``X`` must be log-normalized (``uns['log1p']``, as ``scssl preprocess`` writes it); all
    genes of ``adata`` are tested. Groups of a single cell are left out. A group larger than
    ``max_cells_per_group`` (0: no limit) is represented by that many of its cells, drawn
    with ``seed`` (as Seurat's ``max.cells.per.ident``): the test's cost then stops growing
    with the cells of large clusters, and the ranking of real markers hardly changes.

    Returns
    -------
    A table with columns :data:`COLUMNS` (pct = share of cells with nonzero expression).
    Also writes scanpy's ``uns[key_added]``.
    """
    import scanpy as sc

    if "log1p" not in adata.uns:
        raise InputError("X is not log-normalized (no uns['log1p']); run `scssl preprocess`.")
    if groupby not in adata.obs:
        raise InputError(f"no obs column {groupby!r} to rank marker genes by.")
    sizes = adata.obs[groupby].value_counts()
    groups = [str(g) for g in sizes.index if sizes[g] >= 2]
    if len(groups) < 2 or adata.obs[groupby].nunique() < 2:
        return pd.DataFrame(columns=list(COLUMNS))
    with step(f"rank_genes_groups {groupby} ({method})") as added:
        groups = sorted(groups, key=lambda g: (len(g), g))
        target = _capped(adata, groupby, max_cells_per_group, seed)
        sc.tl.rank_genes_groups(
            target,
            groupby,
            groups=groups,
            reference="rest",
            method=method,
            use_raw=False,
            n_genes=min(n_genes, adata.n_vars),
            pts=True,
            key_added=key_added,
        )
        res = target.uns[key_added]
        res["params"]["max_cells_per_group"] = max_cells_per_group
        res["params"]["n_cells_tested"] = target.n_obs
        adata.uns[key_added] = res
        rows = []
        for g in groups:
            genes = np.asarray(res["names"][g])
            pts = res["pts"][g].reindex(genes).to_numpy()
            rest = res["pts_rest"][g].reindex(genes).to_numpy()
            for i, gene in enumerate(genes):
                rows.append(
                    (
                        g,
                        i + 1,
                        gene,
                        float(res["scores"][g][i]),
                        float(res["logfoldchanges"][g][i]),
                        float(res["pvals"][g][i]),
                        float(res["pvals_adj"][g][i]),
                        float(pts[i]),
                        float(rest[i]),
                    )
                )
        added.append(f"uns['{key_added}']")
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _capped(adata: ad.AnnData, groupby: str, cap: int, seed: int) -> ad.AnnData:
    """``adata`` itself, or a lean copy holding at most ``cap`` seeded cells per group."""
    codes = adata.obs[groupby].astype("category").cat.codes.to_numpy()
    counts = np.bincount(codes[codes >= 0])
    if cap <= 0 or counts.max(initial=0) <= cap:
        return adata
    rng = np.random.default_rng(seed)
    keep = np.sort(
        np.concatenate(
            [
                (rows if len(rows) <= cap else rng.choice(rows, cap, replace=False))
                for rows in (np.flatnonzero(codes == c) for c in range(len(counts)))
            ]
        )
    )
    return ad.AnnData(
        X=adata.X[keep],
        obs=adata.obs[[groupby]].iloc[keep],
        var=pd.DataFrame(index=adata.var_names),
        uns={"log1p": adata.uns["log1p"]},
    )


def top_markers(table: pd.DataFrame, n: int = 3) -> dict[str, list[str]]:
    """The first ``n`` genes of each cluster of a :func:`rank_markers` table."""
    if table.empty:
        return {}
    return {
        str(c): df.sort_values("rank")["gene"].head(n).tolist()
        for c, df in table.groupby("cluster", sort=False)
    }
