"""Where the tests find the published dog classifier: where a user would have it.

First the model store (`shadercam model install dog_classifier` puts it there; the store is
where app.models.store says: $SHADERCAM_MODEL_STORE or the default), then `../shared/models`
beside the checkout. Without it the tests that need it skip with the reason; under CI
(CI=true) its absence fails them, as the vc4 compiler's does, so CI always runs everything.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from app.models.store import SUFFIX, store_dir

DOG_MODEL_NAME = "dog_classifier"


def in_ci(env: Mapping[str, str]) -> bool:
    """CI must run every test: there a missing model or tool fails instead of skipping."""
    return env.get("CI", "").lower() in ("1", "true", "yes")


def dog_model_places(env: Mapping[str, str], shared: Path) -> list[Path]:
    """Where to look, in order: the model store, then `shared`/models."""
    return [store_dir(env) / f"{DOG_MODEL_NAME}{SUFFIX}",
            shared / "models" / f"{DOG_MODEL_NAME}{SUFFIX}"]


def find_dog_model(env: Mapping[str, str], shared: Path) -> Path:
    """The first place holding the model; otherwise skips the test (fails it under CI)."""
    places = dog_model_places(env, shared)
    for place in places:
        if place.is_file():
            return place
    reason = (f"needs the dog classifier, found neither in the model store nor in "
              f"../shared/models ({' nor '.join(map(str, places))}); install it with "
              f"`shadercam model install {DOG_MODEL_NAME}`")
    if in_ci(env):
        pytest.fail(f"CI must run every test: {reason}")
    pytest.skip(reason)
