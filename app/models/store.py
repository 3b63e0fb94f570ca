"""Installed models: a folder of `NAME.chunks` files plus a `default` file naming one of them.

Where the store lives, first match wins:
  1. `$SHADERCAM_MODEL_STORE`;
  2. `$STATE_DIRECTORY/models` (systemd sets it for the service from `StateDirectory=`);
  3. `/var/lib/shadercam/models` when the system install (`systemd/install.sh`) exists, so an
     administrator's `sudo shadercam model install ...` feeds the service;
  4. `$XDG_DATA_HOME/shadercam/models` (`~/.local/share/...`) on a development machine.
"""
from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.atomic import fsync_dir, write_atomically
from app.models import catalog
from app.models.fetch import FetchError, Progress, fetch, is_url, remove_stale_partials
from gpu_engine.errors import ModelError
from gpu_engine.model import Model, load_model

if TYPE_CHECKING:
    from gpu_engine.selftest import SelfTestReport

STORE_ENV = "SHADERCAM_MODEL_STORE"
SYSTEM_STATE = Path("/var/lib/shadercam")
DEMO_MODEL = Path(__file__).resolve().parents[1] / "assets" / "demo_model.chunks"
SUFFIX = ".chunks"
DEFAULT_FILE = "default"
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
STALE_PARTIAL_S = 3600.0


