"""Settings changed on the settings page while the service runs, and where the service keeps its
state.

`RUNTIME_KEYS` is the one table of what may be changed at run time: each entry names the
config key (app.config.KEYS) whose type and range it is held to. The chosen values live in
`settings.json` in the state directory, never in the administrator's config file: on start
they override the config's values, so a restart keeps what was chosen. Threshold and smoothing
are kept per model (a threshold tuned for one model means nothing for another), under the
model file's name; the others apply to whatever model runs.
"""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.atomic import write_atomically
from app.config import ConfigError, check_value, value_problem
from app.models.store import STORE_ENV, SYSTEM_STATE

log = logging.getLogger(__name__)

FILE_NAME = "settings.json"
STATE_DIR_ENV = "SHADERCAM_SERVICE_STATE_DIR"  # service.state_dir's variable


@dataclass(frozen=True)
class RuntimeKey:
    name: str  # as the API and settings.json call it
    config: str  # the config key it overrides, whose type and range it has
    per_model: bool
    label: str  # on the settings page
    description: str


RUNTIME_KEYS: tuple[RuntimeKey, ...] = (
    RuntimeKey("top_k", "model.top_k", False, "Classes listed",
               "how many of the best classes each result lists"),
    RuntimeKey("threshold", "model.threshold", True, "Uncertain below",
               "below this probability a result is 'uncertain' (this model only)"),
    RuntimeKey("smoothing", "model.smoothing", True, "Smoothing",
               "average over this many frames (this model only)"),
    RuntimeKey("event_labels", "events.labels", False, "Watched classes",
               "classes whose sightings become events; [\"*\"]: every class"),
    RuntimeKey("event_threshold", "events.threshold", False, "Event threshold",
               "probability a watched class needs to count as seen"),
    RuntimeKey("event_thresholds", "events.thresholds", False, "Per-class thresholds",
               "per class, instead of event_threshold, e.g. {\"cat\": 0.8}"),
    RuntimeKey("camera_fps", "camera.fps", False, "Camera frame rate",
               "frames a second asked of the camera"),
)
BY_NAME = {key.name: key for key in RUNTIME_KEYS}


class SettingsProblem(ValueError):
    """Values that are not settings: `problems` maps each key to what is wrong with it."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{name}: {problem}" if name else problem
                                   for name, problem in problems.items()))
        self.problems = dict(problems)


def checked(change: Any) -> dict[str, Any]:
    """`change` with each value as its config key's type; raises SettingsProblem naming every
    unknown key and every value of the wrong type or out of its range (a problem of the whole
    change is named by the empty key)."""
    if not isinstance(change, Mapping) or not change:
        raise SettingsProblem({"": "expected a JSON object with at least one setting: "
                                   + ", ".join(BY_NAME)})
    values, problems = {}, {}
    for name, raw in change.items():
        key = BY_NAME.get(name)
        if key is None:
            problems[name] = f"unknown setting; known: {', '.join(BY_NAME)}"
            continue
        value, problem = value_problem(key.config, raw)
        if problem is None:
            values[name] = list(value) if isinstance(value, tuple) else value
        else:
            problems[name] = problem
    if problems:
        raise SettingsProblem(problems)
    return values


def state_dir(env: Mapping[str, str] | None = None, configured: str = "") -> Path:
    """`$STATE_DIRECTORY` (systemd's StateDirectory=), else `configured` (service.state_dir
    from the config) or its variable SHADERCAM_SERVICE_STATE_DIR (for commands that read no
    config file), else /var/lib/shadercam when the system install made it, else
    $XDG_DATA_HOME/shadercam. The model store (SHADERCAM_MODEL_STORE) may be elsewhere:
    moving it moves no history."""
    env = os.environ if env is None else env
    if env.get("STATE_DIRECTORY"):
        return Path(env["STATE_DIRECTORY"].split(":")[0])
    configured = configured or env.get(STATE_DIR_ENV, "")
    if configured:
        return Path(configured)
    if SYSTEM_STATE.is_dir():
        return SYSTEM_STATE
    data_home = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "shadercam"


def left_behind(state: Path, env: Mapping[str, str] | None = None) -> list[str]:
    """Older versions kept the state beside the model store, so SHADERCAM_MODEL_STORE moved it
    too. State found there, when the state directory is elsewhere now, is named at start
    (nothing is moved: that is the administrator's choice)."""
    env = os.environ if env is None else env
    if not env.get(STORE_ENV) or env.get("STATE_DIRECTORY"):
        return []
    old = Path(env[STORE_ENV]).parent
    if old.resolve() == Path(state).resolve():
        return []
    found = [name for name in (FILE_NAME, "events", "taught") if (old / name).exists()]
    if not found:
        return []
    return [f"{old} beside the model store holds {', '.join(found)} of an older version, but "
            f"the state directory is {state} now; set service.state_dir = \"{old}\" to keep "
            "using them, or move them there"]


class SettingsFile:
    """settings.json: {"top_k": 3, ..., "models": {"<model>": {"threshold": 0.4, ...}}}."""

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / FILE_NAME

    def load(self) -> dict[str, Any]:
        """The stored settings, each held to its config key's type and range; an unreadable
        file or a bad value is logged and the whole file ignored (config values stay)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError("expected a JSON object")
            stored = {key.name: self._check(key, data[key.name]) for key in RUNTIME_KEYS
                      if not key.per_model and key.name in data}
            models = data.get("models", {})
            if not isinstance(models, dict) or not all(isinstance(v, dict)
                                                       for v in models.values()):
                raise ValueError("models: expected an object of objects")
            stored["models"] = {
                model: {key.name: self._check(key, values[key.name]) for key in RUNTIME_KEYS
                        if key.per_model and key.name in values}
                for model, values in models.items()}
        except FileNotFoundError:
            return {"models": {}}
        except ConfigError as exc:
            log.warning("ignoring %s", exc)
            return {"models": {}}
        except (OSError, ValueError) as exc:
            log.warning("ignoring %s: %s", self.path, exc)
            return {"models": {}}
        unassigned = [key.name for key in RUNTIME_KEYS if key.per_model and key.name in data]
        if unassigned:
            log.warning("ignoring %s in %s: they are kept per model now (under \"models\"); "
                        "set them again on the settings page", ", ".join(unassigned), self.path)
        return stored

    def _check(self, key: RuntimeKey, raw: Any) -> Any:
        value = check_value(key.config, raw, f"{self.path}: {key.name}")
        return list(value) if isinstance(value, tuple) else value

    def save(self, settings: Mapping[str, Any]) -> None:
        """Write atomically: a crash leaves the old file or the new one."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(self.path, json.dumps(settings, indent=1, sort_keys=True).encode())
