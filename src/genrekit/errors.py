"""The one exception family of genrekit.

Every message names the file or parameter, what was expected and what was found.
"""

from __future__ import annotations

import numbers
import os


class GenrekitError(Exception):
    """Root of every error genrekit raises on purpose."""


class ParameterError(GenrekitError, ValueError):
    """A parameter has a value genrekit cannot use."""


class OtherKindOption(ParameterError):
    """Training options were set that only another kind of model takes (``lr`` for a classical
    model): ``options`` names them, ``kind`` the kind that takes them, ``model`` the model given,
    ``note`` what else the message says (an old name's new one)."""

    def __init__(self, options: tuple[str, ...], kind: str, model: str, note: str = ""):
        self.options = tuple(options)
        self.kind = kind
        self.model = model
        self.note = note
        super().__init__(f"{', '.join(self.options)}: only for {kind}, and model {model!r} is not one{note}")


class AudioError(GenrekitError):
    """An audio file cannot be used: not audio, corrupt, empty, silent or too short."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class SilentAudio(AudioError):
    """An audio file, or the part of it analysed, is digital silence throughout (no sample
    reaches -100 dBFS): no genre to learn from, and, to a prediction, ``unknown`` (``silent``)."""


class DatasetError(GenrekitError):
    """A dataset, manifest or split cannot be read or is inconsistent."""


class FeatureError(GenrekitError):
    """A feature set is unknown or its extraction failed."""


class TagError(GenrekitError):
    """A song's tags cannot be read or written safely, or a results table of ``genrekit tag``
    cannot be read."""


class TagConflict(TagError):
    """A file's field is not what it was expected to be (it changed since it was read)."""


class ModelError(GenrekitError):
    """A model is unknown, untrained, or a model file is invalid, foreign or tampered with."""


class AnalysisStopped(GenrekitError):
    """An analysis stopped on request (its ``should_stop`` said so) before it was done."""

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        super().__init__(f"{self.path}: analysis stopped before it was done")


def check_flags(**flags) -> None:
    """A ParameterError for a flag that is not True or False (numpy's too): ``music_check="no"``
    is a true string, and read as yes."""
    for name, value in flags.items():
        numpy_bool = type(value).__module__ == "numpy" and type(value).__name__ in ("bool", "bool_")
        if not isinstance(value, bool) and not numpy_bool:  # numpy's, without importing it
            raise ParameterError(f"{name}={value!r:.40}: expected True or False")


def check_whole_number(name: str, value, *, least: int = 1, of: str = "") -> None:
    """A ParameterError unless ``value`` is a whole number (numpy's too; not a bool, whose
    True is 1) of at least ``least``; ``of`` says what it counts (``"shuffles per feature"``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < least:
        raise ParameterError(f"{name}={value!r:.40}: expected a whole number{' of ' + of if of else ''}, "
                             f"at least {least}")


def check_options(options, function, where: str, *, taken_too=(), leaving_out=()) -> None:
    """A ParameterError for a keyword of ``options`` that ``function`` (the callee of ``where``'s
    ``**options``) does not take, named with the closest one it does, as a misspelling is;
    Python's TypeError named the function behind ``where``. ``taken_too``: other keywords
    ``where`` takes; ``leaving_out``: the callee's parameters ``where`` fills itself."""
    import difflib
    import inspect

    taken = {name for name, p in inspect.signature(function).parameters.items()
             if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)} - set(leaving_out) | set(taken_too)
    unknown = sorted(set(options) - taken)
    if unknown:
        close = difflib.get_close_matches(unknown[0], sorted(taken), n=1)
        raise ParameterError(f"{', '.join(unknown)}: not an option of {where}"
                             + (f"; did you mean {close[0]!r}?" if close else "")
                             + f" (it takes {', '.join(sorted(taken))})")
