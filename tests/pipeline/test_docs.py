"""docs/usage.md documents every param and every profile (with an example command)."""

from __future__ import annotations

import re
from pathlib import Path

from .nfcheck import schema_params

REPO = Path(__file__).resolve().parents[2]
USAGE = (REPO / "docs/usage.md").read_text()


def test_every_param_is_documented():
    missing = [p for p in schema_params(REPO) if f"`--{p}`" not in USAGE]
    assert not missing, f"params missing from docs/usage.md: {missing}"


def test_every_profile_has_an_example_command():
    config = (REPO / "nextflow.config").read_text()
    block = config[config.index("profiles {") :]
    block = block[: block.index("\n}\n")]
    profiles = re.findall(r"^    (\w+)\s*\{", block, re.M)
    assert {"docker", "singularity", "gpu", "slurm", "awsbatch", "google", "k8s"} <= set(profiles)
    for name in profiles:
        row = re.search(rf"^\| `{name}` \|.*\|\s*`(nextflow run [^`]+)` \|$", USAGE, re.M)
        assert row, f"profile '{name}' has no row with an example command in docs/usage.md"
        assert re.search(rf"-profile (\S+,)?{name}(,\S+)?\s", row.group(1))
