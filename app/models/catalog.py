"""Models known by name, with the checksum that makes downloading them safe without --sha256.

To correct an entry (a moved upstream file, a new release), edit the fields below: the
sha256 and size are what every download is checked against, so a wrong URL can only fail
loudly, never install something else.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KnownModel:
    name: str
    url: str
    sha256: str
    size: int
    description: str


KNOWN_MODELS: tuple[KnownModel, ...] = (
    KnownModel(
        name="dog_classifier",
        # Beatmup by lnstadrum (GPL-3.0): the chunkfile its Android sample and C++ apps load.
        url=("https://raw.githubusercontent.com/lnstadrum/beatmup/master/"
             "android/app/src/main/assets/dog_classifier.chunks"),
        sha256="59723e406f593959a5ac3d7b930b4b8385e7dc3066e1683b0fb4005bce809fcd",
        size=861371,
        description="120 dog and cat classes, 385x385 input (Beatmup, GPL-3.0)",
    ),
)


def find_known(source: str) -> KnownModel | None:
    """The catalogue entry named by `source`, given as its name or its exact URL."""
    for model in KNOWN_MODELS:
        if source in (model.name, model.url):
            return model
    return None

