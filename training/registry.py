"""The trainer registry: apps register a trainer per model kind; the platform does the rest.

A trainer loads a tenant's data through selectors, fits on it, evaluates on held-out
data against a baseline, and saves/loads its fitted model in a directory (no pickle).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tenants.models import Tenant

Progress = Callable[[str, int], None]  # (stage, percent)


@dataclass
class TrainingData:
    """What a trainer loaded: its arrays, and the watermark of the data it saw."""

    payload: Any
    watermark: dict
    rows: int


@dataclass
class TrainedModel:
    model: Any
    metrics: dict[str, float]
    baseline_metrics: dict[str, float] = field(default_factory=dict)
    # Metrics of every candidate tried, so a marketer can see why the winner won.
    candidates: dict[str, dict[str, float]] = field(default_factory=dict)
    parameters: dict = field(default_factory=dict)


class Trainer(Protocol):
    kind: str
    primary_metric: str  # higher is better
    libraries: tuple[str, ...]  # distributions whose versions are recorded on the version

    def load_data(self, *, tenant: Tenant) -> TrainingData: ...

    def train(
        self, data: TrainingData, *, parameters: dict, progress: Progress
    ) -> TrainedModel: ...

    def save(self, model: Any, directory: Path) -> None: ...

    def load(self, directory: Path) -> Any: ...

    # Optional: `store_outputs(*, tenant, version, model, data) -> None` writes what the
    # model says of each customer (a segment, a score) as rows of `version`, before the
    # platform decides whether to activate it; a kind without per-row outputs omits it.


class UnknownKind(KeyError):
    pass


_trainers: dict[str, Trainer] = {}


def register(trainer: Trainer) -> Trainer:
    _trainers[trainer.kind] = trainer
    return trainer


def get_trainer(kind: str) -> Trainer:
    try:
        return _trainers[kind]
    except KeyError:
        raise UnknownKind(kind) from None


def registered_kinds() -> list[str]:
    return sorted(_trainers)
