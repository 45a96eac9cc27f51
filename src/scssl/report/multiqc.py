"""Run MultiQC offline on the custom-content files of a run, with the scssl config."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from .._atomic import atomic_path
from .._errors import InputError, ScsslError
from .._log import step
from .mqc import multiqc_config_text

MQC_FILE = re.compile(r".+_mqc(_versions)?\.(tsv|txt|csv|yaml|yml|json|png)$")
REPORT_NAME = "multiqc_report.html"


def _mqc_files(inputs: Sequence[Path]) -> list[Path]:
    found: list[Path] = []
    for path in inputs:
        if not path.exists():
            raise InputError(f"{path}: no such file or folder (a MultiQC input).")
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        found += [p for p in files if MQC_FILE.match(p.name)]
    return found


def run_multiqc(
    inputs: Sequence[str | Path],
    output: str | Path,
    *,
    configs: Sequence[str | Path] = (),
    title: str | None = None,
    extra_args: Sequence[str] = (),
) -> Path:
    """Write ``<output>/multiqc_report.html`` and ``<output>/multiqc_report_data/``.

    MultiQC runs in its own process with ``--no-version-check --no-ai`` (no network), the
    packaged scssl config first and ``configs`` after it. The output folder appears only
    when MultiQC succeeded.
    """
    paths = [Path(p) for p in inputs]
    files = _mqc_files(paths)
    if not files:
        listing = ", ".join(map(str, paths))
        raise InputError(
            f"no MultiQC files (*_mqc.tsv, *_mqc.json, *_mqc_versions.yml) under {listing}; "
            "give the folders `scssl qc`, `scssl report` and `scssl summary` wrote."
        )
    for cfg in configs:
        if not Path(cfg).is_file():
            raise InputError(f"{cfg}: no such file (a MultiQC config).")
    if importlib.util.find_spec("multiqc") is None:
        raise ScsslError(
            "MultiQC is not installed in this environment: pip install 'scssl[report]' "
            "(or multiqc==1.35)."
        )
    out = Path(output)
    with step(f"multiqc on {len(files)} files"), atomic_path(out, is_dir=True) as tmp:
        cfg, listing = tmp / ".scssl_multiqc_config.yml", tmp / ".scssl_multiqc_files.txt"
        cfg.write_text(multiqc_config_text())
        listing.write_text("".join(f"{f.resolve()}\n" for f in files))
        cmd = [
            sys.executable,
            "-m",
            "multiqc",
            "--no-version-check",
            "--no-ai",
            "--force",
            "--config",
            str(cfg),
            "--outdir",
            str(tmp),
            "--filename",
            REPORT_NAME,
            "--file-list",
            str(listing),
        ]
        for extra in configs:
            cmd += ["--config", str(extra)]
        if title:
            cmd += ["--title", title]
        res = subprocess.run([*cmd, *extra_args], capture_output=True, text=True)
        cfg.unlink()
        listing.unlink()
        if res.returncode != 0 or not (tmp / REPORT_NAME).is_file():
            tail = "\n".join((res.stderr or res.stdout).strip().splitlines()[-15:])
            raise ScsslError(f"MultiQC failed (exit {res.returncode}):\n{tail}")
    return out / REPORT_NAME
