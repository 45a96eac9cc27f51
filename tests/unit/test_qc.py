"""QC on simulated samples with known low-quality cells and doublets."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from scssl import io, pp
from scssl._errors import InputError, QCError
from scssl.io import read_sample
from scssl.pp.qc_filter import QCThresholds, mad_bounds
from scssl.pp.qc_metrics import gene_flags


@pytest.fixture(scope="module")
def sample(sim_dir):
    a = read_sample(sim_dir / "sim_1" / "outs", sample="sim_1")
    truth = pd.read_csv(sim_dir / "sim_1" / "truth.csv").set_index("barcode")
    return a, truth.loc[a.obs["barcode"]].set_index(a.obs_names)


def test_gene_patterns_human_and_mouse():
    syms = np.array(
        [
            "MT-CO1",
            "mt-Nd1",
            "RPS6",
            "Rpl13a",
            "RPLP0",
            "RPS6KA1",
            "HBB",
            "Hbb-bs",
            "HBA2",
            "HBEGF",
            "HBP1",
            "ACTB",
            "MTOR",
        ]
    )
    f = gene_flags(syms)
    assert list(syms[f["mt"]]) == ["MT-CO1", "mt-Nd1"]
    assert list(syms[f["ribo"]]) == ["RPS6", "Rpl13a", "RPLP0"]
    assert list(syms[f["hb"]]) == ["HBB", "Hbb-bs", "HBA2"]


def test_metrics_match_direct_computation(sample):
    a, _ = sample
    a = a.copy()
    pp.qc_metrics(a)
    X = a.layers["counts"].toarray()
    tot = X.sum(1)
    np.testing.assert_allclose(a.obs["qc_total_counts"], tot)
    np.testing.assert_array_equal(a.obs["qc_n_genes"], (X > 0).sum(1))
    mt = a.var["gene_symbols"].str.startswith("MT-").to_numpy()
    np.testing.assert_allclose(a.obs["qc_pct_mt"], 100 * X[:, mt].sum(1) / tot, rtol=1e-6)


def test_mad_bounds():
    v = np.array([1.0, 2, 3, 4, 100])
    lo, hi = mad_bounds(v, 2)
    assert (lo, hi) == (1.0, 5.0)  # median 3, MAD 1
    assert mad_bounds(np.zeros(10), 3) is None


def test_qc_removes_low_quality_and_doublets(sample):
    a, truth = sample
    res = pp.run_qc(a.copy(), pp.QCParams(seed=0))
    kept = res.adata.obs_names
    lq = truth.index[truth["is_low_quality"]]
    dbl = truth.index[truth["is_doublet"]]
    assert len(lq) and len(dbl)
    assert np.isin(lq, kept).mean() < 0.1  # low-quality cells removed
    good = truth.index[~truth["is_low_quality"] & ~truth["is_doublet"]]
    assert np.isin(good, kept).mean() > 0.9  # good cells kept
    # Scrublet scores rank true doublets above singlets, and its calls are enriched for them
    scores = res.obs_all["qc_doublet_score"]
    auc = (scores[dbl].to_numpy()[:, None] > scores[good].to_numpy()[None, :]).mean()
    assert auc > 0.75
    called = res.obs_all.index[res.obs_all["qc_fail"] == "doublet"]
    assert len(called) >= 1
    assert np.isin(called, dbl).mean() > 0.3  # base rate of doublets is 6%
    s = res.summary
    assert s["n_cells_input"] == a.n_obs and s["n_cells_pass"] == res.adata.n_obs
    assert sum(s["removed_by"].values()) == a.n_obs - res.adata.n_obs
    assert res.adata.layers["counts"] is res.adata.X
    # counts of kept cells are exactly the input's
    assert (a[kept].layers["counts"] != res.adata.X).nnz == 0
    assert "protein_counts" in res.adata.obsm
    assert list(res.adata.obsm["protein_counts"].index) == list(kept)


def test_fixed_mode_and_sample_overrides_win(sample):
    a, _ = sample
    a = a.copy()
    a.uns["scssl"]["qc_overrides"] = {"max_pct_mt": 3.0, "min_genes": 10}
    res = pp.run_qc(
        a, pp.QCParams(thresholds=QCThresholds(mode="fixed", max_pct_mt=50), doublet_method="none")
    )
    assert res.summary["thresholds"]["max_pct_mt"] == 3.0
    assert res.adata.obs["qc_pct_mt"].max() <= 3.0
    assert not any(k.startswith("mad_") for k in res.summary["removed_by"])


def test_unknown_override_is_an_error(sample):
    with pytest.raises(InputError, match="unknown QC override"):
        QCThresholds().with_overrides({"max_mito": 5})


def test_too_few_cells_names_the_filters(sample):
    a, _ = sample
    with pytest.raises(QCError) as err:
        pp.run_qc(
            a.copy(),
            pp.QCParams(
                thresholds=QCThresholds(max_pct_mt=0.5), doublet_method="none", min_cells_pass=50
            ),
        )
    msg = str(err.value)
    assert "sim_1" in msg and "max_pct_mt flagged" in msg and "minimum 50" in msg


def test_outputs_written(sample, tmp_path):
    a, _ = sample
    res = pp.run_qc(a.copy(), pp.QCParams())
    paths = pp.write_qc_outputs(res, tmp_path, prefix="sim_1")
    tsv = pd.read_csv(paths["tsv"], sep="\t")
    assert tsv.loc[0, "n_cells_pass"] == res.adata.n_obs
    summary = json.loads(paths["json"].read_text())
    assert summary["doublets"]["method"] == "scrublet"
    mqc = paths["mqc"].read_text()
    assert "plot_type: 'generalstats'" in mqc and "\nsim_1\t" in mqc
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_doublet_detection_is_seeded(sample):
    a, _ = sample
    r1 = pp.run_qc(a.copy(), pp.QCParams(seed=1)).obs_all["qc_doublet_score"]
    r2 = pp.run_qc(a.copy(), pp.QCParams(seed=1)).obs_all["qc_doublet_score"]
    np.testing.assert_array_equal(r1.to_numpy(), r2.to_numpy())


def test_large_samples_scored_in_chunks_still_rank_doublets(sample):
    """A sample above max_cells is scored in seeded random chunks (bounded memory): every
    cell gets a score, true doublets still rank above singlets, and the run is seeded."""
    a, truth = sample
    a = a.copy()
    pp.qc_metrics(a)
    ok = (a.obs["qc_n_genes"] > 200).to_numpy()  # leave out the simulated low-quality cells
    sub = a[ok].copy()
    t = truth[ok]
    whole = pp.detect_doublets(sub.copy(), seed=0)
    parts = pp.detect_doublets(chunked := sub.copy(), seed=0, max_cells=sub.n_obs // 3 + 1)
    assert whole["n_chunks"] == 1 and parts["n_chunks"] == 3
    assert len(parts["thresholds"]) == 3
    scores = chunked.obs["qc_doublet_score"].to_numpy()
    assert np.isfinite(scores).all()
    dbl, good = t["is_doublet"].to_numpy(), ~t["is_doublet"].to_numpy()
    auc = (scores[dbl][:, None] > scores[good][None, :]).mean()
    assert auc > 0.75
    again = sub.copy()
    pp.detect_doublets(again, seed=0, max_cells=sub.n_obs // 3 + 1)
    np.testing.assert_array_equal(again.obs["qc_doublet_score"].to_numpy(), scores)


def test_qc_summary_with_a_chunk_without_threshold_is_writable(sample, tmp_path, monkeypatch):
    """A chunk where Scrublet finds no threshold leaves a gap in the per-chunk thresholds;
    the QC'd file must still be written (h5ad cannot store None: the gap becomes NaN)."""
    from scssl.pp import doublets

    a, _ = sample
    real, calls = doublets._scrublet, {"n": 0}

    def flaky(counts, **kw):  # the second chunk finds no threshold
        scores, called, thr = real(counts, **kw)
        calls["n"] += 1
        return (scores, [None] * len(called), None) if calls["n"] == 2 else (scores, called, thr)

    monkeypatch.setattr(doublets, "_scrublet", flaky)
    monkeypatch.setattr(doublets, "MAX_CELLS_PER_RUN", a.n_obs // 3 + 1)
    res = pp.run_qc(a.copy(), pp.QCParams(seed=0))
    thr = res.adata.uns["scssl_qc"]["doublets"]["thresholds"]
    assert len(thr) == 3 and np.isnan(thr[1]) and np.isfinite([thr[0], thr[2]]).all()
    io.write_h5ad(res.adata, tmp_path / "qc.h5ad")
    back = io.read_h5ad(tmp_path / "qc.h5ad").uns["scssl_qc"]["doublets"]["thresholds"]
    assert np.isnan(back[1]) and back[0] == thr[0]
