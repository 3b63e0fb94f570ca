"""The taught classifiers' store: atomic, bounded, restart-proof, with export and import."""
import io
import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from app.teach import store as teach_store
from app.teach.store import (MAX_EXAMPLES_PER_CLASS, NoSuchClassifier, Store, TaughtClassifier,
                             TeachStoreError, thumbnail)

BACKBONE = {"name": "dog_classifier", "sha256": "ab" * 32}


def clusters(rng, centre: float, count: int, dim: int = 24) -> np.ndarray:
    base = np.zeros(dim)
    base[int(centre):int(centre) + 8] = 3.0
    return (base + rng.normal(0, 0.3, (count, dim))).astype(np.float32)


def photo_thumbs(count: int) -> list[bytes]:
    import skimage.data
    rgb = skimage.data.astronaut()
    return [thumbnail(rgb, (0.1 * (i % 5), 0.1, 0.5, 0.5)) for i in range(count)]


def taught(name: str = "door", examples: int = 6) -> TaughtClassifier:
    rng = np.random.default_rng(1)
    classifier = TaughtClassifier(name=name, classes=["closed", "open"],
                                  region=(0.25, 0.1, 0.5, 0.8), backbone=BACKBONE,
                                  features=teach_store.DEFAULT_FEATURES)
    classifier.add("closed", clusters(rng, 0, examples), photo_thumbs(examples))
    classifier.add("open", clusters(rng, 7, examples), photo_thumbs(examples))
    return classifier


def test_a_saved_classifier_loads_back_the_same_in_a_new_store(tmp_path):
    classifier = taught()
    assert classifier.report["accuracy"] == 1.0 and classifier.head is not None
    Store(tmp_path).save(classifier, new=True)
    again = Store(tmp_path).load("door")
    assert again.summary() == classifier.summary()
    np.testing.assert_array_equal(again.vectors, classifier.vectors)
    probe = clusters(np.random.default_rng(9), 7, 1)[0]
    assert again.classify(probe).label == "open"
    assert again.classify(probe) == classifier.classify(probe)
    thumb = Store(tmp_path).thumb("door", again.examples[0].id)
    assert Image.open(io.BytesIO(thumb)).size == (128, 128)


def test_a_change_is_saved_as_a_new_generation_and_the_old_files_go(tmp_path):
    store = Store(tmp_path)
    classifier = taught()
    store.save(classifier)
    gone = classifier.examples[0].id
    classifier.remove(gone)
    classifier.relabel(classifier.examples[-1].id, "closed")
    store.save(classifier)
    folder = tmp_path / "taught" / "door"
    assert len(list(folder.glob("data-*.npz"))) == 1
    assert not (folder / "thumbs" / f"{gone}.jpg").exists()
    assert sorted(p.stem for p in (folder / "thumbs").iterdir()) == \
        sorted(e.id for e in classifier.examples)
    loaded = store.load("door")
    assert loaded.counts == {"closed": 6, "open": 5}
    assert not [p for p in folder.rglob(".*")]  # no temporary file left


def test_names_classes_and_regions_are_checked_before_they_touch_a_path(tmp_path):
    for name in ("../etc", "a/b", ".hidden", "", "x" * 33, "Door"):
        with pytest.raises(TeachStoreError, match="bad classifier name"):
            Store(tmp_path).load(name)
    with pytest.raises(TeachStoreError, match="class names repeat"):
        TaughtClassifier("a", ["x", "x"], (0, 0, 1, 1), BACKBONE, teach_store.DEFAULT_FEATURES)
    with pytest.raises(TeachStoreError, match="not 'unknown'"):
        TaughtClassifier("a", ["x", "unknown"], (0, 0, 1, 1), BACKBONE,
                         teach_store.DEFAULT_FEATURES)
    with pytest.raises(TeachStoreError, match="not inside the frame"):
        TaughtClassifier("a", ["x", "y"], (0.5, 0, 0.6, 1), BACKBONE,
                         teach_store.DEFAULT_FEATURES)
    with pytest.raises(TeachStoreError, match="is not a class"):
        taught().add("ajar", np.zeros((1, 24)), photo_thumbs(1))


