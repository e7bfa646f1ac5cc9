"""What must hold on every operating system (issue 21), checked on this one."""

from __future__ import annotations

import pytest

from genrekit.errors import GenrekitError
from genrekit.runners import LocalRunner, start_method


def _squarer(offset: int):
    return lambda x: x * x + offset


def test_the_spawn_start_method_runs_a_pool_like_forkserver():
    """Windows has no forkserver: the pool then spawns its workers. Forced here, the results
    are those of one process."""
    items = list(range(7))
    expected = dict(LocalRunner(1).map(_squarer, (3,), items))
    spawned = dict(LocalRunner(2, method="spawn").map(_squarer, (3,), items))
    assert spawned == expected == {i: i * i + 3 for i in items}
    assert start_method() == "forkserver"  # Linux keeps the fast start
    with pytest.raises(GenrekitError, match="method='vfork'"):
        LocalRunner(2, method="vfork")
