"""The Nextflow pipeline, checked statically (no Nextflow runtime exists on these machines).

``nfcheck.check_all`` must find nothing in the repository, and must find each deliberately
introduced fault in a broken copy: a check that cannot fail would prove nothing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .nfcheck import check_all, cli_commands, config_params, module_commands, schema_params

pytest.importorskip("reftrace", reason="reftrace (dev extra) parses the .nf files")

REPO = Path(__file__).resolve().parents[2]
PIPELINE = (
    "main.nf",
    "nextflow.config",
    "nextflow_schema.json",
    "conf",
    "modules",
    "subworkflows",
    "workflows",
    "assets",
)


def test_pipeline_has_no_problems():
    assert check_all(REPO) == []


def test_every_step_has_a_module_and_every_param_a_schema_entry():
    steps = set(module_commands(REPO).values())
    assert {
        "ingest",
        "qc",
        "merge",
        "preprocess",
        "pretrain",
        "embed",
        "cluster",
        "finetune",
    } <= steps
    assert {"annotate", "evaluate", "report", "summary", "multiqc"} <= steps
    fed = {"federate genes", "federate init", "federate local-train", "federate aggregate"}
    assert fed <= steps  # a group's commands, checked like the others
    assert steps <= set(cli_commands())
    assert set(config_params(REPO)) == set(schema_params(REPO))


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    """A copy of the pipeline files to break."""
    for name in PIPELINE:
        src = REPO / name
        dst = tmp_path / name
        if src.is_dir():
            shutil.copytree(src, dst, symlinks=False)
        else:
            shutil.copy(src, dst)
    return tmp_path


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}: update the test with the pipeline"
    path.write_text(text.replace(old, new, 1))


FAULTS = {
    "wrong option in a module": (
        "modules/local/scssl/qc/main.nf",
        "--report-dir .",
        "--report-folder .",
        "'scssl qc --report-folder' is not an option of the CLI",
    ),
    "required option missing": (
        "modules/local/scssl/ingest/main.nf",
        "--sample ${meta.id}",
        "",
        "required option 'scssl ingest --sample' is not passed",
    ),
    "unknown command": (
        "modules/local/scssl/embed/main.nf",
        "scssl embed",
        "scssl embedd",
        "'scssl embedd' is not a command of the scssl CLI",
    ),
    "param missing from the config": (
        "nextflow.config",
        "    n_top_genes                 = 2000\n",
        "",
        "params.n_top_genes is not defined in nextflow.config",
    ),
    "default differs from the schema and the CLI": (
        "nextflow.config",
        "n_mads                      = 5.0",
        "n_mads = 4.0",
        "param 'n_mads': default 4.0 in nextflow.config, 5.0 in nextflow_schema.json",
    ),
    "wrong option in ext.args": (
        "conf/modules.config",
        '"--n-top-genes ${params.n_top_genes}"',
        '"--n-top-gene ${params.n_top_genes}"',
        "'scssl preprocess --n-top-gene' is not an option of the CLI",
    ),
    "option fed by a param of another name": (
        "conf/modules.config",
        '"--n-pcs ${params.n_pcs}"',
        '"--n-pcs ${params.n_top_genes}"',
        "--n-pcs takes params.n_top_genes; the param must be named 'n_pcs'",
    ),
    "undefined label": (
        "modules/local/scssl/merge/main.nf",
        "label 'process_medium'",
        "label 'process_huge'",
        "label 'process_huge' is not defined in conf/base.config",
    ),
    "no label": (
        "modules/local/scssl/embed/main.nf",
        "    label 'process_gpu'\n",
        "",
        "process SCSSL_EMBED has no resource label",
    ),
    "no stub": (
        "modules/local/scssl/merge/main.nf",
        "    stub:\n",
        "",
        "no stub: block",
    ),
    "no versions": (
        "modules/local/scssl/preprocess/main.nf",
        "topic: versions",
        "",
        "no output on the 'versions' topic",
    ),
    "a topic consumer feeding the topic (a cycle)": (
        "modules/local/scssl/summary/main.nf",
        "emit: versions_scssl\n",
        "emit: versions_scssl, topic: versions\n",
        "must emit versions_* outputs, not on the topic",
    ),
    "include of an undefined name": (
        "subworkflows/local/ingest_qc/main.nf",
        "include { SCSSL_QC     }",
        "include { SCSSL_QCX }",
        "'SCSSL_QCX' is not defined",
    ),
    "wrong option of a group's command": (
        "modules/local/scssl/fed_local_train/main.nf",
        "--site ${meta.id}",
        "--site-name ${meta.id}",
        "'scssl federate local-train --site-name' is not an option of the CLI",
    ),
    "federated option fed by a param of another name": (
        "conf/modules.config",
        '"--mu ${params.fed_mu}"',
        '"--mu ${params.lr}"',
        "--mu takes params.lr; the param must be named 'fed_mu'",
    ),
    "syntax error": (
        "modules/local/scssl/merge/main.nf",
        "    output:\n",
        "    output: {{\n",
        "does not parse",
    ),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_broken_copy_fails(broken: Path, fault: str):
    rel, old, new, message = FAULTS[fault]
    _edit(broken / rel, old, new)
    problems = check_all(broken)
    assert any(message in p for p in problems), problems