def test_sizes_are_bounded(tmp_path, monkeypatch):
    classifier = taught(examples=2)
    too_many = MAX_EXAMPLES_PER_CLASS - 1
    with pytest.raises(TeachStoreError, match="more than"):
        classifier.add("open", np.zeros((too_many, 24)), photo_thumbs(1) * too_many)
    with pytest.raises(TeachStoreError, match="thumbnail"):
        classifier.add("open", np.zeros((1, 24)), [b"\xff\xd8" + bytes(70_000)])
    monkeypatch.setattr(teach_store, "MAX_CLASSIFIERS", 2)
    store = Store(tmp_path)
    store.save(taught("one"))
    store.save(taught("two"))
    store.save(taught("two"))  # replacing is not adding
    with pytest.raises(TeachStoreError, match="delete one first"):
        store.save(taught("three"))
    with pytest.raises(TeachStoreError, match="exists"):
        store.save(taught("one"), new=True)


def test_a_damaged_classifier_says_so_and_the_others_still_load(tmp_path):
    store = Store(tmp_path)
    store.save(taught("door"))
    store.save(taught("parcel"))
    manifest = tmp_path / "taught" / "door" / "classifier.json"
    manifest.write_text(manifest.read_text()[:40])
    listed = {entry["name"]: entry for entry in store.list()}
    assert "damaged" in listed["door"]["error"] and listed["parcel"]["ready"]
    with pytest.raises(TeachStoreError, match="'door' is damaged"):
        store.load("door")
    data = next((tmp_path / "taught" / "parcel").glob("data-*.npz"))
    data.write_bytes(b"not an npz")
    with pytest.raises(TeachStoreError, match="'parcel' is damaged"):
        store.load("parcel")
    with pytest.raises(NoSuchClassifier):
        store.load("porch")


def test_export_and_import_round_trip_and_bad_files_are_refused(tmp_path):
    first, second = Store(tmp_path / "a"), Store(tmp_path / "b")
    classifier = taught()
    first.save(classifier)
    exported = first.export("door")
    imported = second.import_(exported)
    assert imported.summary() == classifier.summary()
    assert second.thumb("door", classifier.examples[3].id) == \
        first.thumb("door", classifier.examples[3].id)
    with pytest.raises(TeachStoreError, match="exists"):
        second.import_(exported)
    assert second.import_(exported, name="door-copy").name == "door-copy"
    assert second.names() == ["door", "door-copy"]
    with pytest.raises(TeachStoreError, match="not an exported taught classifier"):
        second.import_(b"PK\x03\x04 nothing")
    broken = io.BytesIO()
    with zipfile.ZipFile(exported and io.BytesIO(exported)) as source, \
            zipfile.ZipFile(broken, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "classifier.json":
                manifest = json.loads(data)
                manifest["name"] = "../../escape"
                data = json.dumps(manifest).encode()
            target.writestr(item, data)
    with pytest.raises(TeachStoreError, match="bad classifier name"):
        second.import_(broken.getvalue(), replace=True)
    assert not (tmp_path / "escape").exists()


def test_delete_removes_the_folder(tmp_path):
    store = Store(tmp_path)
    store.save(taught())
    store.delete("door")
    assert store.names() == [] and not (tmp_path / "taught" / "door").exists()
    with pytest.raises(NoSuchClassifier):
        store.delete("door")


def test_the_revision_changes_with_what_the_answers_depend_on(tmp_path):
    store = Store(tmp_path)
    classifier = taught()
    store.save(classifier)
    assert store.load("door").revision == classifier.revision
    classifier.relabel(classifier.examples[0].id, "open")
    assert store.load("door").revision != classifier.revision


def test_switched_off_is_stored_and_a_manifest_without_it_runs(tmp_path):
    store = Store(tmp_path)
    classifier = taught()
    classifier.enabled = False
    store.save(classifier, new=True)
    assert Store(tmp_path).load("door").enabled is False
    manifest_path = tmp_path / "taught" / "door" / "classifier.json"
    manifest = json.loads(manifest_path.read_text())
    assert manifest["enabled"] is False
    del manifest["enabled"]  # written before switching off existed
    manifest_path.write_text(json.dumps(manifest))
    assert store.load("door").enabled is True
    manifest["enabled"] = "no"
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(TeachStoreError, match="damaged"):
        store.load("door")
