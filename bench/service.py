"""The genre service under load: 20 concurrent uploads of real clips, latency p50/p95.

Starts `genrekit serve` on 127.0.0.1 with each model, posts every gtzan-mini clip of the
chosen genres from ``--clients`` threads at once (each client one upload at a time, all
starting together), and reports errors and the latency of each request (upload + analysis
+ answer) as the client sees it.

    python bench/service.py                      # ensemble, edge-cnn ONNX int8 (numpy front end)
    python bench/service.py --clients 20 --workers 2

Needs ../shared/data and the test extra (httpx). Models are built by bench/models.py
(networks untrained: weights change neither speed nor memory).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    if not args.data.is_dir():
        sys.exit(f"gtzan-mini not found at {args.data}: this benchmark needs ../shared/data (see its README)")
    from genrekit.export import export_onnx

    clips = sorted(p for p in args.data.rglob("*") if p.suffix in (".wav", ".au"))[: args.clients]
    with tempfile.TemporaryDirectory() as tmp:
        models = benchmark_models(args.data, Path(tmp))
        calibration = sorted(args.data.rglob("*.00002.*"))
        runs = {
            "ensemble (fma518, classical)": models["ensemble"],
            "edge-cnn ONNX int8, numpy front end": export_onnx(models["edge-cnn"], Path(tmp) / "edge.onnx",
                                                               frontend="numpy", int8=True, calibration=calibration),
            "default network (PyTorch)": models["default"],
        }
        print(f"{len(clips)} gtzan-mini clips from {args.clients} concurrent clients, service with {args.workers} workers; "
              f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}")
        print("| model | requests | errors | wall | p50 | p95 | max |\n|---|---|---|---|---|---|---|")
        for name, model in runs.items():
            r = run(model, clips, clients=args.clients, workers=args.workers)
            print(f"| {name} | {r['requests']} | {r['errors']} | {r['wall']:.1f} s | {r['p50']:.2f} s | {r['p95']:.2f} s "
                  f"| {r['max']:.2f} s |", flush=True)


if __name__ == "__main__":
    main()
