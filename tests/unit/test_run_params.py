"""One params namespace for ``scssl run`` and the pipeline (nextflow_schema.json)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from scssl import run as run_mod
from scssl import run_fed
from scssl._errors import InputError
from scssl.run_params import PIPELINE_ONLY, defaults, load_params, schema_properties

from ..conftest import REPO


def test_every_param_is_read_by_scssl_run_or_pipeline_only():
    text = Path(run_mod.__file__).read_text() + Path(run_fed.__file__).read_text()
    used = set(re.findall(r'p\[\s*"(\w+)"\s*\]', text))
    for names in ("_THRESHOLDS", "_DOUBLETS", "_TRAIN"):
        used |= set(getattr(run_mod, names))
    params = set(schema_properties())
    assert not (used - params), f"scssl run reads params the schema lacks: {used - params}"
    unread = params - used - PIPELINE_ONLY - {"input", "outdir"}
    assert not unread, f"params neither read by scssl run nor pipeline-only: {unread}"
    assert params >= PIPELINE_ONLY


def test_packaged_schema_is_the_pipelines_schema():
    """``scssl run`` reads the packaged copy; it must be the pipeline's file, byte for byte
    (edit nextflow_schema.json at the root, then copy it to src/scssl/assets/)."""
    root = (REPO / "nextflow_schema.json").read_text()
    packaged = (REPO / "src/scssl/assets/nextflow_schema.json").read_text()
    assert packaged == root, "src/scssl/assets/nextflow_schema.json differs from the root one"


def test_test_profile_params_file_is_valid():
    p = load_params(REPO / "conf" / "test_params.yaml")
    assert p["n_top_genes"] == 500 and p["max_epochs"] == 3
    assert p["min_genes"] == defaults()["min_genes"] == 200


def test_unknown_and_invalid_params_are_refused(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("n_top_gene: 100\n")
    with pytest.raises(InputError, match=r"unknown param\(s\) \['n_top_gene'\]"):
        load_params(f)
    f.write_text("n_top_genes: many\nfamily: bert\n")
    with pytest.raises(InputError) as err:
        load_params(f)
    assert "'n_top_genes': 'many' is not of type 'integer'" in str(err.value)
    assert "'family': 'bert' is not one of" in str(err.value)


def test_pipeline_only_params_are_accepted_and_paths_resolved(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    f = tmp_path / "p.yaml"
    f.write_text("scssl_container: img:1\nqueue: gpu\ninput: sheet.csv\noutdir: res\n")
    p = load_params(f)
    assert p["input"] == str(tmp_path / "sheet.csv") and p["outdir"] == str(tmp_path / "res")
    assert load_params(f, outdir="other")["outdir"] == str(tmp_path / "other")
