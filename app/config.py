"""Service configuration: one TOML file, overridden by environment variables, then by flags.

Every key lives in a table of `KEYS`, which gives its type, default, range and the
environment variable that overrides it, so validation errors always name the key and where
the bad value came from (file, variable or flag).
"""
from __future__ import annotations

import difflib
import math
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ENV_PREFIX = "SHADERCAM_"
CONFIG_ENV = "SHADERCAM_CONFIG"  # path of the config file when --config is not given
# SHADERCAM_* variables that are not config keys but are read elsewhere
OTHER_ENV = {CONFIG_ENV, "SHADERCAM_MODEL_STORE", "SHADERCAM_PYTHON", "SHADERCAM_VENV"}


class ConfigError(ValueError):
    """A configuration value is missing, unknown or out of range; the message names the key."""


@dataclass(frozen=True)
class Key:
    """One configuration key: `section.name` in TOML, SHADERCAM_SECTION_NAME in the environment."""

    section: str
    name: str
    kind: type
    default: Any
    check: Callable[[Any], str | None] = lambda value: None  # returns a complaint or None
    secret: bool = False  # never echoed in error messages

    @property
    def dotted(self) -> str:
        return f"{self.section}.{self.name}"

    @property
    def env(self) -> str:
        return f"{ENV_PREFIX}{self.section}_{self.name}".upper()


@dataclass(frozen=True)
class _Between:
    """A range check that also says its bounds (the settings page and the API's schema show
    them, so they are written once, here)."""

    low: float
    high: float

    def __call__(self, value: Any) -> str | None:
        if self.low <= value <= self.high:
            return None
        return f"must be between {self.low:g} and {self.high:g}"


def _one_of(*choices: str) -> Callable[[Any], str | None]:
    return lambda v: None if v in choices else f"must be one of {', '.join(choices)}"


def _each_between(low: float, high: float) -> Callable[[Any], str | None]:
    inside = _Between(low, high)
    return lambda v: next((f"{name}: {inside(x)}" for name, x in v.items() if inside(x)), None)


def _urls_check(value: tuple[str, ...]) -> str | None:
    bad = [url for url in value if not url.startswith(("http://", "https://"))]
    return f"must be http:// or https:// URLs, not {bad[0]!r}" if bad else None


def _source_check(value: str) -> str | None:
    if value in ("demo", "picamera2") or (value.startswith("files:") and len(value) > 6):
        return None
    return "must be demo, picamera2 or files:PATH (a folder of images, an image or a video file)"


def _token_check(value: str) -> str | None:
    if value == "" or (len(value) >= 16 and value.isascii() and value.isprintable()
                       and " " not in value):
        return None
    return "must be empty (no token) or at least 16 printable ASCII characters without spaces"


