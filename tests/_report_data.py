"""Build the files of a finished run for the report tests: QC outputs, final .h5ad, checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from scssl import io, pp, steps

HISTORY = "epoch\ttrain_loss\ttrain_recon\tval_loss\tlr\n" + "".join(
    f"{e}\t{3.0 / e:.4f}\t{2.5 / e:.4f}\t{3.2 / e + 0.05:.4f}\t0.001\n" for e in range(1, 9)
)


def qc_samples(samples: dict[str, Path], out: Path, **qc_kw) -> list[Path]:
    """Ingest + QC every sample (report files into ``out/qc``); the QC'd .h5ad paths."""
    params = pp.QCParams(**qc_kw)
    files = []
    for name, path in samples.items():
        ing = steps.ingest(path, out / "ingest" / f"{name}.h5ad", sample=name)
        files.append(out / "qc" / f"{name}.h5ad")
        steps.qc(ing, files[-1], params=params)
    return files


def preprocessed(qc_files: list[Path], out: Path, n_top_genes: int = 500) -> Path:
    merged = steps.merge(qc_files, out / "merge" / "merged.h5ad")
    params = pp.PreprocessParams(n_top_genes=n_top_genes, n_pcs=20)
    return steps.preprocess(merged, out / "preprocess" / "preprocessed.h5ad", params=params)


def add_fake_analysis(path: Path, out: Path, n_clusters: int = 5) -> Path:
    """Clusters (KMeans on PCA), a 2-D map, labels and scores: the slots cluster/annotate add."""
    from sklearn.cluster import KMeans

    adata = io.read_h5ad(path)
    pcs = adata.obsm["X_pca"][:, :10]
    km = KMeans(n_clusters, n_init=3, random_state=0).fit(pcs)
    adata.obs["leiden_1.0"] = pd.Categorical(km.labels_.astype(str))
    adata.obsm["X_umap"] = adata.obsm["X_pca"][:, :2].copy()
    names = np.array(["T cell", "B cell", "NK", "Monocyte", "Unknown", "DC", "Platelet"])
    adata.obs["scssl_label"] = names[km.labels_ % len(names)]
    adata.obs["scssl_label_score"] = np.random.default_rng(0).uniform(0.4, 1.0, adata.n_obs)
    return io.write_h5ad(adata, out)


def fake_checkpoint(folder: Path, family: str = "mae") -> Path:
    """A checkpoint folder's JSON side and history (what the report reads; no weights)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "history.tsv").write_text(HISTORY)
    config = {
        "family": family,
        "seed": 0,
        "scssl_version": "0.1.0",
        "data_hash": "abc",
        "model_config": {"n_latent": 16, "mask_rate": 0.5},
        "train_config": {"max_epochs": 8},
        "spec": {"genes": ["G1", "G2", "G3"]},
    }
    (folder / "config.json").write_text(json.dumps(config))
    return folder
