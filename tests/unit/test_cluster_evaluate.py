"""Clustering, marker genes and the evaluation metrics, on simulated cells with known types."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse
from sklearn.metrics import adjusted_rand_score

from scssl._errors import InputError
from scssl.tl import _metrics as M
from scssl.tl.cluster import cluster, resolve_rep
from scssl.tl.evaluate import evaluate
from scssl.tl.markers import COLUMNS, rank_markers, top_markers
from tests._annot_data import sim_preprocessed


@pytest.fixture(scope="module")
def clustered(sim_dir):
    adata = sim_preprocessed(sim_dir)
    cluster(adata, use_rep="X_pca", resolutions=(0.3, 1.0), n_clusters=5, seed=0)
    return adata


def test_leiden_kmeans_umap_recover_the_cell_types(clustered):
    a = clustered
    truth = a.obs["cell_type"].astype(str)
    assert list(a.uns["scssl_cluster"]["keys"]) == ["leiden_0.3", "leiden_1.0", "kmeans"]
    assert adjusted_rand_score(truth, a.obs["kmeans"]) >= 0.9
    assert adjusted_rand_score(truth, a.obs["leiden_0.3"]) >= 0.7
    assert a.obs["leiden_1.0"].nunique() >= a.obs["leiden_0.3"].nunique()
    assert a.obsm["X_umap"].shape == (a.n_obs, 2) and np.isfinite(a.obsm["X_umap"]).all()
    assert "connectivities" in a.obsp and a.layers["counts"].dtype == np.float32
    assert a.obsm["protein_counts"].shape[1] == 12


def test_same_seed_same_clusters_and_umap(clustered):
    b = clustered.copy()
    for k in ("leiden_0.3", "leiden_1.0", "kmeans"):
        del b.obs[k]
    del b.obsm["X_umap"]
    cluster(b, use_rep="X_pca", resolutions=(0.3, 1.0), n_clusters=5, seed=0)
    for k in ("leiden_0.3", "leiden_1.0", "kmeans"):
        assert (b.obs[k] == clustered.obs[k]).all()
    np.testing.assert_array_equal(b.obsm["X_umap"], clustered.obsm["X_umap"])


def test_bad_cluster_options_are_refused(clustered):
    with pytest.raises(InputError, match=r"--use-rep 'X_nope': no such obsm key"):
        resolve_rep(clustered, "X_nope")
    with pytest.raises(InputError, match="--n-clusters must be in"):
        cluster(clustered.copy(), use_rep="X_pca", n_clusters=1, umap=False)


def test_marker_genes_are_up_in_their_group(clustered):
    a = clustered.copy()
    table = rank_markers(a, groupby="cell_type", n_genes=10)
    assert tuple(table.columns) == COLUMNS and set(table["cluster"]) == set(a.obs["cell_type"])
    assert (table["logfoldchange"] > 1).mean() > 0.9 and (table["pct_in"] > table["pct_out"]).all()
    assert (table["pval_adj"] < 1e-3).mean() > 0.9
    top = top_markers(table, 3)
    # a group's top genes are higher in that group than in any other
    for group, genes in top.items():
        X = a[:, genes].X.toarray()
        means = {g: X[(a.obs["cell_type"] == g).to_numpy()].mean() for g in top}
        assert max(means, key=means.get) == group


def test_metric_values_on_known_inputs():
    truth = np.array(["a"] * 4 + ["b"] * 4)
    pred = np.array(["a", "a", "a", "b", "b", "b", "b", "Unknown"])
    m = M.classification(truth, pred)
    assert m["accuracy"] == pytest.approx(6 / 8)
    assert m["per_class_f1"] == pytest.approx({"a": 6 / 7, "b": 0.75})
    assert m["confusion"] == {
        "rows": ["a", "b"],
        "columns": ["a", "b", "Unknown"],
        "counts": [[3, 1, 0], [0, 3, 1]],
    }
    assert M.agreement(truth, truth) == {"ari": 1.0, "nmi": 1.0}


def test_batch_mixing_scores_separate_mixed_from_split_batches():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(0, 1, (200, 5)), rng.normal(8, 1, (200, 5))])
    types = np.repeat(["t1", "t2"], 200)
    mixed = np.tile(["b1", "b2"], 200)
    split = np.concatenate([np.repeat(["b1", "b2"], 100)] * 2)
    X_split = X + (split == "b2")[:, None] * 4.0  # batch b2 shifted away within each type
    from sklearn.neighbors import NearestNeighbors

    def graph(Y):
        return sparse.csr_matrix(
            NearestNeighbors(n_neighbors=15).fit(Y).kneighbors_graph(mode="distance")
        )

    good = M.ilisi(graph(X), mixed)["ilisi_scaled"]
    bad = M.ilisi(graph(X_split), split)["ilisi_scaled"]
    assert good > 0.8 and bad < 0.15
    assert M.batch_asw(X, mixed, types) > 0.9 and M.batch_asw(X_split, split, types) < 0.5
    assert M.silhouette(X, types) > 0.7


def test_evaluate_scores_clusters_labels_and_batches(clustered):
    a = clustered.copy()
    a.obs["scssl_label"] = a.obs["cell_type"].astype(str).to_numpy()
    a.obs.iloc[:10, a.obs.columns.get_loc("scssl_label")] = "Unknown"
    out = evaluate(a, label_key="cell_type")
    assert set(out["clusters"]) == {"leiden_0.3", "leiden_1.0", "kmeans"}
    assert out["clusters"]["kmeans"]["ari"] >= 0.9 and out["clusters"]["kmeans"]["silhouette"] > 0
    lab = out["labels"]["scssl_label"]
    assert lab["accuracy"] == pytest.approx(1 - 10 / a.n_obs)
    assert out["batch"]["n_batches"] == 2 and 0 <= out["batch"]["ilisi_scaled"] <= 1
    assert out["batch"]["batch_asw_within"] == "label"
    with pytest.raises(InputError, match="--label-key 'truth': no such obs column"):
        evaluate(a, label_key="truth")


def test_clustering_keeps_torch_threads(sim_dir):
    """With OMP_NUM_THREADS set, scanpy's neighbour graph resets OpenMP's thread count to all
    cores (numba's pool); cluster() must leave torch at the --threads it was given (checked
    in a fresh process)."""
    import subprocess
    import sys

    from tests.conftest import REPO

    code = (
        "import sys, torch\n"
        "torch.set_num_threads(1)\n"
        "from tests._annot_data import sim_preprocessed\n"
        "from scssl.tl.cluster import cluster\n"
        "a = sim_preprocessed(__import__('pathlib').Path(sys.argv[1]))\n"
        "assert torch.get_num_threads() == 1  # torch's OpenMP started, as after embed\n"
        "cluster(a, use_rep='X_pca', umap=False)\n"
        "print(torch.get_num_threads())\n"
    )
    env = {**__import__("os").environ, "OMP_NUM_THREADS": "1"}  # as an HPC job sets it
    res = subprocess.run(
        [sys.executable, "-c", code, str(sim_dir)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines()[-1] == "1", res.stdout + res.stderr[-2000:]


def test_capped_marker_cells_keep_the_markers(clustered):
    a = clustered.copy()
    sizes = a.obs["cell_type"].value_counts()
    cap = int(sizes.min()) // 2  # every type is subsampled
    full = top_markers(rank_markers(a.copy(), groupby="cell_type", max_cells_per_group=0), 5)
    b = a.copy()
    capped = top_markers(rank_markers(b, groupby="cell_type", max_cells_per_group=cap), 5)
    params = b.uns["rank_genes_groups"]["params"]
    assert params["n_cells_tested"] == cap * len(sizes) < a.n_obs
    shared = [len(set(full[g]) & set(capped[g])) / 5 for g in full]
    assert np.mean(shared) >= 0.6, shared
    again = top_markers(rank_markers(a.copy(), groupby="cell_type", max_cells_per_group=cap), 5)
    assert again == capped  # seeded
    small = a.copy()  # a cap above every group's size changes nothing
    big = top_markers(rank_markers(small, groupby="cell_type", max_cells_per_group=10**6), 5)
    assert big == full and small.uns["rank_genes_groups"]["params"]["n_cells_tested"] == a.n_obs