class ModelStoreError(Exception):
    """A store operation that cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class InstalledModel:
    name: str
    path: Path
    size: int
    sha256: str
    is_default: bool
    unchanged: bool = False  # install found this very file already installed


def store_dir(env: Mapping[str, str] | None = None) -> Path:
    """The store folder for this process (see the module docstring for the order)."""
    env = os.environ if env is None else env
    if env.get(STORE_ENV):
        return Path(env[STORE_ENV])
    if env.get("STATE_DIRECTORY"):
        return Path(env["STATE_DIRECTORY"].split(":")[0]) / "models"
    if SYSTEM_STATE.is_dir():
        return SYSTEM_STATE / "models"
    data_home = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "shadercam" / "models"


class ModelStore:
    """List, install, remove and choose the default model in one store folder."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = Path(directory) if directory is not None else store_dir()

    def path_of(self, name: str) -> Path:
        return self.directory / f"{check_name(name)}{SUFFIX}"

    def default_name(self) -> str | None:
        try:
            name = (self.directory / DEFAULT_FILE).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return name if NAME_PATTERN.fullmatch(name) else None

    def list(self) -> list[InstalledModel]:
        if not self.directory.is_dir():
            return []
        default = self.default_name()
        found = []
        for path in sorted(self.directory.glob(f"*{SUFFIX}")):
            name = path.name[: -len(SUFFIX)]
            if path.name.startswith(".") or not NAME_PATTERN.fullmatch(name):
                continue
            found.append(InstalledModel(name, path, path.stat().st_size, _sha256_of(path),
                                        name == default))
        return found

    def install(self, source: str, *, name: str | None = None, sha256: str | None = None,
                force: bool = False, progress: Progress | None = None) -> InstalledModel:
        """Fetch, verify and validate `source`, then move it into place in one rename.

        The first model installed becomes the default, so a fresh install just works. A file
        already installed under the name is left as it is (`unchanged`); when its sha256 is
        known beforehand (a known model, --sha256) it is not even downloaded again.
        """
        known = catalog.find_known(source)
        url_or_path = known.url if known else source
        expected_size = known.size if known else None
        if sha256 is not None:
            sha256 = _check_sha256(sha256)
        elif known:
            sha256 = known.sha256
        elif is_url(source):
            raise ModelStoreError(
                f"{source}: downloads are verified: pass --sha256 HEX (the file's sha256 from "
                "its publisher), or download it yourself and install the file")
        elif "://" in source:
            raise ModelStoreError(f"{source}: only http:// and https:// URLs or local files")
        name = check_name(name or (known.name if known else _name_from(source)))
        target = self.path_of(name)
        if sha256 is not None and target.is_file() and _sha256_of(target) == sha256:
            return self._installed(name, unchanged=True)
        self._make_directory()
        remove_stale_partials(self.directory, STALE_PARTIAL_S, time.time())
        try:
            fetched = fetch(url_or_path, self.directory, sha256=sha256, size=expected_size,
                            progress=progress)
        except FetchError as exc:
            raise ModelStoreError(str(exc)) from None
        try:
            _validate(fetched.path, source)
            same = target.exists() and _sha256_of(target) == fetched.sha256
            if target.exists() and not same and not force:
                raise ModelStoreError(f"a different model named {name!r} is installed; "
                                      "remove it first, pick another --name, or pass --force")
            if not same:
                fetched.path.chmod(0o644)  # the service user reads what an administrator installs
                os.replace(fetched.path, target)
                fsync_dir(self.directory)
        finally:
            fetched.path.unlink(missing_ok=True)
        return self._installed(name, unchanged=same)

    def _installed(self, name: str, unchanged: bool) -> InstalledModel:
        """The model just installed (or found installed), made the default if there is none."""
        if self.default_name() is None or not self.path_of(self.default_name()).exists():
            self.set_default(name)
        return replace(self._describe(name), unchanged=unchanged)

    def remove(self, name: str) -> bool:
        """Delete a model; returns True when it was the default (which is then unset)."""
        path = self.path_of(name)
        try:
            path.unlink()
        except FileNotFoundError:
            raise ModelStoreError(f"no model named {name!r} in {self.directory}") from None
        was_default = self.default_name() == name
        if was_default:
            (self.directory / DEFAULT_FILE).unlink(missing_ok=True)
        return was_default

    def set_default(self, name: str) -> None:
        if not self.path_of(name).is_file():
            raise ModelStoreError(f"no model named {name!r} in {self.directory}; "
                                  "install it first (shadercam model install SOURCE)")
        write_atomically(self.directory / DEFAULT_FILE, (name + "\n").encode(), 0o644)

    def default_path(self) -> Path | None:
        name = self.default_name()
        if name is None:
            return None
        path = self.path_of(name)
        return path if path.is_file() else None

    def _describe(self, name: str) -> InstalledModel:
        path = self.path_of(name)
        return InstalledModel(name, path, path.stat().st_size, _sha256_of(path),
                              self.default_name() == name)

    def _make_directory(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except PermissionError:
            raise ModelStoreError(f"cannot create {self.directory}: permission denied "
                                  "(the system store needs sudo)") from None
        if not os.access(self.directory, os.W_OK):
            raise ModelStoreError(f"cannot write to {self.directory}: permission denied "
                                  "(the system store needs sudo)")


def resolve_model_path(explicit: str | None) -> Path:
    """The model to run: the path given (or an installed model's name), else the store's
    default, else the built-in demo model."""
    if explicit:
        path = Path(explicit)
        if not path.exists() and NAME_PATTERN.fullmatch(explicit):
            installed = ModelStore().directory / f"{explicit}{SUFFIX}"
            if installed.is_file():
                return installed
        return path
    return ModelStore().default_path() or DEMO_MODEL


def describe(model: Model, path: Path) -> dict[str, Any]:
    """A loaded model as the API's `model` object names it (`name`, `path`, `classes`,
    `input_size`, `demo`), so the service and the command line describe it alike."""
    return {"name": model.name, "path": str(path), "classes": model.num_classes,
            "input_size": list(model.input_size), "demo": Path(path).stem == DEMO_MODEL.stem}


def describe_self_test(report: SelfTestReport) -> dict[str, Any]:
    """The GPU self-test's report as the `model` object's `self_test`."""
    return {"ok": report.ok, "seconds": round(report.seconds, 3), "kernels": report.kernels,
            "probe": report.probe}


def check_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name):
        raise ModelStoreError(f"bad model name {name!r}: use letters, digits, '.', '_' or '-' "
                              "(at most 64, not starting with '.', '_' or '-')")
    return name


def _check_sha256(text: str) -> str:
    value = text.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", value):
        raise ModelStoreError(f"--sha256 {text!r}: expected 64 hexadecimal digits")
    return value


def _name_from(source: str) -> str:
    base = source.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]
    stem = base[: -len(SUFFIX)] if base.endswith(SUFFIX) else base
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).lstrip("._-")[:64]
    if not cleaned:
        raise ModelStoreError(f"{source}: cannot derive a model name; pass --name NAME")
    return cleaned


def _validate(path: Path, source: str) -> None:
    """Refuse anything the engine could not load, before it can become the service's model."""
    try:
        load_model(path)
    except ModelError as exc:
        raise ModelStoreError(f"{source}: not a usable model: {exc}") from None


def _sha256_of(path: Path) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            hasher.update(block)
    return hasher.hexdigest()

