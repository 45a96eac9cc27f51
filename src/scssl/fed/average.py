"""Federated averaging (FedAvg) and the compatibility checks that come before it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from .._errors import InputError

# what every site's checkpoint must share with the global model, and how to say it
_SAME = (
    ("family", "model family"),
    ("model_config", "model config"),
    ("extras", "model extras"),
)


def fedavg(states: Sequence[Mapping[str, torch.Tensor]], weights: Sequence[float]) -> dict:
    """Weighted mean of state dicts: ``sum_k w_k * state_k / sum_k w_k`` per tensor.

    Floating-point tensors are averaged in float64 and cast back; other tensors (counters)
    must be equal across sites and are taken as they are.
    """
    if not states or len(states) != len(weights):
        raise ValueError("fedavg needs one weight per state dict (and at least one)")
    w = torch.tensor([float(x) for x in weights], dtype=torch.float64)
    if (w < 0).any() or float(w.sum()) <= 0:
        raise ValueError(f"fedavg weights must be >= 0 with a positive sum, not {weights}")
    w = w / w.sum()
    keys = list(states[0])
    out: dict[str, torch.Tensor] = {}
    for key in keys:
        ts = [s[key] for s in states]
        ref = ts[0]
        if ref.is_floating_point():
            acc = torch.zeros(ref.shape, dtype=torch.float64)
            for wk, t in zip(w, ts, strict=True):
                acc += wk * t.detach().to("cpu", torch.float64)
            out[key] = acc.to(ref.dtype)
        else:
            if any(not torch.equal(t.cpu(), ref.cpu()) for t in ts[1:]):
                raise ValueError(f"non-float tensor {key!r} differs between sites")
            out[key] = ref.detach().cpu().clone()
    return out


def _first_difference(a: Sequence[str], b: Sequence[str]) -> str:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return f"position {i + 1}: '{x}' vs '{y}'"
    return f"{len(a)} vs {len(b)} genes"


def check_compatible(ref: Mapping[str, Any], ref_where: str, meta: Mapping[str, Any], where: str):
    """InputError naming ``where`` unless ``meta`` (a site checkpoint's config.json) has the
    family, model config, gene list, data spec and extras of ``ref`` (the global model's)."""
    for key, what in _SAME:
        if meta.get(key) != ref.get(key):
            diff = ""
            if isinstance(ref.get(key), dict) and isinstance(meta.get(key), dict):
                ks = sorted(
                    k for k in {*ref[key], *meta[key]} if ref[key].get(k) != meta[key].get(k)
                )
                diff = "; differs in " + ", ".join(
                    f"{k}={meta[key].get(k)!r} (global {ref[key].get(k)!r})" for k in ks[:5]
                )
            elif key == "family":
                diff = f": {meta.get(key)!r}, global {ref.get(key)!r}"
            raise InputError(
                f"{where}: {what} differs from the global model ({ref_where}){diff}. Every "
                "site must train the global checkpoint of this round unchanged; refusing to "
                "average it."
            )
    genes, ref_genes = meta["spec"].get("genes", []), ref["spec"].get("genes", [])
    if genes != ref_genes:
        raise InputError(
            f"{where}: gene list differs from the global model's ({ref_where}; "
            f"{_first_difference(genes, ref_genes)}). Every site must align to the shared "
            "gene list; refusing to average it."
        )
    if meta["spec"] != ref["spec"]:
        raise InputError(
            f"{where}: data spec (batches, proteins) differs from the global model's "
            f"({ref_where}); refusing to average it."
        )
