"""Model store: install from a file and over http/https, checksum and interruption refusals,
removal, the default model, and how the service finds its model."""
from __future__ import annotations

import dataclasses
import hashlib
import os
import stat

import pytest

from app.models import catalog as model_catalog, store as model_store
from app.models.store import ModelStore, ModelStoreError, resolve_model_path

DOG_SHA = "59723e406f593959a5ac3d7b930b4b8385e7dc3066e1683b0fb4005bce809fcd"


def _entries(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_catalogue_entry_matches_the_shared_model(dog_model):
    known = model_catalog.find_known("dog_classifier")
    data = dog_model.read_bytes()
    assert known.size == len(data)
    assert known.sha256 == hashlib.sha256(data).hexdigest() == DOG_SHA
    assert model_catalog.find_known(known.url) is known


def test_install_from_file_becomes_default_and_is_readable_by_others(tmp_path, dog_model):
    store = ModelStore(tmp_path / "store")
    installed = store.install(str(dog_model))
    assert installed.name == "dog_classifier" and installed.is_default
    assert installed.path.read_bytes() == dog_model.read_bytes()
    assert stat.S_IMODE(installed.path.stat().st_mode) == 0o644
    assert _entries(store.directory) == ["default", "dog_classifier.chunks"]
    assert [m.name for m in store.list()] == ["dog_classifier"]
    assert store.list()[0].sha256 == DOG_SHA


def test_file_with_wrong_sha256_is_refused_and_leaves_nothing(tmp_path, dog_model):
    store = ModelStore(tmp_path / "store")
    with pytest.raises(ModelStoreError, match="sha256 mismatch"):
        store.install(str(dog_model), sha256="0" * 64)
    assert _entries(store.directory) == []


def test_file_that_is_not_a_chunkfile_is_refused(tmp_path):
    junk = tmp_path / "junk.chunks"
    junk.write_bytes(b"\xff\xff\xff\x7f not a model")
    store = ModelStore(tmp_path / "store")
    with pytest.raises(ModelStoreError, match="not a usable model"):
        store.install(str(junk))
    assert _entries(store.directory) == []


def test_model_with_a_broken_description_is_refused(tmp_path, dog_model):
    data = bytearray(dog_model.read_bytes())
    data[2000] ^= 1  # inside the op listing: a valid chunkfile the engine cannot load
    broken = tmp_path / "broken.chunks"
    broken.write_bytes(bytes(data))
    store = ModelStore(tmp_path / "store")
    with pytest.raises(ModelStoreError, match="not a usable model: connection"):
        store.install(str(broken))
    assert _entries(store.directory) == []


def test_missing_file_and_bad_arguments_are_refused(tmp_path, dog_model):
    store = ModelStore(tmp_path / "store")
    with pytest.raises(ModelStoreError, match="cannot read"):
        store.install(str(tmp_path / "absent.chunks"))
    with pytest.raises(ModelStoreError, match="64 hexadecimal"):
        store.install(str(dog_model), sha256="abc")
    with pytest.raises(ModelStoreError, match="bad model name"):
        store.install(str(dog_model), name="../etc/passwd")
    with pytest.raises(ModelStoreError, match="only http"):
        store.install("ftp://example.invalid/m.chunks")
    assert _entries(store.directory) == []


def test_install_over_http_with_sha256(tmp_path, dog_model, http_server):
    http_server.files["/models/dog.chunks"] = dog_model.read_bytes()
    seen = []
    store = ModelStore(tmp_path / "store")
    installed = store.install(f"{http_server.base}/models/dog.chunks", sha256=DOG_SHA.upper(),
                              progress=lambda done, total: seen.append((done, total)))
    assert installed.name == "dog" and installed.sha256 == DOG_SHA
    assert seen[-1] == (861371, 861371) and len(seen) > 5
    assert all(a[0] < b[0] for a, b in zip(seen, seen[1:]))


def test_url_without_sha256_is_refused_before_any_request(tmp_path, http_server):
    store = ModelStore(tmp_path / "store")
    with pytest.raises(ModelStoreError, match="--sha256"):
        store.install(f"{http_server.base}/m.chunks")
    assert http_server.requests == []


def test_download_with_wrong_checksum_leaves_nothing(tmp_path, dog_model, http_server):
    data = bytearray(dog_model.read_bytes())
    data[50_000] ^= 1  # one flipped bit in a dense weight: still a loadable model
    http_server.files["/dog.chunks"] = bytes(data)
    store = ModelStore(tmp_path / "store")
    with pytest.raises(ModelStoreError, match="sha256 mismatch"):
        store.install(f"{http_server.base}/dog.chunks", sha256=DOG_SHA)
    assert _entries(store.directory) == []


def test_interrupted_download_leaves_nothing(tmp_path, dog_model, http_server):
    http_server.truncated["/dog.chunks"] = (dog_model.read_bytes(), 300_000)
    store = ModelStore(tmp_path / "store")
    with pytest.raises(ModelStoreError, match="interrupted"):
        store.install(f"{http_server.base}/dog.chunks", sha256=DOG_SHA)
    assert _entries(store.directory) == []


def test_ctrl_c_during_download_leaves_nothing(tmp_path, dog_model, http_server):
    http_server.files["/dog.chunks"] = dog_model.read_bytes()

    def interrupt(done, total):
        if done > 200_000:
            raise KeyboardInterrupt

    store = ModelStore(tmp_path / "store")
    with pytest.raises(KeyboardInterrupt):
        store.install(f"{http_server.base}/dog.chunks", sha256=DOG_SHA, progress=interrupt)
    assert _entries(store.directory) == []


def test_http_error_is_reported(tmp_path, http_server):
    store = ModelStore(tmp_path / "store")
    with pytest.raises(ModelStoreError, match="HTTP 404"):
        store.install(f"{http_server.base}/missing.chunks", sha256=DOG_SHA)
    assert _entries(store.directory) == []


def test_known_name_downloads_and_checks_the_builtin_sha256(tmp_path, dog_model, http_server,
                                                           monkeypatch):
    """`install dog_classifier` fetches the catalogue URL and checks it with no --sha256.
    The URL is pointed at a loopback copy: tests never leave this machine."""
    known = model_catalog.find_known("dog_classifier")
    local = dataclasses.replace(known, url=f"{http_server.base}/upstream/dog_classifier.chunks")
    monkeypatch.setattr(model_catalog, "KNOWN_MODELS", (local,))
    store = ModelStore(tmp_path / "store")

    http_server.files["/upstream/dog_classifier.chunks"] = dog_model.read_bytes()[:-1] + b"\0"
    with pytest.raises(ModelStoreError, match="sha256 mismatch"):
        store.install("dog_classifier")
    assert _entries(store.directory) == []

    http_server.files["/upstream/dog_classifier.chunks"] = dog_model.read_bytes()
    assert store.install("dog_classifier").sha256 == DOG_SHA


def test_install_over_https_trusts_only_known_certificates(tmp_path, dog_model, https_server,
                                                          self_signed_cert, monkeypatch):
    https_server.files["/dog.chunks"] = dog_model.read_bytes()
    url = f"{https_server.base}/dog.chunks"
    store = ModelStore(tmp_path / "store")
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    with pytest.raises(ModelStoreError, match="CERTIFICATE_VERIFY_FAILED"):
        store.install(url, sha256=DOG_SHA)
    assert _entries(store.directory) == []

    monkeypatch.setenv("SSL_CERT_FILE", str(self_signed_cert[0]))
    assert store.install(url, sha256=DOG_SHA).path.read_bytes() == dog_model.read_bytes()


def test_reinstall_is_a_no_op_and_a_different_model_needs_force(tmp_path, dog_model):
    store = ModelStore(tmp_path / "store")
    first = store.install(str(dog_model))
    mtime = first.path.stat().st_mtime_ns
    assert store.install(str(dog_model)).path.stat().st_mtime_ns == mtime

    other = tmp_path / "dog_classifier.chunks"
    data = bytearray(dog_model.read_bytes())
    data[50_000] ^= 1  # a dense weight: still a valid model, different content
    other.write_bytes(bytes(data))
    with pytest.raises(ModelStoreError, match="--force"):
        store.install(str(other))
    assert store.install(str(other), force=True).sha256 == hashlib.sha256(data).hexdigest()
    assert [e for e in _entries(store.directory) if e.startswith(".")] == []


def test_remove_and_default(tmp_path, dog_model):
    store = ModelStore(tmp_path / "store")
    store.install(str(dog_model))
    store.install(str(dog_model), name="second")
    assert store.default_name() == "dog_classifier"
    store.set_default("second")
    assert [m.name for m in store.list() if m.is_default] == ["second"]
    with pytest.raises(ModelStoreError, match="install it first"):
        store.set_default("absent")

    assert store.remove("dog_classifier") is False
    assert store.remove("second") is True
    assert store.default_name() is None and store.list() == []
    with pytest.raises(ModelStoreError, match="no model named"):
        store.remove("second")
    assert _entries(store.directory) == []


def test_resolve_model_path_order(tmp_path, dog_model, monkeypatch):
    monkeypatch.setenv(model_store.STORE_ENV, str(tmp_path / "store"))
    assert resolve_model_path(None) == model_store.DEMO_MODEL
    assert resolve_model_path("") == model_store.DEMO_MODEL
    assert resolve_model_path(str(dog_model)) == dog_model

    store = ModelStore()
    assert store.directory == tmp_path / "store"
    store.install(str(dog_model), name="mine")
    assert resolve_model_path(None) == tmp_path / "store" / "mine.chunks"
    assert resolve_model_path("mine") == tmp_path / "store" / "mine.chunks"
    assert resolve_model_path("not-installed") == model_store.Path("not-installed")


def test_store_location_follows_the_environment(tmp_path, monkeypatch):
    assert model_store.store_dir({model_store.STORE_ENV: "/x"}) == model_store.Path("/x")
    assert model_store.store_dir({"STATE_DIRECTORY": "/var/lib/shadercam"}) == \
        model_store.Path("/var/lib/shadercam/models")
    monkeypatch.setattr(model_store, "SYSTEM_STATE", tmp_path / "no-system-install")
    assert model_store.store_dir({"XDG_DATA_HOME": str(tmp_path)}) == \
        tmp_path / "shadercam" / "models"


def test_stale_partial_files_are_cleaned_up(tmp_path, dog_model):
    store = ModelStore(tmp_path / "store")
    store.directory.mkdir()
    stale = store.directory / ".incoming-old.partial"
    fresh = store.directory / ".incoming-new.partial"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"x")
    os.utime(stale, (0, 0))
    store.install(str(dog_model))
    assert not stale.exists() and fresh.exists()
    assert [m.name for m in store.list()] == ["dog_classifier"]
