"""Keyword arguments that have a new name: the old one still works, with a FutureWarning."""

from __future__ import annotations

import functools
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
        @functools.wraps(function)
        def call(*args, **kwargs):
            for old, new in new_names.items():
                if old not in kwargs:
                    continue
                if new in kwargs:
                    raise ParameterError(f"{function.__qualname__}: give {new}= alone ({old}= is its old name)")
                warnings.warn(f"{function.__qualname__}: {old}= is now called {new}= (scikit-learn's name, as in "
                              f"genrekit's other functions); {old}= will stop working in a later version",
                              FutureWarning, stacklevel=2)
                kwargs[new] = kwargs.pop(old)
            return function(*args, **kwargs)

        return call  # type: ignore[return-value]

    return wrap
