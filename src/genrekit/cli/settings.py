"""The command line's settings: ``model``, ``min_confidence`` and ``cache``.

Each is taken from the first of: the command-line option, its environment variable
(``GENREKIT_MODEL``, ``GENREKIT_MIN_CONFIDENCE``, ``GENREKIT_CACHE``), the config file, the
default. The config file is ``genrekit.toml`` in the working folder, else
``$XDG_CONFIG_HOME/genrekit/config.toml`` (``~/.config/genrekit/config.toml``); only the
first found is read. A path in it (``model``, ``cache``) is relative to the file's folder.

    model = "runs/library/model.genrekit"
    min_confidence = 0.5
    cache = "~/.cache/genrekit/features"

A bad file or value raises :class:`SettingsError`, naming the file (or variable), the key,
what was expected and what was found; the command line ends with exit status 2.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genrekit.errors import ParameterError

KEYS = ("model", "min_confidence", "cache")
ENV = {"model": "GENREKIT_MODEL", "min_confidence": "GENREKIT_MIN_CONFIDENCE", "cache": "GENREKIT_CACHE"}
LOCAL_FILE = "genrekit.toml"
EXPECTED = {"model": "a model file, run folder, 'default' or 'default-exact' (a non-empty string)",
            "min_confidence": "a number from 0 to 1",
            "cache": "a folder (a non-empty string)"}


class SettingsError(ParameterError):
    """A bad config file, or a bad value in it or in an environment variable."""


@dataclass(frozen=True)
class Setting:
    """A setting's value and where it came from: the option (``--model``), the variable
    (``$GENREKIT_MODEL``), the config file's path, or ``default``."""

    value: Any
    source: str


def config_paths(cwd: str | os.PathLike | None = None, environ: Mapping[str, str] | None = None) -> list[Path]:
    """Where a config file is looked for, in order."""
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_CONFIG_HOME", "")
    if not os.path.isabs(base):  # unset, empty or relative: the XDG spec says to ignore it
        base = str(Path.home() / ".config")
    return [Path(cwd if cwd is not None else os.getcwd()) / LOCAL_FILE, Path(base) / "genrekit" / "config.toml"]


def find_config(cwd: str | os.PathLike | None = None, environ: Mapping[str, str] | None = None) -> Path | None:
    """The config file in use: the first of :func:`config_paths` that exists; None if neither does."""
    return next((path for path in config_paths(cwd, environ) if path.is_file()), None)


def _found(value: Any) -> str:
    kind = {bool: "a boolean", str: "a string", int: "an integer", float: "a number", list: "an array",
            dict: "a table"}.get(type(value), type(value).__name__)
    return f"{value!r} ({kind})"


def _checked(key: str, value: Any, where: str) -> Any:
    """``value`` of ``key`` if it is one; else SettingsError naming ``where``, the key, what was
    expected and what was found."""
    if key == "min_confidence":
        good = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
            and 0 <= value <= 1
        value = float(value) if good else value
    else:  # a path or a name: no NUL, which no path holds (it ended commands in a traceback)
        good = isinstance(value, str) and value.strip() != "" and "\0" not in value
    if not good:
        raise SettingsError(f"{where}: {key}: expected {EXPECTED[key]}, found {_found(value)}")
    return value


def _named(model: str) -> bool:
    """Whether a model setting is a name ('default', 'default-exact') or a URL, not a path."""
    from genrekit.models.interface import NAMED_MODELS  # not at import: the command line starts without numpy

    return model in NAMED_MODELS or "://" in model


def _relative_to(folder: Path, key: str, value: Any) -> Any:
    """A path in a config file, relative to the file's folder (genrekit's model names and URLs as they are)."""
    if key == "min_confidence" or (key == "model" and _named(value)):
        return value
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else folder / path)


def read_config(path: str | os.PathLike) -> dict[str, Any]:
    """The settings of a config file, checked: key -> value (paths made absolute)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))  # a byte-order mark some editors write
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read the config file: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise SettingsError(f"{path}: expected a UTF-8 TOML file, found undecodable bytes ({exc.reason})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: expected a TOML file, found a syntax error: {exc}") from exc
    except RecursionError as exc:  # arrays nested 100,000 deep
        raise SettingsError(f"{path}: expected a TOML file of settings, found values nested too deep to read") from exc
    unknown = [key for key in data if key not in KEYS]
    if unknown:
        raise SettingsError(f"{path}: {unknown[0]}: expected one of the keys {', '.join(KEYS)}, found "
                            f"{unknown[0]!r}")
    return {key: _relative_to(path.parent, key, _checked(key, value, str(path))) for key, value in data.items()}


def _from_env(key: str, text: str) -> Any:
    where = f"${ENV[key]}"
    if key != "min_confidence":  # a path: "~" means home, as in the config file
        value = _checked(key, text, where)
        return value if key == "model" and _named(value) else str(Path(value).expanduser())
    try:
        number = float(text)
    except ValueError:
        raise SettingsError(f"{where}: min_confidence: expected {EXPECTED[key]}, found {text!r}") from None
    return _checked(key, number, where)


class Settings:
    """The settings of one command: the environment and the config file, read when first needed."""

    def __init__(self, environ: Mapping[str, str] | None = None, cwd: str | os.PathLike | None = None):
        self.environ = dict(os.environ if environ is None else environ)
        self.cwd = cwd
        self._file: tuple[Path | None, dict[str, Any]] | None = None

    @property
    def file(self) -> Path | None:
        return self._config()[0]

    def _config(self) -> tuple[Path | None, dict[str, Any]]:
        if self._file is None:
            path = find_config(self.cwd, self.environ)
            self._file = (path, read_config(path) if path is not None else {})
        return self._file

    def get(self, key: str, given: Any = None, *, option: str = "", default: Any = None) -> Setting:
        """``key``'s value: ``given`` (from ``option`` on the command line) unless None, else
        its environment variable (ignored when empty), else the config file's, else ``default``."""
        if given is not None:
            return Setting(given, option or "command line")
        text = self.environ.get(ENV[key], "")
        if text:
            return Setting(_from_env(key, text), f"${ENV[key]}")
        path, values = self._config()
        if key in values:
            return Setting(values[key], str(path))
        return Setting(default, "default")


__all__ = ["ENV", "KEYS", "LOCAL_FILE", "Setting", "Settings", "SettingsError", "config_paths", "find_config",
           "read_config"]
