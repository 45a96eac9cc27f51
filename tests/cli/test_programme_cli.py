"""`scssl pretrain --set masker=programme` without --gmt: co-expression programmes, end to end."""

from __future__ import annotations

import json

from .test_bad_inputs import assert_fails, scssl


def test_programme_masker_without_gmt_trains_and_embeds(pre_file, tmp_path):
    ck = tmp_path / "ck"
    common = ("--input", pre_file, "--output", ck, "--device", "cpu", "--set", "masker=programme")
    bad = scssl("pretrain", *common, "--set", "n_programmes=1")
    assert_fails(bad, ck, "n_programmes must be at least 2")
    res = scssl("pretrain", *common, "--set", "n_programmes=8", "--max-epochs", "2")
    assert res.returncode == 0, res.stderr
    assert "8 co-expression programmes" in res.stderr
    meta = json.loads((ck / "config.json").read_text())
    assert meta["model_config"]["masker"] == "programme"
    assert len(meta["extras"]["programmes"]) == 8
    out = tmp_path / "emb.h5ad"
    res = scssl("embed", "--input", pre_file, "--checkpoint", ck, "--output", out)
    assert res.returncode == 0 and out.is_file(), res.stderr
