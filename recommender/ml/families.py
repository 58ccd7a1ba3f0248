"""Every recommender family by name: build one from parameters, or load a saved one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recommender.ml.base import Recommender
from recommender.ml.blend import BlendRecommender
from recommender.ml.content import ContentRecommender
from recommender.ml.factorization import ALSRecommender, BPRRecommender, PureSVDRecommender
from recommender.ml.neighbours import EASERecommender, ItemKNNRecommender
from recommender.ml.popularity import PopularityModel

FAMILIES: dict[str, type[Recommender]] = {
    cls.family: cls
    for cls in (
        EASERecommender,
        ALSRecommender,
        ItemKNNRecommender,
        PureSVDRecommender,
        BPRRecommender,
        ContentRecommender,
        PopularityModel,
        BlendRecommender,
    )
}
NEEDS_TEXT = frozenset({"content", "blend"})  # families whose fit() takes item_texts


def make_model(family: str, params: dict[str, Any] | None = None) -> Recommender:
    try:
        cls = FAMILIES[family]
    except KeyError:
        raise ValueError(
            f"Unknown recommender family {family!r}; known: {sorted(FAMILIES)}"
        ) from None
    return cls(**(params or {}))


def saved_family(directory: Path) -> str:
    """The family of the model saved in `directory` (its `<family>.npz`)."""
    found = [name for name in FAMILIES if (Path(directory) / f"{name}.npz").is_file()]
    if len(found) != 1:
        raise FileNotFoundError(f"Expected one saved recommender in {directory}, found {found}")
    return found[0]


def load_model(directory: Path) -> Recommender:
    return FAMILIES[saved_family(directory)].load(directory)
