"""A study cell's numbers as a typed result: what ``study/cell.py`` stores in ``numbers.json``
and the claims read (each table as its records)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields


@dataclass(frozen=True)
class CellNumbers:
    """One (subdomain, seed) cell of the study."""

    subdomain: str
    seed: int
    precision: dict[str, float | None] = field(default_factory=dict)
    """Selection precision by method (None where the method has no ground truth)."""
    seconds: float = 0.0
    """Wall time of the cell after training."""
    metrics: list[dict] = field(default_factory=list)
    """``compare.metrics_table``: one row per (split, SAE)."""
    matched: list[dict] = field(default_factory=list)
    """The SAE of each sweep nearest the GSAE's L0, per split."""
    tail_coverage: list[dict] = field(default_factory=list)
    concept_recall: list[dict] = field(default_factory=list)
    breadth: list[dict] = field(default_factory=list)
    """Per focus SAE: how spread its firing is (``features.breadth``)."""
    autointerp: list[dict] = field(default_factory=list)
    dark_matter: list[dict] = field(default_factory=list)
    tilt_ess: list[dict] = field(default_factory=list)
    """Per TERM curve: the effective sample share its tilts gave."""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> CellNumbers:
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})
