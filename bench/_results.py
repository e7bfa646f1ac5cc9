"""The result files of the benchmarks: what each records beside its numbers, where it goes,
and the atomic write (through genrekit's own ``write_json``), so every figure in
docs/benchmarks.md traces to a committed file under ``bench/results/``."""

from __future__ import annotations

import json
import os
import platform
import shlex
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SMOKE = ROOT / "bench" / "out" / "smoke"  # never committed: a --limit run's record goes here


def result_path(name: str, *, smoke: bool = False) -> Path:
    """``bench/results/<name>``, or ``bench/out/smoke/<name>`` for a smoke run (so that it
    never overwrites a committed result)."""
    return (SMOKE if smoke else RESULTS) / name


def cpu_model() -> str:
    # platform.processor() is empty on most Linux systems; /proc/cpuinfo names the CPU
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "cpu"


def machine() -> str:
    """Architecture, cores and CPU, as bench/results/tag_throughput/precision.json has them,
    and the cores this process may use where it is pinned to fewer."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    pinned = f" (this run pinned to {usable})" if usable != os.cpu_count() else ""
    return f"{platform.machine()}, {os.cpu_count()} cores{pinned}, {cpu_model()}"


def command() -> str:
    """The command line that ran this script, from the repository root."""
    script = Path(sys.argv[0]).resolve()
    shown = script.relative_to(ROOT) if script.is_relative_to(ROOT) else script
    return shlex.join(["python", str(shown), *sys.argv[1:]])


def shown_path(path: str | os.PathLike) -> str:
    """``path`` as the docs name it: relative to the repository (../shared/data/...)."""
    return os.path.relpath(Path(path).resolve(), ROOT)


def write_result(path: Path, benchmark: str, data: dict, **results) -> dict:
    """Write ``{benchmark, command, date, machine, data, **results}`` to ``path`` atomically
    (temporary file renamed into place) and return it."""
    from genrekit.evaluate.report import write_json

    record = {"benchmark": benchmark, "command": command(), "date": time.strftime("%Y-%m-%d"), "machine": machine(),
              "data": data, **results}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, record)
    print(f"-> {shown_path(path) if path.resolve().is_relative_to(ROOT) else path}")
    return record


def add_result_options(parser, name: str) -> None:
    """``--out`` (the result file, default ``bench/results/<name>``) and ``--table``."""
    parser.add_argument("--out", type=Path, help=f"the result file (default: bench/results/{name})")
    parser.add_argument("--table", action="store_true", help="print the table of the result file; measure nothing")


def printed_table(args, out: Path, markdown) -> bool:
    """With ``--table``, print ``out``'s table; True when printed (the caller then measures nothing)."""
    if args.table:
        print(markdown(read_result(out)))
    return bool(args.table)


def read_result(path: Path) -> dict:
    if not path.exists():
        sys.exit(f"{path}: no result file (run the benchmark first, or give --out)")
    return json.loads(path.read_text())


def header(record: dict) -> str:
    """The line above a table: when, by what and on what it was measured."""
    return f"{record['date']}, `{record['command']}`, {record['machine']}"


def library_of(paths: list[str], folder: Path) -> Path:
    """``paths`` copied into ``folder``, one folder per parent as in gtzan-mini: the library a
    smoke run (``--limit``) tags instead of the whole of gtzan-mini."""
    for path in map(Path, paths):
        (folder / path.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, folder / path.parent.name / path.name)
    return folder
