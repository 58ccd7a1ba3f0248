"""A trainer whose score and duration the test chooses, to exercise the platform around it.

Registered in the test process on import, and in the test worker with `celery -I`.
It still loads the tenant's real interactions and writes a real .npz artifact.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from recommender.selectors import interaction_arrays
from training.registry import TrainedModel, TrainingData, register

KIND = "scripted"


class ScriptedTrainer:
    kind = KIND
    primary_metric = "score"
    libraries: tuple[str, ...] = ()

    def load_data(self, *, tenant) -> TrainingData:
        arrays, watermark = interaction_arrays(tenant=tenant)
        return TrainingData(payload=arrays, watermark=watermark, rows=len(arrays))

    def train(self, data: TrainingData, *, parameters: dict, progress) -> TrainedModel:
        progress("fitting", 30)
        deadline = time.monotonic() + float(parameters.get("sleep", 0))
        while time.monotonic() < deadline:
            time.sleep(0.05)
        if parameters.get("fail"):
            raise ValueError(parameters["fail"])
        counts = np.bincount(data.payload.product[data.payload.product >= 0])
        score = float(parameters.get("score", 0.5))
        return TrainedModel(model=counts, metrics={"score": score}, baseline_metrics={"score": 0.0})

    def save(self, model: np.ndarray, directory: Path) -> None:
        np.savez(directory / "counts.npz", counts=model)

    def load(self, directory: Path) -> np.ndarray:
        with np.load(directory / "counts.npz", allow_pickle=False) as data:
            return data["counts"]


register(ScriptedTrainer())
