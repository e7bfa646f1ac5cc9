"""Names a package gives on first use (PEP 562), so that importing it loads no heavy library."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_attributes(package: str, api: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports each name of ``api`` from its module when first asked for.

    Parameters
    ----------
    package : str
        The module's name, for the AttributeError of a name it does not have.
    api : mapping
        Name -> the module that defines it.

    Returns
    -------
    callable
        ``__getattr__(name)``, to assign at the module's top level.
    """

    def __getattr__(name: str) -> Any:
        if name in api:
            return getattr(importlib.import_module(api[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__


def lazy_dir(module_globals: Mapping[str, Any], api: Mapping[str, Any]) -> Callable[[], list[str]]:
    """A module ``__dir__`` that lists the names of ``api`` too (tab completion, ``help``),
    though they are not loaded yet."""

    def __dir__() -> list[str]:
        return sorted({*module_globals, *api})

    return __dir__