KEYS: tuple[Key, ...] = (
    Key("server", "host", str, "127.0.0.1", lambda v: None if v else "must not be empty"),
    Key("server", "port", int, 8080, _Between(1, 65535)),
    Key("server", "log_level", str, "info", _one_of("debug", "info", "warning", "error")),
    Key("server", "token", str, "", _token_check, secret=True),
    Key("server", "hosts", str, ""),
    Key("server", "max_upload_mb", float, 8.0, _Between(0.1, 100)),
    Key("server", "upload_max_megapixels", float, 16.0, _Between(0.1, 200)),
    Key("server", "uploads_per_minute", int, 30, _Between(1, 6000)),
    Key("server", "max_stream_clients", int, 8, _Between(1, 1000)),
    Key("server", "max_websocket_clients", int, 32, _Between(1, 1000)),
    Key("server", "client_timeout_s", float, 10.0, _Between(0.5, 600)),
    Key("server", "max_connections", int, 512, _Between(8, 1_000_000)),
    Key("server", "max_connections_per_address", int, 64, _Between(1, 1_000_000)),
    Key("server", "head_timeout_s", float, 10.0, _Between(0.5, 600)),
    Key("server", "min_body_rate", float, 1024.0, _Between(1, 1e9)),
    Key("camera", "source", str, "demo", _source_check),
    Key("camera", "fps", float, 10.0, _Between(0.1, 120)),
    Key("camera", "width", int, 640, _Between(16, 4096)),
    Key("camera", "height", int, 480, _Between(16, 4096)),
    Key("camera", "inference_width", int, 384, _Between(16, 4096)),
    Key("camera", "inference_height", int, 288, _Between(16, 4096)),
    Key("camera", "buffer_count", int, 3, _Between(2, 8)),
    Key("camera", "jpeg_quality", int, 80, _Between(1, 100)),
    Key("camera", "retry_min_s", float, 0.5, _Between(0.01, 3600)),
    Key("camera", "retry_max_s", float, 30.0, _Between(0.01, 3600)),
    Key("model", "path", str, ""),
    Key("model", "top_k", int, 5, _Between(1, 1000)),
    Key("model", "smoothing", int, 1, _Between(1, 100)),
    Key("model", "threshold", float, 0.5, _Between(0.0, 1.0)),
    Key("model", "self_test", str, "on", _one_of("on", "off")),
    Key("model", "software_gl", str, "auto", _one_of("auto", "allow", "refuse")),
    Key("model", "fold_weights", str, "auto", _one_of("auto", "on", "off")),
    # where settings.json, the event history and the taught classifiers live; empty: see
    # app.runtime_settings.state_dir (systemd's $STATE_DIRECTORY wins over it)
    Key("service", "state_dir", str, ""),
    Key("events", "enabled", bool, True),
    Key("events", "labels", tuple, ("*",)),
    Key("events", "threshold", float, 0.6, _Between(0.0, 1.0)),
    Key("events", "thresholds", dict, {}, _each_between(0.0, 1.0)),
    Key("events", "start_frames", int, 3, _Between(1, 1000)),
    Key("events", "end_s", float, 2.0, _Between(0.0, 3600)),
    Key("events", "cooldown_s", float, 10.0, _Between(0.0, 86400)),
    Key("events", "dir", str, ""),
    Key("events", "max_count", int, 500, _Between(1, 1_000_000)),
    Key("events", "max_mb", float, 100.0, _Between(0.01, 1_000_000)),
    Key("events", "max_age_days", float, 30.0, _Between(0.0, 36500)),
    Key("mqtt", "host", str, ""),
    Key("mqtt", "port", int, 1883, _Between(1, 65535)),
    Key("mqtt", "username", str, ""),
    Key("mqtt", "password", str, ""),
    Key("mqtt", "topic_prefix", str, ""),
    Key("mqtt", "discovery", bool, True),
    Key("mqtt", "discovery_prefix", str, "homeassistant",
        lambda v: None if v else "must not be empty"),
    Key("mqtt", "prediction_interval_s", float, 1.0, _Between(0.0, 3600)),
    Key("mqtt", "stats_interval_s", float, 60.0, _Between(1.0, 86400)),
    Key("mqtt", "queue", int, 100, _Between(1, 10000)),
    # the page's address Home Assistant links to; empty: made from server.host and server.port
    Key("mqtt", "page_url", str, "", lambda v: _urls_check((v,)) if v else None),
    Key("teach", "active", tuple, ("*",)),
    Key("teach", "interval_s", float, 1.0, _Between(0.0, 3600)),
    Key("teach", "agree", int, 3, _Between(1, 100)),
    Key("webhooks", "urls", tuple, (), _urls_check),
    Key("webhooks", "timeout_s", float, 5.0, _Between(0.1, 300)),
    Key("webhooks", "retries", int, 3, _Between(0, 100)),
    Key("webhooks", "backoff_s", float, 1.0, _Between(0.0, 3600)),
    Key("webhooks", "snapshot", bool, False),
    Key("webhooks", "queue", int, 32, _Between(1, 10000)),
)
_BY_DOTTED = {key.dotted: key for key in KEYS}
# Keys that older versions read: a file or variable that still sets one fails with the reason,
# rather than being told "unknown key" or having the setting silently ignored.
REMOVED_KEYS: dict[str, str] = {
    "model.gl_api": "ShaderCam always uses OpenGL ES 2.0 (what a Pi's GPU offers)",
}


