"""Simulated, preprocessed cells with true cell types, and a quickly pretrained encoder,
for the cluster / finetune / annotate / evaluate tests."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import pandas as pd

from scssl import pp
from scssl.io import read_sample


def sim_preprocessed(sim_dir: Path, samples=("sim_1", "sim_2"), n_top_genes: int = 500):
    """QC'd (no doublet calling), merged, preprocessed samples; ``obs['cell_type']`` = truth."""
    parts = []
    for s in samples:
        a = read_sample(sim_dir / s / "outs", sample=s, metadata={"batch": f"b_{s}"})
        truth = pd.read_csv(sim_dir / s / "truth.csv", index_col="barcode")
        truth = truth.reindex(a.obs["barcode"])
        a.obs["cell_type"] = truth["cell_type"].to_numpy()
        a = a[~truth["is_doublet"].to_numpy(bool)].copy()  # simulated doublets: no cell type
        parts.append(pp.run_qc(a, pp.QCParams(doublet_method="none")).adata)
    merged = pp.merge_samples(parts)
    return pp.preprocess(merged, pp.PreprocessParams(n_top_genes=n_top_genes, n_pcs=20))


def quick_encoder(
    adata: ad.AnnData,
    folder: Path,
    *,
    epochs: int | None = None,
    seed: int = 0,
    model_config: dict | None = None,
) -> Path:
    """A ``mae`` (defaults, or ``model_config``) pretrained on ``adata`` (no labels), saved:
    the family's own schedule (600 steps, ~7 s on 800 cells), or ``epochs`` epochs. A few
    epochs of 800 cells are a few optimizer steps (2 an epoch at 512 cells a batch): not a
    pretrained encoder."""
    from scssl.tl.pretrain import pretrain, train_config_for
    from scssl.train import save_checkpoint

    over = {"seed": seed} if epochs is None else {"max_epochs": epochs, "seed": seed}
    tcfg = train_config_for("mae", over)
    module, hist, dhash, _ = pretrain(
        adata, family="mae", model_config=model_config, train_config=tcfg, progress=False
    )
    return save_checkpoint(folder, module, tcfg, history=hist, data_hash=dhash)
