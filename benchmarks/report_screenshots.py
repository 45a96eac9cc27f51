"""Screenshots of the reports for docs/: a real run on Kang 2018 ctrl + stim, rendered in
headless Chromium as a person would see it.

The whole chain runs on the two samples (ingest, QC, merge, preprocess, ``mae`` pretraining,
embed, cluster, marker-table annotation), then ``scssl report``, ``scssl summary`` and
``scssl multiqc``; the top of the ctrl report and of the MultiQC report are saved as small
PNGs in docs/images/. Needs ../shared/data (or $SCSSL_DATA_DIR), Chromium and MultiQC.

Usage::

    python benchmarks/report_screenshots.py [--workdir benchmarks/_scratch/screens] [--epochs 10]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SCSSL_DATA_DIR", REPO.parent / "shared" / "data"))
SAMPLES = {"ctrl": "kang2018_ifnb_ctrl", "stim": "kang2018_ifnb_stim"}


def run_chain(wd: Path, epochs: int) -> Path:
    """Every step on the Kang pair; returns the report folder."""
    from scssl import pp, steps, steps_report
    from scssl.steps_annotate import ClusterParams, annotate, cluster

    qc_params = pp.QCParams(thresholds=pp.QCThresholds(min_genes=100))
    qc_files = []
    for name, folder in SAMPLES.items():
        ing = steps.ingest(
            DATA / "cellranger" / folder,
            wd / "ingest" / f"{name}.h5ad",
            sample=name,
            meta={"condition": name},
        )
        qc_files.append(wd / "qc" / f"{name}.h5ad")
        steps.qc(ing, qc_files[-1], params=qc_params)
    merged = steps.merge(qc_files, wd / "merge" / "merged.h5ad")
    pre = steps.preprocess(
        merged,
        wd / "preprocess" / "preprocessed.h5ad",
        params=pp.PreprocessParams(n_top_genes=2000),
    )
    ckpt = steps.pretrain(
        pre,
        wd / "pretrain" / "mae",
        family="mae",
        train_overrides={"max_epochs": epochs, "device": "cpu"},
        progress=False,
    )
    emb = steps.embed(pre, ckpt, wd / "embed" / "embedded.h5ad")
    cluster(emb, wd / "cluster" / "clustered.h5ad", params=ClusterParams(), report_dir=wd)
    final = wd / "annotate" / "annotated.h5ad"
    annotate(wd / "cluster" / "clustered.h5ad", final, markers="pbmc_human", report_dir=wd)
    rep = wd / "report"
    steps_report.report(final, rep, qc_dir=wd / "qc", checkpoints=[ckpt], run_name="kang2018")
    steps_report.summary(
        final, rep / "summary.json", qc_dir=wd / "qc", checkpoints=[ckpt], run_name="kang2018"
    )
    steps_report.multiqc([rep, wd / "qc"], wd / "multiqc", title="scssl: Kang 2018 ctrl + stim")
    return rep


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workdir", type=Path, default=REPO / "benchmarks" / "_scratch" / "screens")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--out", type=Path, default=REPO / "docs" / "images")
    args = p.parse_args(argv)
    from scssl._log import configure
    from scssl.report.render import blank_fraction, screenshot, shrink

    configure(1)
    rep = run_chain(args.workdir, args.epochs)
    args.out.mkdir(parents=True, exist_ok=True)
    shots = {
        "report_sample.png": (rep / "ctrl.report.html", 0),
        "report_multiqc.png": (args.workdir / "multiqc" / "multiqc_report.html", 20_000),
    }
    for name, (html, wait) in shots.items():
        full = screenshot(html, args.workdir / f"full_{name}", height=2600, wait_ms=wait)
        assert blank_fraction(full) < 0.9, f"{html}: the page rendered blank"
        out = shrink(full, args.out / name, width=1000)
        print(f"{out}: {out.stat().st_size / 1024:.0f} KiB", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
