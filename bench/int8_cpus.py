"""Issue 20: the default model's int8 export on the CPU at hand, against fp32.

The int8 file (musicnn's timbral filters as QOperator u8s8) runs through onnxruntime's integer
GEMM. With VNNI or AMX that product is exact; on a CPU with AVX2 alone the u8 x s8 pairs are
summed in saturating 16-bit steps, so probabilities move further. This script records which
integer instructions the CPU has and, on every gtzan-mini clip, the same top genre and the
largest probability difference against the fp32 default, for the shipped scheme (8-bit
weights) and for 7-bit weights (onnxruntime's ``reduce_range``, which leaves room against the
saturation). Calibration: every 40th gtzan-dev clip, 30 windows, as the test does.

    python bench/int8_cpus.py            # -> bench/results/tag_throughput/int8-<kind>.json
    python bench/int8_cpus.py --table    # print the recorded table
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from _results import ROOT, add_result_options, header, printed_table, read_result, result_path, write_result

DATA = ROOT.parent / "shared" / "data"
INTEGER_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")


def measure(reduce_range: bool, clips: list[Path], calibration: list[Path], reference) -> dict:
    import onnxruntime.quantization as quantization

    from genrekit.export import export_onnx
    from genrekit.models import load
    from genrekit.predict import predict_files

    original = quantization.quantize_static

    def quantize(*args, **kwargs):  # the export's own call, with 7-bit weights where asked
        return original(*args, **kwargs, **({"reduce_range": True} if reduce_range else {}))

    quantization.quantize_static = quantize
    try:
        with tempfile.TemporaryDirectory() as folder:
            int8 = export_onnx("default", Path(folder) / "default-int8.onnx", int8=True, calibration=calibration,
                               max_calibration_windows=30)
            got, failures = predict_files(load(int8), clips, progress=False)
    finally:
        quantization.quantize_static = original
    assert not failures, failures
    top = lambda p: max(p.probabilities, key=p.probabilities.get)  # noqa: E731
    diffs = [max(abs(r.probabilities[g] - o.probabilities[g]) for g in r.probabilities) for r, o in zip(reference, got)]
    return {"weights": "7-bit (reduce_range)" if reduce_range else "8-bit (as shipped)",
            "same_top_genre": f"{sum(top(r) == top(o) for r, o in zip(reference, got))}/{len(got)}",
            "max_probability_difference": max(diffs), "mean_max_difference": sum(diffs) / len(diffs)}


def markdown(record: dict) -> str:
    lines = [header(record), f"CPU integer instructions: {', '.join(record['cpu_flags']) or 'none found'}", "",
             "| int8 weights | same top genre (gtzan-mini) | max prob. diff | mean per-clip max diff |",
             "|---|---|---|---|"]
    lines += [f"| {r['weights']} | {r['same_top_genre']} | {r['max_probability_difference']:.3f} | "
              f"{r['mean_max_difference']:.3f} |" for r in record["rows"]]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    from genrekit.export.onnx import cpu_flags, sums_int8_exactly

    flags = [flag for flag in INTEGER_FLAGS if flag in cpu_flags()]
    kind = "vnni" if sums_int8_exactly() else "avx2" if "avx2" in flags else "other"
    add_result_options(parser, f"tag_throughput/int8-{kind}.json")
    args = parser.parse_args()
    out = args.out or result_path(f"tag_throughput/int8-{kind}.json")
    if printed_table(args, out, markdown):
        return
    if not (DATA / "gtzan-mini").is_dir() or not (DATA / "gtzan-dev").is_dir():
        sys.exit(f"{DATA}: gtzan-mini and gtzan-dev are needed (see ../shared/data/README.md)")
    from genrekit.models import load
    from genrekit.predict import predict_files

    clips = sorted((DATA / "gtzan-mini" / "genres").glob("*/*"))
    calibration = sorted((DATA / "gtzan-dev" / "genres").glob("*/*"))[::40]
    reference, _ = predict_files(load("default"), clips, progress=False)
    rows = [measure(reduce_range, clips, calibration, reference) for reduce_range in (False, True)]
    write_result(out, "the int8 default against fp32 on this CPU (issue 20)",
                 {"clips": f"gtzan-mini, {len(clips)}", "calibration": f"every 40th gtzan-dev clip ({len(calibration)}), "
                  "30 windows"}, cpu_flags=flags, rows=rows)
    print(markdown(read_result(out)))


if __name__ == "__main__":
    main()
