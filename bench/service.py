"""The genre service under load: 20 concurrent uploads of real clips, latency p50/p95.

Starts `genrekit serve` on 127.0.0.1 with each model, posts every gtzan-mini clip of the
chosen genres from ``--clients`` threads at once (each client one upload at a time, all
starting together), and reports errors and the latency of each request (upload + analysis
+ answer) as the client sees it.

    python bench/service.py                      # ensemble, edge-cnn ONNX int8 (numpy front end)
    python bench/service.py --clients 20 --workers 2

Needs ../shared/data and the test extra (httpx). Models are built by bench/models.py
(networks untrained: weights change neither speed nor memory).

Results: ``bench/results/service.json`` (every model's requests, errors, wall time and
latency p50/p95/max in seconds). About 1 minute; run it on an otherwise idle machine.
``--table`` prints docs/benchmarks.md's table from the result file without measuring.

    python bench/service.py --table
    python bench/service.py --clients 2 --workers 1 --out /tmp/service.json   # smoke
"""

from __future__ import annotations

import argparse
import concurrent.futures
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import add_result_options, header, printed_table, result_path, shown_path, write_result  # noqa: E402
from models import benchmark_models  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "gtzan-mini" / "genres"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(model: Path, clips: list[Path], *, clients: int, workers: int) -> dict:
    import httpx

    port = _free_port()
    server = subprocess.Popen([str(Path(sys.executable).with_name("genrekit")), "serve", str(model), "--port", str(port),
                               "--workers", str(workers), "--queue", str(4 * clients)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        httpx.post(f"{url}/v1/predict", files={"file": (clips[0].name, clips[0].read_bytes())}, timeout=300)  # warm

        def upload(path: Path) -> tuple[int, float]:
            start = time.perf_counter()
            response = httpx.post(f"{url}/v1/predict", files={"file": (path.name, path.read_bytes())}, timeout=300)
            return response.status_code, time.perf_counter() - start

        start = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(clients) as pool:
            results = list(pool.map(upload, clips))
        wall = time.perf_counter() - start
    finally:
        server.terminate()
        server.wait(timeout=30)
    latencies = np.array([seconds for _, seconds in results])
    return {"requests": len(results), "errors": sum(status != 200 for status, _ in results), "wall": wall,
            "p50": float(np.percentile(latencies, 50)), "p95": float(np.percentile(latencies, 95)),
            "max": float(latencies.max())}


def markdown(record: dict) -> str:
    """docs/benchmarks.md's table."""
    lines = [header(record), f"{record['data']['clips']} gtzan-mini clips from {record['clients']} concurrent clients, "
             f"service with {record['workers']} workers", "",
             "| model | requests | errors | wall | p50 | p95 | max |", "|---|---|---|---|---|---|---|"]
    for row in record["rows"]:
        lines.append(f"| {row['model']} | {row['requests']} | {row['errors']} | {row['wall']:.1f} s "
                     f"| {row['p50']:.2f} s | {row['p95']:.2f} s | {row['max']:.2f} s |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--data", type=Path, default=DATA)
    add_result_options(parser, "service.json")
    args = parser.parse_args()
    out = args.out or result_path("service.json")
    if printed_table(args, out, markdown):
        return
    if not args.data.is_dir():
        sys.exit(f"gtzan-mini not found at {args.data}: this benchmark needs ../shared/data (see its README)")
    from genrekit.export import export_onnx

    clips = sorted(p for p in args.data.rglob("*") if p.suffix in (".wav", ".au"))[: args.clients]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        models = benchmark_models(args.data, Path(tmp))
        calibration = sorted(args.data.rglob("*.00002.*"))
        runs = {
            "ensemble (fma518, classical)": models["ensemble"],
            "edge-cnn ONNX int8, numpy front end": export_onnx(models["edge-cnn"], Path(tmp) / "edge.onnx",
                                                               frontend="numpy", int8=True, calibration=calibration),
            "short-chunk-resnet network (PyTorch)": models["short-chunk-resnet"],
        }
        for name, model in runs.items():
            rows.append({"model": name, **run(model, clips, clients=args.clients, workers=args.workers)})
            print(f"{name}: p95 {rows[-1]['p95']:.2f} s, {rows[-1]['errors']} errors", flush=True)
    record = write_result(out, "the genre service under concurrent uploads (issue 6)",
                          {"path": shown_path(args.data), "clips": len(clips), "files": [p.name for p in clips],
                           "int8_calibration": [p.name for p in calibration]},
                          clients=args.clients, workers=args.workers, queue=4 * args.clients, rows=rows)
    print(markdown(record))


if __name__ == "__main__":
    main()
