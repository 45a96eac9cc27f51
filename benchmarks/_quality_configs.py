"""The grid of model configurations scored by ``quality.py``.

Every importable family runs with its defaults; some families also run named variants along
one or two axes (e.g. ``mae`` masker x loss). A variant axis names the option values; the
config field that takes them is found in the family's Config dataclass (the field whose
default is one of the values, else a field with one of the hinted names), so the grid does
not depend on how another engineer spelt the field. Variants equal to the defaults are dropped
(the default row covers them). On CBMC, families that can read proteins also run
"+protein" (RNA + the 10 CLR ADTs); every other CBMC run sees RNA only
(``pretrain(use_protein=False)`` leaves the proteins out of the data spec).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, fields
from typing import Any

from scssl.models import FAMILIES, config_from_dict, config_to_dict, get_family

PCA = "pca"
# the second baseline: PCA of per-gene z-scores clipped at 10 (Seurat ScaleData, the scanpy
# tutorials' sc.pp.scale(max_value=10)); run as config name, family PCA
PCA_SCALED = "pca scaled"
PROTEIN_DATASETS = ("cbmc",)
PROTEIN_FAMILIES = ("mae", "srsa_vae", "token_mae")
# opt-in settings a user may prefer to a default, scored beside it: name -> (family, model
# config, model config with the proteins); docs/models.md says when to use them
OPT_INS: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "mae standardize=true": (
        "mae",
        {"standardize": True},
        {"standardize": True, "protein_weight": 1.0},
    ),
}


def opt_in_protein_settings(name: str) -> str:
    """The settings an opt-in's +protein run adds to its RNA run, as 'k=v, ...'."""
    _, mc, mc_protein = OPT_INS[name]
    return ", ".join(f"{k}={v}" for k, v in mc_protein.items() if k not in mc)


# family -> axes; an axis is (values, hinted field names)
AXES: dict[str, list[tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "mae": [(("random", "swap"), ("masker",)), (("mse", "nb"), ("loss",))],
    "contrastive": [
        (("simclr", "moco", "byol", "barlow", "vicreg"), ("objective", "method", "loss"))
    ],
    "token_mae": [
        (("transformer", "ttt"), ("backbone", "encoder", "arch", "architecture", "mixer")),
        (("uniform", "mam"), ("masking", "masker", "mask", "mask_strategy")),
    ],
    "srsa_vae": [],
}


@dataclass(frozen=True)
class RunConfig:
    """One row of the benchmark: a family (or PCA), its model config and protein use."""

    name: str
    family: str
    model_config: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    use_protein: bool = False
    default: bool = False
    datasets: tuple[str, ...] | None = None  # None: every dataset
    label: str = ""  # shown in tables (the default row also names its axis values)

    def runs_on(self, dataset: str) -> bool:
        return self.datasets is None or dataset in self.datasets


def _axis_field(cfg_cls: type, values: tuple[str, ...], hints: tuple[str, ...]) -> str | None:
    fs = fields(cfg_cls)
    for f in fs:
        if isinstance(f.default, str) and f.default in values:
            return f.name
    return next((f.name for f in fs if f.name in hints), None)


def _resolved(cfg_cls: type, mc: dict[str, Any]) -> dict[str, Any]:
    return config_to_dict(config_from_dict(cfg_cls, mc))


def build_grid(
    families: tuple[str, ...] = FAMILIES, *, gmt: str | None = None
) -> tuple[list[RunConfig], list[str]]:
    """The runs for the importable families and notes on what was skipped and why."""
    runs = [
        RunConfig(PCA, PCA, default=True, label="PCA (50 PCs, same HVGs)"),
        RunConfig(
            PCA_SCALED,
            PCA,
            {"scale": True},
            default=True,
            label="scaled PCA (50 PCs of the same HVGs z-scored, clipped at 10)",
        ),
    ]
    notes: list[str] = []
    for fam in families:
        try:
            cfg_cls, _ = get_family(fam)
        except Exception as err:  # a family being written may not import yet
            notes.append(f"`{fam}`: not importable yet ({type(err).__name__}: {err}); skipped.")
            continue
        default = _resolved(cfg_cls, {})
        axes, axis_names = [], []
        for values, hints in AXES.get(fam, []):
            vals = values + (("programme",) if fam == "mae" and "random" in values else ())
            name = _axis_field(cfg_cls, vals, hints)
            if name is None:
                notes.append(f"`{fam}`: no config field takes {'/'.join(vals)}; axis skipped.")
                continue
            axes.append([(name, v) for v in vals])
            axis_names.append(name)
        shown = " ".join(f"{n}={default[n]}" for n in axis_names)
        runs.append(RunConfig(fam, fam, {}, default=True, label=f"{fam} ({shown or 'defaults'})"))
        if fam == "mae":
            notes.append(
                f"`mae` masker=programme hides the gene sets of `{gmt}`."
                if gmt
                else "`mae` masker=programme hides 50 co-expression programmes of each data "
                "set's HVGs (no GMT given: `--gmt` runs it on curated sets, e.g. TF -> targets)."
            )
        for combo in itertools.product(*axes) if axes else []:
            mc = dict(combo)
            if fam == "mae" and mc.get("masker") == "programme" and gmt:
                mc["gmt"] = gmt
            try:
                if _resolved(cfg_cls, mc) == default:
                    continue
            except (ValueError, TypeError) as err:
                notes.append(f"`{fam}` {combo}: invalid config ({err}); skipped.")
                continue
            label = f"{fam} " + " ".join(f"{k}={v}" for k, v in combo)
            runs.append(RunConfig(label, fam, mc, label=label))
        if fam in PROTEIN_FAMILIES:
            runs.append(
                RunConfig(
                    f"{fam} +protein",
                    fam,
                    {},
                    use_protein=True,
                    datasets=PROTEIN_DATASETS,
                    label=f"{fam} RNA + protein",
                )
            )
    for name, (fam, mc, mc_protein) in OPT_INS.items():
        extra = opt_in_protein_settings(name)
        if fam not in families or any(n.startswith(f"`{fam}`: not importable") for n in notes):
            continue
        runs.append(RunConfig(name, fam, mc, label=f"{name} (opt-in)"))
        runs.append(
            RunConfig(
                f"{name} +protein",
                fam,
                mc_protein,
                use_protein=True,
                datasets=PROTEIN_DATASETS,
                label=f"{name} (opt-in) RNA + protein" + (f", {extra}" if extra else ""),
            )
        )
    return runs, notes


def resolved_config(run: RunConfig) -> dict[str, Any]:
    """The full model config of a run (defaults filled in), as saved with its result."""
    if run.family == PCA:
        return {"n_comps": 50, **({"scale": True} if run.model_config.get("scale") else {})}
    cfg_cls, _ = get_family(run.family)
    return _resolved(cfg_cls, run.model_config)
