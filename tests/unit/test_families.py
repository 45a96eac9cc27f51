"""Every registered family: defaults build, train, checkpoint round trip, same-seed equality."""

from __future__ import annotations

import numpy as np
import pytest

from scssl import pp
from scssl.data.prepare import build_cell_data
from scssl.io import read_sample
from scssl.models import FAMILIES, config_from_dict, config_to_dict, get_family
from scssl.tl.embed import embed_module
from scssl.tl.pretrain import pretrain, train_config_for
from scssl.train import load_checkpoint, save_checkpoint


@pytest.fixture(scope="module")
def adata(sim_dir):
    a = read_sample(sim_dir / "sim_3" / "outs", sample="sim_3")
    a = pp.run_qc(a, pp.QCParams(doublet_method="none")).adata
    return pp.preprocess(pp.merge_samples([a]), pp.PreprocessParams(n_top_genes=300, n_pcs=10))


@pytest.mark.parametrize("family", FAMILIES)
def test_family_defaults_train_save_load(adata, family, tmp_path):
    cfg_cls, module_cls = get_family(family)
    assert module_cls.family == family
    default = cfg_cls()
    assert config_from_dict(cfg_cls, config_to_dict(default)) == default
    tcfg = train_config_for(family, {"max_epochs": 3, "seed": 3})
    module, hist, dhash, _ = pretrain(adata, family=family, train_config=tcfg, progress=False)
    assert len(hist) == 3 and all(np.isfinite(r["train_loss"]) for r in hist)
    data, _ = build_cell_data(adata, module.spec)
    z = embed_module(module, data)
    assert z.shape[0] == adata.n_obs and np.isfinite(z).all()
    ck = save_checkpoint(tmp_path / family, module, tcfg, history=hist, data_hash=dhash)
    loaded, meta = load_checkpoint(ck)
    assert meta.family == family and meta.spec.genes == module.spec.genes
    np.testing.assert_allclose(embed_module(loaded, data), z, atol=1e-6)
    again, *_ = pretrain(adata, family=family, train_config=tcfg, progress=False)
    np.testing.assert_array_equal(embed_module(again, data), z)
