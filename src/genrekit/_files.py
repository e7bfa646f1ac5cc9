"""File-writing helpers shared by every stage."""

from __future__ import annotations

import os


def publish_mode(path: str | os.PathLike) -> None:
    """Give a ``tempfile.mkstemp`` file (created 0600) the mode a plain ``open`` would:
    0666 less the umask, so results are readable like any other file the user writes."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)
