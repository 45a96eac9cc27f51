"""Shared fixtures: the real data folder (skipped when absent) and simulated Cell Ranger data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA_ENV = "SCSSL_DATA_DIR"


def data_dir() -> Path | None:
    """``$SCSSL_DATA_DIR`` or ``../shared/data`` beside the repository, when it exists."""
    env = os.environ.get(DATA_ENV)
    for cand in ([Path(env)] if env else []) + [REPO.parent / "shared" / "data"]:
        if cand.is_dir():
            return cand
    return None


def pytest_collection_modifyitems(config, items):
    if data_dir() is None:
        skip = pytest.mark.skip(
            reason=f"real data folder absent: set {DATA_ENV} or provide ../shared/data"
        )
        for item in items:
            if "realdata" in item.keywords:
                item.add_marker(skip)
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    if not has_cuda:
        skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip_gpu)


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Tests train tiny models: one intra-op thread is as fast and immune to busy neighbours."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def data() -> Path:
    d = data_dir()
    if d is None:
        pytest.skip(f"real data folder absent: set {DATA_ENV} or provide ../shared/data")
    return d


@pytest.fixture(scope="session")
def cellranger(data: Path) -> Path:
    return data / "cellranger"


@pytest.fixture(scope="session")
def sim_dir(tmp_path_factory) -> Path:
    """Three simulated CITE-seq samples (400 cells, 2000 genes, 12 antibodies each)."""
    from scssl.sim import simulate

    out = tmp_path_factory.mktemp("sim")
    simulate(out, n_samples=3, n_cells=400, n_genes=2000, n_proteins=12, seed=0)
    return out


@pytest.fixture(scope="session")
def pre_file(sim_dir, tmp_path_factory) -> Path:
    """Two simulated samples QC'd, merged and preprocessed (300 HVGs), written as the
    pipeline writes it (gzip-compressed .h5ad). Read-only for the tests that share it."""
    from scssl import io, pp

    parts = []
    for name in ("sim_1", "sim_2"):
        a = io.read_sample(sim_dir / name / "outs", sample=name, metadata={"batch": name})
        parts.append(pp.run_qc(a, pp.QCParams(doublet_method="none")).adata)
    adata = pp.preprocess(pp.merge_samples(parts), pp.PreprocessParams(n_top_genes=300, n_pcs=10))
    path = tmp_path_factory.mktemp("pre") / "pre.h5ad"
    io.write_h5ad(adata, path)
    return path
