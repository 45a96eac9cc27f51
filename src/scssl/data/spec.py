"""What a model expects of its data; saved in every checkpoint as plain JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class DataSpec:
    """Genes (model order), batch categories and protein names a model was trained on."""

    genes: tuple[str, ...]
    gene_ids: tuple[str, ...]
    batch_key: str | None = None
    batches: tuple[str, ...] = ()
    proteins: tuple[str, ...] = ()

    @property
    def n_genes(self) -> int:
        return len(self.genes)

    @property
    def n_batches(self) -> int:
        return max(len(self.batches), 1)

    @property
    def n_proteins(self) -> int:
        return len(self.proteins)

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DataSpec:
        return cls(
            genes=tuple(d["genes"]),
            gene_ids=tuple(d["gene_ids"]),
            batch_key=d.get("batch_key"),
            batches=tuple(d.get("batches", ())),
            proteins=tuple(d.get("proteins", ())),
        )