def _removed_env(dotted: str) -> str:
    return f"{ENV_PREFIX}{dotted.replace('.', '_')}".upper()


def _removed(dotted: str, where: str) -> ConfigError:
    return ConfigError(f"{dotted} ({where}): this key was removed: {REMOVED_KEYS[dotted]}; "
                       "delete it")


def default(dotted: str) -> Any:
    """A key's default, for the parts that are also made without a configuration (tests, tools),
    so that every default is written once, in KEYS."""
    return _BY_DOTTED[dotted].default


@dataclass(frozen=True)
class Config:
    """Validated settings, read as `config.get("camera.fps")` or `config.camera_fps`."""

    values: Mapping[str, Any]
    origins: Mapping[str, str] = field(default_factory=dict)  # dotted key -> where it came from

    def get(self, dotted: str) -> Any:
        return self.values[dotted]

    def section(self, name: str) -> SimpleNamespace:
        """One table's values by their short names (`section("mqtt").port`), for a part that
        takes a whole table."""
        prefix = f"{name}."
        values = {dotted[len(prefix):]: value for dotted, value in self.values.items()
                  if dotted.startswith(prefix)}
        if not values:
            raise KeyError(f"no configuration table [{name}]")
        return SimpleNamespace(**values)

    def __getattr__(self, name: str) -> Any:
        section, _, key = name.partition("_")
        try:
            return self.values[f"{section}.{key}"]
        except KeyError:
            raise AttributeError(name) from None


_KIND_NAMES = {tuple: "a list of strings", dict: "a table of numbers", bool: "true or false"}


def _coerce(key: Key, raw: Any, origin: str, text: bool = False) -> Any:
    """Turn a TOML value (or, with `text`, an environment string) into the key's type."""
    where = f"{key.dotted} (from {origin})"
    value: Any
    try:
        if isinstance(raw, str) and key.kind is not str and not text:
            raise TypeError
        if key.kind is str:
            if not isinstance(raw, str):
                raise TypeError
            value = raw
        elif key.kind is int:
            if isinstance(raw, bool) or isinstance(raw, float):
                raise TypeError
            value = int(raw)
        elif key.kind is float:
            if isinstance(raw, bool):
                raise TypeError
            value = float(raw)
            if not math.isfinite(value):
                raise ValueError
        elif key.kind is bool:
            value = _boolean(raw, text)
        elif key.kind is tuple:  # of strings; a comma-separated list in the environment
            items = [x.strip() for x in raw.split(",") if x.strip()] if text else raw
            if not isinstance(items, list) or not all(isinstance(x, str) for x in items):
                raise TypeError
            value = tuple(items)
        elif key.kind is dict:  # name -> number; "name=0.8,other=0.5" in the environment
            value = _number_table(raw, text)
        else:  # pragma: no cover - every key uses one of the kinds above
            raise TypeError
    except (TypeError, ValueError):
        kind = _KIND_NAMES.get(key.kind, key.kind.__name__)
        shown = "a secret value" if key.secret else repr(raw)
        raise ConfigError(f"{where}: expected {kind}, got {shown}") from None
    complaint = key.check(value)
    if complaint:
        raise ConfigError(f"{where}: {complaint}" + ("" if key.secret else f", got {value!r}"))
    return value


def _boolean(raw: Any, text: bool) -> bool:
    if isinstance(raw, bool):
        return raw
    if text and raw.strip().lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
        return raw.strip().lower() in ("true", "1", "yes", "on")
    raise TypeError


