"""Annotation: marker scores and classifier calls, evidence, Unknown, cluster majority labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scssl._errors import InputError
from scssl.io.markers import MarkerTable
from scssl.tl.annotate import annotate
from scssl.tl.cluster import cluster
from scssl.tl.finetune import finetune, finetune_train_config
from scssl.tl.markers import rank_markers, top_markers
from scssl.train.checkpoint import save_classifier
from tests._annot_data import quick_encoder, sim_preprocessed

BROAD = {"T_CD4": "T", "T_CD8": "T", "B": "B", "NK": "NK", "MNP": "myeloid"}
PBMC_BROAD = {
    "CD4 T": "T", "CD8 T": "T", "NK": "NK", "B": "B", "Plasma": "B", "CD14 Monocyte": "myeloid",
    "FCGR3A Monocyte": "myeloid", "cDC": "myeloid", "pDC": "myeloid",
}  # fmt: skip


@pytest.fixture(scope="module")
def sim(sim_dir):
    adata = sim_preprocessed(sim_dir)
    cluster(adata, use_rep="X_pca", resolutions=(0.5,), umap=False)
    return adata


def _parts(adata):
    ref = adata.obs["batch"].astype(str).to_numpy() == "b_sim_1"
    return adata[ref].copy(), adata[~ref].copy()


def test_markers_learnt_on_one_sample_annotate_another(sim):
    ref, query = _parts(sim)
    top = top_markers(rank_markers(ref, groupby="cell_type", n_genes=5), 5)
    table = MarkerTable("sim", {t: dict.fromkeys(g, 1.0) for t, g in top.items()})
    for smooth in (0.0, 0.5):
        out = annotate(query, markers=table, smooth=smooth)
        truth = query.obs["cell_type"].astype(str)
        assert (query.obs["scssl_label"].astype(str) == truth).mean() >= 0.9
        assert out["mode"] == "markers" and out["marker_genes_found"] == 25
    assert (query.obs["scssl_label_cluster"].astype(str) == truth).mean() >= 0.9
    # evidence: the score and the called type's markers that the cell expresses
    row = query.obs.iloc[0]
    assert row["scssl_label_evidence"].startswith(f"score {row['scssl_label_score']:.2f}; ")
    named = row["scssl_label_evidence"].split("; ")[1].split(", ")
    assert set(named) <= set(top[row["scssl_label"]])
    scores = query.obsm["scssl_label_scores"]
    assert (
        sorted(scores.columns) == sorted(top)
        and (scores.idxmax(axis=1) == query.obs["scssl_label"]).all()
    )
    clusters = pd.DataFrame(out["clusters"])
    assert clusters["n_cells"].sum() == query.n_obs and (clusters["fraction"] > 0.5).all()


def test_classifier_calls_unknown_below_threshold(sim, tmp_path):
    ref, query = _parts(sim)
    enc = quick_encoder(sim, tmp_path / "enc")
    res = finetune(
        ref, enc, label_key="cell_type", train_config=finetune_train_config({"max_epochs": 20}),
        progress=False,
    )  # fmt: skip
    clf = save_classifier(
        tmp_path / "clf", res.module, res.train_config, history=res.history,
        data_hash=res.data_hash, encoder=res.encoder, summary=res.summary,
    )  # fmt: skip
    out = annotate(query, classifier=clf, min_confidence=0.5)
    truth = query.obs["cell_type"].astype(str)
    assert (query.obs["scssl_label"].astype(str) == truth).mean() >= 0.95
    assert out["gene_overlap"] == 1.0 and out["classes"] == res.module.classes
    proba = query.obsm["scssl_label_proba"]
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(query.obs["scssl_label_prob"], proba.max(axis=1), atol=1e-6)
    assert query.obs["scssl_label_evidence"].str.match(r"p=\d\.\d\d \S+; next \S+ \d\.\d\d").all()
    strict = query.copy()
    annotate(strict, classifier=clf, min_confidence=0.999, smooth=0.0)
    low = strict.obs["scssl_label_prob"] < 0.999
    assert low.any() and (strict.obs["scssl_label"][low] == "Unknown").all()
    assert (strict.obs["scssl_label"][~low] != "Unknown").all()
    # cluster label = the most common cell label of the cluster
    for _, df in query.obs.groupby("leiden_0.5", observed=True):
        assert (df["scssl_label_cluster"] == df["scssl_label"].value_counts().index[0]).all()


def test_bad_annotate_inputs(sim, tmp_path):
    with pytest.raises(InputError, match="give either --classifier"):
        annotate(sim.copy())
    with pytest.raises(InputError, match="give either --classifier"):
        annotate(sim.copy(), classifier=tmp_path, markers="pbmc_human")
    with pytest.raises(InputError, match=r"only 0 of its 41 genes are in the data"):
        annotate(sim.copy(), markers="pancreas_mouse")
    with pytest.raises(InputError, match="--cluster-key 'nope'"):
        annotate(sim.copy(), markers="pbmc_human", cluster_key="nope")


@pytest.mark.realdata
def test_pbmc4k_marker_annotation_gets_broad_types_right(data):
    from scssl.io.benchmark_data import load_benchmark

    adata = load_benchmark("pbmc4k_2170", data)
    cluster(adata, use_rep="X_pca", resolutions=(1.0,), umap=False)
    annotate(adata, markers="pbmc_human")
    scored = adata.obs["scored"].to_numpy()
    truth = adata.obs["label"].astype(str).map(BROAD)[scored]
    for key in ("scssl_label", "scssl_label_cluster"):
        pred = adata.obs[key].astype(str).map(lambda x: PBMC_BROAD.get(x, x))[scored]
        assert (pred == truth).mean() >= 0.85, key
