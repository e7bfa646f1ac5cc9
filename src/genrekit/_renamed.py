"""Keyword arguments that have a new name: the old one still works, with a FutureWarning."""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable
from typing import TypeVar

from genrekit.errors import ParameterError

F = TypeVar("F", bound=Callable)


def renamed_keywords(**new_names: str) -> Callable[[F], F]:
    """Let a function (or a class's ``__init__``) take each keyword by its old name too.

    The old name is passed on as the new one, with a FutureWarning that names both (code
    written against an earlier genrekit keeps working, and says what to change). Giving
    both is refused.

    Parameters
    ----------
    **new_names : str
        Old keyword name -> its new name (``jobs="n_jobs"``).

    Examples
    --------
    >>> @renamed_keywords(jobs="n_jobs")
    ... def run(*, n_jobs=1):
    ...     return n_jobs
    """

    def wrap(function: F) -> F:
        signature = inspect.signature(function)

        @functools.wraps(function)
        def call(*args, **kwargs):
            for old, new in new_names.items():
                if old not in kwargs:
                    continue
                if new in kwargs or new in signature.bind_partial(*args).arguments:  # by name, or by position
                    raise ParameterError(f"{function.__qualname__}: give {new}= alone ({old}= is its old name)")
                warnings.warn(f"{function.__qualname__}: {old}= is now called {new}= (scikit-learn's name, as in "
                              f"genrekit's other functions); {old}= will stop working in a later version",
                              FutureWarning, stacklevel=2)
                kwargs[new] = kwargs.pop(old)
            return function(*args, **kwargs)

        return call  # type: ignore[return-value]

    return wrap


def renamed_attribute(old: str, new: str) -> property:
    """A read-only attribute ``old`` that gives ``new``'s value, with a FutureWarning naming both."""

    def get(self):
        warnings.warn(f"{type(self).__name__}.{old} is now called {new}; {old} will stop working in a later version",
                      FutureWarning, stacklevel=2)
        return getattr(self, new)

    return property(get, doc=f"The old name of ``{new}``.")