def _number_table(raw: Any, text: bool) -> dict[str, float]:
    if text:
        pairs = [item.partition("=") for item in raw.split(",") if item.strip()]
        if any(not sep for _, sep, _ in pairs):
            raise ValueError
        raw = {name.strip(): float(number) for name, _, number in pairs}
    if not isinstance(raw, dict):
        raise TypeError
    table = {}
    for name, number in raw.items():
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise TypeError
        table[name] = float(number)
    return table


def _read_file(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    flat: dict[str, Any] = {}
    for section, table in data.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{section} (in {path}): expected a [{section}] table, "
                              f"got {table!r}")
        for name, value in table.items():
            dotted = f"{section}.{name}"
            if dotted in REMOVED_KEYS:
                raise _removed(dotted, f"in {path}")
            if dotted not in _BY_DOTTED:
                raise ConfigError(f"{dotted} (in {path}): unknown key; known keys: "
                                  f"{', '.join(sorted(_BY_DOTTED))}")
            flat[dotted] = value
    return flat


def load_config(path: str | os.PathLike[str] | None = None,
                env: Mapping[str, str] | None = None,
                overrides: Mapping[str, Any] | None = None) -> Config:
    """Defaults < file < environment < overrides (command-line flags; None means not given)."""
    env = os.environ if env is None else env
    values = {key.dotted: key.default for key in KEYS}
    origins = {key.dotted: "default" for key in KEYS}
    file_path = path if path is not None else env.get(CONFIG_ENV) or None
    if file_path is not None:
        for dotted, raw in _read_file(Path(file_path)).items():
            values[dotted] = _coerce(_BY_DOTTED[dotted], raw, str(file_path))
            origins[dotted] = str(file_path)
    for dotted in REMOVED_KEYS:
        if _removed_env(dotted) in env:
            raise _removed(dotted, f"from {_removed_env(dotted)}")
    for key in KEYS:
        if key.env in env:
            values[key.dotted] = _coerce(key, env[key.env], key.env, text=True)
            origins[key.dotted] = key.env
    for dotted, raw in (overrides or {}).items():
        if raw is None:
            continue
        if dotted not in _BY_DOTTED:
            raise ConfigError(f"{dotted}: unknown key")
        values[dotted] = _coerce(_BY_DOTTED[dotted], raw, "command line")
        origins[dotted] = "command line"
    if values["camera.retry_max_s"] < values["camera.retry_min_s"]:
        raise ConfigError("camera.retry_max_s: must not be smaller than camera.retry_min_s")
    return Config(values, origins)


def check_value(dotted: str, raw: Any, origin: str) -> Any:
    """`raw` as key `dotted`'s value, held to the same type and range as in a config file
    (for values kept elsewhere, such as the page's settings); raises ConfigError."""
    return _coerce(_BY_DOTTED[dotted], raw, origin)


def value_problem(dotted: str, raw: Any) -> tuple[Any, str | None]:
    """(the value as key `dotted`'s type, None) or (None, what is wrong with it, without the
    key's name), for callers that name the value their own way (the settings API)."""
    try:
        return _coerce(_BY_DOTTED[dotted], raw, ""), None
    except ConfigError as exc:
        return None, str(exc).split(": ", 1)[1]


def bounds(dotted: str) -> tuple[float, float] | None:
    """The key's range (low, high), when it has one."""
    check = _BY_DOTTED[dotted].check
    return (check.low, check.high) if isinstance(check, _Between) else None


def kind_of(dotted: str) -> type:
    return _BY_DOTTED[dotted].kind


def unknown_env(env: Mapping[str, str] | None = None) -> list[str]:
    """One warning per SHADERCAM_* variable that no setting reads (a typo is otherwise silently
    ignored), naming the closest known variable."""
    env = os.environ if env is None else env
    known = {key.env for key in KEYS} | OTHER_ENV | set(map(_removed_env, REMOVED_KEYS))
    warnings = []
    for name in sorted(env):
        if name.startswith(ENV_PREFIX) and name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]}?" if close else \
                f"; known: {', '.join(sorted(known))}"
            warnings.append(f"{name} is not a setting and is ignored{hint}")
    return warnings
