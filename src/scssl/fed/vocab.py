"""The shared gene vocabulary: a gene list every site aligns its cells to.

A gene list file has one gene symbol per line (blank lines and ``#`` comments ignored). A
site's genes are matched on its var names (``scssl ingest`` makes them unique symbols); genes
of the list the site does not measure are zero-filled and reported, never guessed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import anndata as ad
import numpy as np

from .._errors import InputError
from .._log import logger
from ..data.dataset import CellData
from ..data.prepare import align_genes, build_cell_data
from ..data.spec import DataSpec


def read_gene_list(path: str | Path) -> list[str]:
    """The genes of a gene list file, in order; InputError naming the file when unusable."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: gene list not found (one gene symbol per line).")
    try:
        lines = path.read_text().splitlines()
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a text gene list (one gene symbol per line).") from None
    genes = [s.strip() for s in lines if s.strip() and not s.lstrip().startswith("#")]
    if not genes:
        raise InputError(f"{path}: the gene list is empty (one gene symbol per line).")
    bad = [g for g in genes if "\t" in g or "," in g]
    if bad:
        raise InputError(f"{path}: one gene per line, not '{bad[0]}' (tabs or commas).")
    seen: set[str] = set()
    dups = [g for g in genes if g in seen or seen.add(g)]
    if dups:
        raise InputError(f"{path}: gene '{dups[0]}' is listed twice; list each gene once.")
    return genes


def union_gene_lists(lists: Iterable[Sequence[str]]) -> list[str]:
    """Every gene of ``lists`` once, in first-seen order."""
    return list(dict.fromkeys(g for genes in lists for g in genes))


def site_genes(adata: ad.AnnData) -> list[str]:
    """A site's highly variable gene names (ranked when ``uns['hvg']['genes']`` has them)."""
    ranked = (
        adata.uns.get("hvg", {}).get("genes") if isinstance(adata.uns.get("hvg"), dict) else None
    )
    if ranked is not None and len(ranked):
        return [str(g) for g in ranked]
    if "highly_variable" not in adata.var:
        raise InputError("no highly variable genes in var; run `scssl preprocess` first.")
    return adata.var_names[adata.var["highly_variable"].to_numpy(bool)].astype(str).tolist()


def vocab_spec(genes: Sequence[str]) -> DataSpec:
    """The data spec of a federated model: the shared genes, no batch covariate, no proteins.

    Batch categories and protein panels differ between sites; a federated encoder sees
    neither, so every site builds the same model.
    """
    return DataSpec(genes=tuple(genes), gene_ids=tuple(genes))


@dataclass
class Alignment:
    """How a site's genes met the vocabulary: counts and the vocabulary genes it lacks."""

    n_genes: int
    n_found: int
    missing: list[str] = field(default_factory=list)

    @property
    def fraction(self) -> float:
        return self.n_found / self.n_genes if self.n_genes else 0.0

    def to_dict(self) -> dict:
        return {
            "n_genes": self.n_genes,
            "n_found": self.n_found,
            "n_missing": len(self.missing),
            "missing": list(self.missing),
        }


def align_to_vocab(
    adata: ad.AnnData,
    genes: Sequence[str],
    *,
    min_overlap: float = 0.5,
    device: str = "cpu",
    where: str = "site",
) -> tuple[CellData, Alignment]:
    """The site's cells in vocabulary order (missing genes zero) and the alignment report."""
    spec = vocab_spec(genes)
    pos, _ = align_genes(adata, spec)
    missing = [g for g, p in zip(spec.genes, pos, strict=True) if p < 0]
    report = Alignment(spec.n_genes, int(np.sum(pos >= 0)), missing)
    if report.fraction < min_overlap:
        raise InputError(
            f"{where}: only {report.n_found} of the {report.n_genes} genes of the shared gene "
            f"list are in the data ({report.fraction:.1%}, minimum {min_overlap:.0%}); the "
            "site and the gene list use different gene names (symbols expected)."
        )
    if missing:
        shown = ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
        logger.warning(
            "%s: %d of %d genes of the shared list are not measured here and are zero: %s",
            where,
            len(missing),
            report.n_genes,
            shown,
        )
    data, _ = build_cell_data(adata, spec, device=device)
    return data, report
