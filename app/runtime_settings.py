"""Settings changed from the page while the service runs (threshold, smoothing).

They live in `settings.json` in the service's state directory, never in the administrator's
config file: on start they override the config's values, so a restart keeps what was chosen.
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from app.config import ConfigError, check_value
from app.models.store import store_dir

log = logging.getLogger(__name__)

FILE_NAME = "settings.json"
KEYS = {"threshold": "model.threshold", "smoothing": "model.smoothing"}  # -> config key


def state_dir(env: Mapping[str, str] | None = None) -> Path:
    """`$STATE_DIRECTORY` (systemd's StateDirectory=), else the folder holding the model store."""
    env = os.environ if env is None else env
    if env.get("STATE_DIRECTORY"):
        return Path(env["STATE_DIRECTORY"].split(":")[0])
    return store_dir(env).parent


class SettingsFile:
    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / FILE_NAME

    def load(self) -> dict[str, Any]:
        """The stored settings, each held to its config key's type and range; an unreadable
        file or a bad value is logged and the whole file ignored (config values stay)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError("expected a JSON object")
            return {key: check_value(dotted, data[key], str(self.path))
                    for key, dotted in KEYS.items() if key in data}
        except FileNotFoundError:
            return {}
        except ConfigError as exc:
            log.warning("ignoring %s", exc)
            return {}
        except (OSError, ValueError) as exc:
            log.warning("ignoring %s: %s", self.path, exc)
            return {}

    def save(self, settings: Mapping[str, Any]) -> None:
        """Write atomically: a crash leaves the old file or the new one."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".settings-")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump({key: settings[key] for key in KEYS}, out)
            os.replace(temporary, self.path)
        except BaseException:
            os.unlink(temporary)
            raise
