"""The tests find the dog classifier where a user has it, and skip (fail under CI) without it."""
import os
from pathlib import Path

import pytest

from app.cli import main
from app.models.store import DEMO_MODEL
from published_models import find_dog_model


@pytest.fixture
def places(tmp_path: Path) -> tuple[dict[str, str], Path, Path]:
    """A user's environment naming an empty store, and an empty ../shared."""
    store, shared = tmp_path / "store", tmp_path / "shared"
    (shared / "models").mkdir(parents=True)
    return {"SHADERCAM_MODEL_STORE": str(store)}, store, shared


def test_the_model_store_comes_first(places, capsys):
    env, store, shared = places
    (shared / "models" / "dog_classifier.chunks").write_bytes(DEMO_MODEL.read_bytes())
    assert find_dog_model(env, shared) == shared / "models" / "dog_classifier.chunks"
    # what `shadercam model install dog_classifier` leaves in the store
    assert main(["model", "install", str(DEMO_MODEL), "--name", "dog_classifier",
                 "--store", str(store)]) == 0
    assert find_dog_model(env, shared) == store / "dog_classifier.chunks"
    assert find_dog_model({**env, "CI": "true"}, shared) == store / "dog_classifier.chunks"


def test_without_the_model_the_test_skips_with_the_reason(places):
    env, store, shared = places
    with pytest.raises(pytest.skip.Exception) as skipped:
        find_dog_model(env, shared)
    reason = str(skipped.value)
    assert "shadercam model install dog_classifier" in reason
    assert str(store / "dog_classifier.chunks") in reason
    assert str(shared / "models" / "dog_classifier.chunks") in reason


@pytest.mark.parametrize("ci", ["true", "1", "yes"])
def test_without_the_model_ci_fails(places, ci):
    env, _, shared = places
    with pytest.raises(pytest.fail.Exception) as failed:
        find_dog_model({**env, "CI": ci}, shared)
    assert "CI must run every test" in str(failed.value)
    assert "shadercam model install dog_classifier" in str(failed.value)


def test_the_store_install_uses_is_looked_in(tmp_path, monkeypatch):
    """Without --store, where `shadercam model install` puts it (here a service's state)."""
    monkeypatch.delenv("SHADERCAM_MODEL_STORE", raising=False)
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "state"))
    assert main(["model", "install", str(DEMO_MODEL), "--name", "dog_classifier"]) == 0
    found = find_dog_model(dict(os.environ), tmp_path / "no-shared")
    assert found == tmp_path / "state" / "models" / "dog_classifier.chunks"
