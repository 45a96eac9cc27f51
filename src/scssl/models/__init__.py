"""Model families: a registry mapping family name -> (Config dataclass, Module class)."""

from __future__ import annotations

from importlib import import_module

from .base import LossOutput, SSLModule, config_from_dict, config_to_dict

_FAMILIES: dict[str, tuple[str, str, str]] = {
    "mae": ("scssl.models.mae", "MAEConfig", "MAEModule"),
    "contrastive": ("scssl.models.contrastive", "ContrastiveConfig", "ContrastiveModule"),
    "srsa_vae": ("scssl.models.srsa_vae", "SRSAVAEConfig", "SRSAVAEModule"),
    "token_mae": ("scssl.models.token_mae", "TokenMAEConfig", "TokenMAEModule"),
}
FAMILIES = tuple(_FAMILIES)


def get_family(name: str) -> tuple[type, type[SSLModule]]:
    """(Config class, Module class) of a family; ValueError naming the known families."""
    if name not in _FAMILIES:
        raise ValueError(f"unknown model family {name!r}; choose one of {', '.join(FAMILIES)}")
    mod, cfg, module = _FAMILIES[name]
    m = import_module(mod)
    return getattr(m, cfg), getattr(m, module)


__all__ = [
    "FAMILIES",
    "LossOutput",
    "SSLModule",
    "config_from_dict",
    "config_to_dict",
    "get_family",
]
