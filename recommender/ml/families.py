"""Every recommender family by name: build one from parameters, or load a saved one."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from recommender.ml.base import Recommender
from recommender.ml.blend import BlendRecommender
from recommender.ml.content import ContentRecommender, W2VContentRecommender
from recommender.ml.factorization import ALSRecommender, BPRRecommender, PureSVDRecommender
from recommender.ml.item2vec import Item2VecRecommender
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
        W2VContentRecommender,
        Item2VecRecommender,
        PopularityModel,
        BlendRecommender,
    )
}
NEEDS_TEXT = frozenset({"content", "blend"})  # families whose fit() takes item_texts
# Side inputs beyond the matrix, per family: what its fit() takes, each aligned with the
# item columns. A blend passes each component the inputs that component takes.
FIT_INPUTS: dict[str, tuple[str, ...]] = {
    "content": ("item_texts",),
    "w2v_content": ("content_vectors",),
    "item2vec": ("item_vectors",),
    "blend": ("item_texts", "content_vectors", "item_vectors"),
}


def fit_inputs(family: str, available: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments of `family`'s fit() among the `available` side inputs."""
    return {name: available.get(name) for name in FIT_INPUTS.get(family, ())}


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
