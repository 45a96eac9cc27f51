"""Seeded simulator of realistic multi-sample Cell Ranger v3 output (``scssl simulate``).

Each sample gets ``<sample>/outs/filtered_feature_bc_matrix`` (RNA plus antibody capture
counts) and a ``truth.csv`` (true cell type, doublet and low-quality flags); the samples are
listed in ``samplesheet.csv``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._atomic import write_text
from .._errors import InputError
from ..io.write_10x import write_10x_mtx

# fmt: off
MT_GENES = ("MT-ND1", "MT-ND2", "MT-CO1", "MT-CO2", "MT-ATP8", "MT-ATP6", "MT-CO3", "MT-ND3",
            "MT-ND4L", "MT-ND4", "MT-ND5", "MT-ND6", "MT-CYB")  # genome order
MT_WEIGHTS = (6.0, 3.0, 12.0, 9.0, 2.0, 10.0, 10.0, 4.0, 1.5, 8.0, 2.0, 0.5, 7.0)
RIBO_GENES = ("RPS2", "RPS3", "RPS3A", "RPS4X", "RPS5", "RPS6", "RPS7", "RPS8", "RPS9", "RPS10",
              "RPS11", "RPS12", "RPS13", "RPS14", "RPS15", "RPS15A", "RPS16", "RPS18", "RPS19",
              "RPS20", "RPL3", "RPL4", "RPL5", "RPL6", "RPL7", "RPL7A", "RPL8", "RPL9", "RPL10",
              "RPL10A", "RPL11", "RPL12", "RPL13", "RPL13A", "RPL14", "RPL15", "RPL17", "RPL18",
              "RPL19", "RPL21")
HB_GENES = ("HBA1", "HBA2", "HBB", "HBD")
CELL_TYPES = ("T_CD4", "B", "Monocyte", "NK", "T_CD8", "DC", "pDC", "Plasma")
# antibody (without the _TotalSeqB suffix) and the cell types carrying it; () = isotype control
PROTEINS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("CD3", ("T_CD4", "T_CD8")), ("CD4", ("T_CD4", "Monocyte", "DC")), ("CD8a", ("T_CD8",)),
    ("CD14", ("Monocyte",)), ("CD19", ("B",)), ("CD56", ("NK",)), ("CD16", ("NK", "Monocyte")),
    ("CD45RA", ("B", "NK", "T_CD8")), ("HLA-DR", ("B", "Monocyte", "DC", "pDC")),
    ("CD11c", ("Monocyte", "DC")), ("IgG1_control", ()), ("CD45RO", ("T_CD4",)),
    ("CD127", ("T_CD4",)), ("CD27", ("T_CD4", "T_CD8", "Plasma")), ("CCR7", ("T_CD4", "T_CD8")),
    ("CD123", ("pDC",)), ("CD38", ("Plasma", "pDC")), ("IgG2a_control", ()),
)
# fmt: on
OTHER, RIBO, MT, HB = 0, 1, 2, 3  # gene compartments
_CHUNK = 4_000_000  # dense matrix elements sampled at a time
_DENSE_MIN_MEAN = 0.1  # rarer genes (NB variance within 5% of Poisson) are sampled as Poisson


@dataclass
class _Model:
    """Parameters shared by all samples of one simulation."""

    ids: list[str]
    symbols: list[str]
    comp: np.ndarray  # (G,) compartment of each gene
    weight: np.ndarray  # (T, G) baseline abundance times the cell-type programme
    stim: np.ndarray  # (G,) fold change in ``stim`` samples
    shape: np.ndarray  # (G,) gamma shape = 1 / NB dispersion
    type_names: list[str]
    type_probs: np.ndarray  # (T,)
    type_lib: np.ndarray  # (T,) relative library size
    type_ribo: np.ndarray  # (T,) ribosomal share of the non-mitochondrial counts
    prot_names: list[str]
    prot_mean: np.ndarray  # (T, P) mean antibody counts per type (background + specific)
    fold: np.ndarray  # (T, G) fold change of each type's marker programme (1 elsewhere)


def _check_int(name: str, value: object, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
        raise InputError(f"simulate: {name} must be an integer >= {low}, got {value!r}.")


def _check_real(name: str, value: object, low: float, high: float) -> None:
    ok = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not low <= value <= high:
        raise InputError(f"simulate: {name} must be a number in [{low}, {high}], got {value!r}.")


def _n_markers(n_genes: int, n_types: int) -> int:
    """Marker genes per type: from the upper half (by abundance) of the ordinary genes."""
    n_other = n_genes - len(MT_GENES) - len(RIBO_GENES) - len(HB_GENES)
    return min(30, (n_other // 2) // n_types)


def _gene_table(rng: np.random.Generator, n_genes: int) -> tuple[list[str], list[str], np.ndarray]:
    """Ids, symbols and compartments; ribosomal/HB genes scattered, MT genes last."""
    n_other = n_genes - len(MT_GENES) - len(RIBO_GENES) - len(HB_GENES)
    special = [""] * n_other + list(RIBO_GENES) + list(HB_GENES)
    comp = np.array([OTHER] * n_other + [RIBO] * len(RIBO_GENES) + [HB] * len(HB_GENES))
    order = rng.permutation(len(special))
    symbols, k = [], 0
    for i in order:
        k += special[i] == ""
        symbols.append(special[i] or f"GENE{k}")
    symbols += MT_GENES
    comp = np.concatenate([comp[order], np.full(len(MT_GENES), MT)]).astype(np.int8)
    a, b = np.sort(rng.choice(np.flatnonzero(comp == OTHER), 2, replace=False))
    symbols[b] = symbols[a]  # one symbol shared by two ids, as in real references
    return [f"ENSG9{i:010d}" for i in range(1, n_genes + 1)], symbols, comp


def _build_model(rng: np.random.Generator, n_genes: int, n_types: int, n_prot: int) -> _Model:
    ids, symbols, comp = _gene_table(rng, n_genes)
    base = np.empty(n_genes)
    other = np.flatnonzero(comp == OTHER)
    base[other] = rng.lognormal(0.0, 1.8, other.size)  # heavy tail: few genes dominate
    base[comp == RIBO] = rng.lognormal(0.0, 0.5, len(RIBO_GENES))
    base[comp == MT] = np.array(MT_WEIGHTS) * rng.lognormal(0.0, 0.1, len(MT_GENES))
    base[comp == HB] = rng.lognormal(0.0, 1.0, len(HB_GENES))
    fold = np.ones((n_types, n_genes))
    upper = other[base[other] >= np.median(base[other])]
    n_mark = _n_markers(n_genes, n_types)
    markers = rng.choice(upper, (n_types, n_mark), replace=False)
    for t in range(n_types):
        fold[t, markers[t]] = np.exp(rng.uniform(np.log(3.0), np.log(12.0), n_mark))
    stim = np.ones(n_genes)
    stim_genes = rng.choice(np.setdiff1d(other, markers), min(20, other.size // 4), replace=False)
    stim[stim_genes] = rng.uniform(2.0, 5.0, stim_genes.size)
    names = [CELL_TYPES[t] if t < len(CELL_TYPES) else f"celltype_{t + 1}" for t in range(n_types)]
    table = list(PROTEINS[:n_prot]) + [(f"ADT{p + 1}", ()) for p in range(len(PROTEINS), n_prot)]
    pos = np.array([[t in types for _, types in table] for t in names], dtype=bool)
    pos = pos.reshape(n_types, n_prot)
    usable = [p for p, (name, _) in enumerate(table) if "control" not in name]
    for t in range(len(CELL_TYPES), n_types):  # generic types: two random antibodies
        pos[t, rng.choice(usable, min(2, len(usable)), replace=False)] = True
    for p in range(len(PROTEINS), n_prot):  # generic antibodies: one random type
        pos[rng.integers(n_types), p] = True
    control = np.array(["control" in name for name, _ in table], dtype=bool)
    background = np.where(
        control, rng.lognormal(np.log(3.0), 0.3, n_prot), rng.lognormal(np.log(10.0), 0.5, n_prot)
    )
    specific = pos * rng.lognormal(np.log(150.0), 0.6, (n_types, n_prot))
    return _Model(
        ids=ids,
        symbols=symbols,
        comp=comp,
        weight=base * fold,
        stim=stim,
        shape=1.0 / rng.uniform(0.1, 0.5, n_genes),
        type_names=names,
        type_probs=rng.dirichlet(np.full(n_types, 6.0)),
        type_lib=rng.lognormal(0.0, 0.2, n_types),
        type_ribo=rng.uniform(0.12, 0.3, n_types),
        prot_names=[f"{name}_TotalSeqB" for name, _ in table],
        prot_mean=background[None, :] + specific,
        fold=fold,
    )


def _marker_table(model: _Model, n_top: int = 15) -> str:
    """``cell_type,gene,weight`` CSV: each type's strongest marker genes (weight: log2 fold)
    - the marker table that annotates the simulated cells (``scssl annotate --markers``)."""
    rows = ["cell_type,gene,weight"]
    for t, name in enumerate(model.type_names):
        top = np.argsort(-model.fold[t], kind="stable")[:n_top]
        rows += [
            f"{name},{model.symbols[g]},{np.log2(model.fold[t, g]):.3f}"
            for g in top
            if model.fold[t, g] > 1
        ]
    return "\n".join(rows) + "\n"


def _nb(rng: np.random.Generator, mu: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """Negative-binomial counts as a gamma-Poisson mixture (mean ``mu``, dispersion 1/shape)."""
    shape = shape.astype(np.float32)
    lam = rng.standard_gamma(shape, size=mu.shape, dtype=np.float32)
    lam *= mu
    lam /= shape
    return rng.poisson(lam).astype(np.int32)


def _rna_counts(
    rng: np.random.Generator, m: _Model, prop: np.ndarray, types: np.ndarray, size: np.ndarray
) -> sp.csr_matrix:
    """Cells × genes counts; ``size[c, k]`` is cell c's expected count in compartment k."""
    comp = m.comp
    n_cells, n_genes = size.shape[0], prop.shape[1]
    top = np.quantile(size[:, OTHER], 0.99)  # a large (99th percentile) cell
    dense = (comp != OTHER) | (prop.max(0) * top >= _DENSE_MIN_MEAN)
    cols = np.flatnonzero(dense)
    step = max(1, _CHUNK // max(1, cols.size))
    prop_d, comp_d, shape_d = prop[:, cols].astype(np.float32), comp[cols], m.shape[cols]
    blocks = []
    for lo in range(0, n_cells, step):
        mu = size[lo : lo + step][:, comp_d] * prop_d[types[lo : lo + step]]
        blocks.append(sp.csr_matrix(_nb(rng, mu, shape_d)))
    X = sp.vstack(blocks, format="csr")
    X = sp.csr_matrix((X.data, cols[X.indices], X.indptr), shape=(n_cells, n_genes))
    # Rare genes: NB ~ Poisson, so draw each cell's Poisson total and split it among them.
    rare = np.flatnonzero(~dense)
    if rare.size:
        weight = prop[:, rare]
        total = rng.poisson(size[:, OTHER] * weight.sum(1)[types])
        rows, genes = [], []
        for t in range(prop.shape[0]):
            cells = np.flatnonzero(types == t)
            cum = np.cumsum(weight[t]) / weight[t].sum()
            u = rng.random(int(total[cells].sum()))
            genes.append(rare[np.minimum(np.searchsorted(cum, u, side="right"), rare.size - 1)])
            rows.append(np.repeat(cells, total[cells]))
        rows_, genes_ = np.concatenate(rows), np.concatenate(genes)
        ones = np.ones(rows_.size, dtype=np.int32)
        X = X + sp.csr_matrix((ones, (rows_, genes_)), shape=(n_cells, n_genes))
    return X.tocsr()


def _barcodes(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` unique 16-letter ACGT barcodes with the ``-1`` GEM-well suffix."""
    letters = np.frombuffer(b"ACGT", dtype=np.uint8)
    found: dict[str, None] = {}
    while len(found) < n:
        codes = letters[rng.integers(0, 4, (n - len(found), 16))]
        for s in np.frombuffer(codes.tobytes(), dtype="S16"):
            found.setdefault(s.decode() + "-1")
    return np.array(list(found), dtype=object)


def _sample(
    rng: np.random.Generator,
    m: _Model,
    n: int,
    stim: bool,
    rates: tuple[float, float, float, float],
) -> tuple[sp.csr_matrix, pd.DataFrame]:
    """Counts (cells × features, sorted by barcode) and the truth table of one sample.

    ``rates`` holds batch_effect, low_quality_rate, doublet_rate and mean_counts.
    """
    batch_effect, lq_rate, db_rate, mean_counts = rates
    n_types, n_genes = m.weight.shape
    w = m.weight * np.exp(rng.normal(0.0, batch_effect, n_genes)) * (m.stim if stim else 1.0)
    prop = np.empty_like(w)
    for k in (OTHER, RIBO, MT, HB):
        sel = m.comp == k
        prop[:, sel] = w[:, sel] / w[:, sel].sum(1, keepdims=True)
    flagged = rng.permutation(n)
    n_lq, n_db = round(lq_rate * n), round(db_rate * n)
    lq, db = np.zeros(n, bool), np.zeros(n, bool)
    lq[flagged[:n_lq]], db[flagged[n_lq : n_lq + n_db]] = True, True
    first = rng.choice(n_types, n, p=rng.dirichlet(m.type_probs * 50.0))
    second = (first[db] + rng.integers(1, max(2, n_types), n_db)) % n_types
    types = np.concatenate([first, second])  # doublet partners appended as extra cells
    lq_c = np.concatenate([lq, np.zeros(n_db, bool)])
    n_c = types.size
    lib = mean_counts * m.type_lib[types] * rng.lognormal(-0.08, 0.4, n_c)
    lib[lq_c] *= rng.uniform(0.1, 0.3, lq_c.sum())
    mt = rng.uniform(0.01, 0.06, n_c)
    mt[lq_c] = rng.uniform(0.2, 0.6, lq_c.sum())
    ribo = np.clip(m.type_ribo[types] * rng.lognormal(0.0, 0.15, n_c), 0.05, 0.4)
    hb = np.minimum(rng.lognormal(np.log(3e-4), 1.0, n_c), 0.02)
    frac = np.column_stack([(1 - mt) * (1 - ribo - hb), (1 - mt) * ribo, mt, (1 - mt) * hb])
    rna = _rna_counts(rng, m, prop, types, (lib[:, None] * frac).astype(np.float32))
    adt_mu = m.prot_mean[types] * np.exp(rng.normal(0.0, batch_effect / 2, len(m.prot_names)))
    adt_mu *= (rng.lognormal(0.0, 0.3, n_c) * np.where(lq_c, 0.5, 1.0))[:, None]
    adt = sp.csr_matrix(_nb(rng, adt_mu, np.full(adt_mu.shape[1], 1 / 0.15)))
    both = sp.hstack([rna, adt], format="csr")
    pairs = np.flatnonzero(db)
    add = sp.csr_matrix((np.ones(n_db), (pairs, np.arange(n_db))), shape=(n, n_db))
    X = (both[:n] + (add @ both[n:]).astype(np.int32)).tocsr()
    label = np.array(m.type_names, dtype=object)
    cell_type = label[first]
    cell_type[pairs] = label[first[pairs]] + "+" + label[second]
    barcodes = _barcodes(rng, n)
    order = np.argsort(barcodes.astype(str), kind="stable")
    truth = pd.DataFrame(
        {"barcode": barcodes, "cell_type": cell_type, "is_doublet": db, "is_low_quality": lq}
    ).iloc[order]
    return X[order], truth.reset_index(drop=True)


def simulate(
    output: str | Path,
    *,
    n_samples: int = 3,
    n_cells: int = 400,
    n_genes: int = 2000,
    n_proteins: int = 12,
    n_cell_types: int = 5,
    batch_effect: float = 0.3,
    low_quality_rate: float = 0.05,
    doublet_rate: float = 0.06,
    mean_counts: float = 2000.0,
    seed: int = 0,
) -> Path:
    """Write simulated Cell Ranger v3 output for several samples plus their truth.

    Cell types carry gene programmes (marker genes up 3-12x) over a heavy-tailed log-normal
    baseline; counts are negative binomial around a log-normal library size; each sample has
    gene-wise log-normal batch factors (sd ``batch_effect``); ``stim`` samples up-regulate a
    small response programme; low-quality cells have small libraries and 20-60% mitochondrial
    counts; doublets sum two cells of different types; antibody counts are high on the types
    that carry each antibody over a background (isotype controls stay low).

    Returns
    -------
    Path
        ``output/samplesheet.csv`` (columns ``sample,path,batch,condition,expected_cells``,
        paths relative to it); ``output/markers.csv`` holds each type's marker genes. The
        same arguments always give byte-identical files.
    """
    for name, value, low in (
        ("n_samples", n_samples, 1),
        ("n_cells", n_cells, 10),
        ("n_genes", n_genes, 100),
        ("n_proteins", n_proteins, 0),
        ("n_cell_types", n_cell_types, 1),
        ("seed", seed, 0),
    ):
        _check_int(name, value, low)
    _check_real("batch_effect", batch_effect, 0.0, 3.0)
    _check_real("low_quality_rate", low_quality_rate, 0.0, 0.5)
    _check_real("doublet_rate", doublet_rate, 0.0, 0.5)
    _check_real("mean_counts", mean_counts, 100.0, 1e6)
    if doublet_rate > 0 and n_cell_types < 2:
        raise InputError("simulate: doublets need n_cell_types >= 2 (or set doublet_rate=0).")
    if _n_markers(n_genes, n_cell_types) < 3:
        raise InputError(
            f"simulate: n_cell_types={n_cell_types} is too many for n_genes={n_genes}; "
            "each type needs marker genes (raise n_genes or lower n_cell_types)."
        )
    rng = np.random.default_rng(seed)
    model = _build_model(rng, n_genes, n_cell_types, n_proteins)
    output = Path(output)
    ids, names = model.ids + model.prot_names, model.symbols + model.prot_names
    feature_types = ["Gene Expression"] * n_genes + ["Antibody Capture"] * n_proteins
    rates = (batch_effect, low_quality_rate, doublet_rate, mean_counts)
    rows = ["sample,path,batch,condition,expected_cells"]
    for i in range(1, n_samples + 1):
        sample, condition = f"sim_{i}", ("ctrl", "stim")[(i - 1) % 2]
        X, truth = _sample(rng, model, n_cells, condition == "stim", rates)
        matrix_dir = output / sample / "outs" / "filtered_feature_bc_matrix"
        write_10x_mtx(matrix_dir, X, truth["barcode"].tolist(), ids, names, feature_types)
        write_text(output / sample / "truth.csv", truth.to_csv(index=False))
        rows.append(f"{sample},{sample}/outs,b{i},{condition},{n_cells}")
    write_text(output / "markers.csv", _marker_table(model))
    return write_text(output / "samplesheet.csv", "\n".join(rows) + "\n")
