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


def test_int8_exactness_is_read_from_the_cpus_flags(tmp_path):
    """The int8 test's bound depends on whether the CPU sums u8 x s8 exactly (VNNI or AMX);
    a machine without /proc/cpuinfo (macOS, Windows) counts as one that does not."""
    from genrekit.export.onnx import cpu_flags, sums_int8_exactly

    def cpuinfo(flags: str):
        path = tmp_path / f"cpuinfo-{len(flags)}"
        path.write_text(f"processor\t: 0\nmodel name\t: test\nflags\t\t: {flags}\n\nprocessor\t: 1\n")
        return path

    assert sums_int8_exactly(cpuinfo("fpu sse avx2 avx512f avx512_vnni"))
    assert sums_int8_exactly(cpuinfo("fpu avx2 avx_vnni"))
    assert sums_int8_exactly(cpuinfo("fpu avx2 amx_bf16 amx_int8"))
    assert not sums_int8_exactly(cpuinfo("fpu sse avx2 fma"))
    assert not sums_int8_exactly(cpuinfo("fpu avx2 avx512_vnni_but_not"))
    assert not sums_int8_exactly(tmp_path / "absent")
    assert cpu_flags(cpuinfo("fpu avx2 fma")) == {"fpu", "avx2", "fma"}
    assert cpu_flags(tmp_path / "absent") == set()
