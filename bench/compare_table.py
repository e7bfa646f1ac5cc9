"""Nested cross-validation of every classifier on the published GTZAN feature table.

Data: ../shared/data/gtzan-features/features_30_sec.csv (1000 clips x 57 features).
Protocol: stratified 5-fold CV by track (seed 0). Each model is tuned by randomized
search (N iterations, 3-fold grouped inner CV) inside each outer training fold only; the
outer test fold never informs the search. Untuned runs are reported beside it.

Results: ``bench/results/compare_table.json`` (with ``--models``:
``compare_table-<models>.json``): every row's accuracy and macro F1 (mean, std, each
fold), fit seconds per fold and the parameters the search chose. About 15 minutes for all
models on 2 cores (905 s, 2026-11-24); fit seconds need an otherwise idle machine.
``--table`` prints docs/benchmarks.md's table from the result file without measuring.

    python bench/compare_table.py --n-iter 10
    python bench/compare_table.py --table
    python bench/compare_table.py --models logreg --folds 2 --n-iter 1 --out /tmp/smoke.json   # smoke
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import header, read_result, result_path, shown_path, write_result  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "gtzan-features" / "features_30_sec.csv"
# Too slow to tune here (about 15 s per fit on 2 cores, x 155 fits); reported untuned.
UNTUNED = {"gradient-boosting"}


def markdown(record: dict) -> str:
    """docs/benchmarks.md's table, best mean accuracy first."""
    lines = [header(record), "", "| model | accuracy (mean ± std) | macro F1 | fit s / fold | search |",
             "|---|---|---|---|---|"]
    for row in sorted(record["rows"], key=lambda r: -r["accuracy_mean"]):
        lines.append(f"| {row['model']} | {row['accuracy_mean']:.3f} ± {row['accuracy_std']:.3f} | "
                     f"{row['f1_macro_mean']:.3f} | {row['fit_seconds']:.2f} | "
                     f"{'nested' if row['search'] else 'none'} |")
    best = max(record["rows"], key=lambda r: r["accuracy_mean"])
    lines.append(f"\nbest: {best['model']} {best['accuracy_mean']:.3f}; {record['seconds']} s in all")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA, help="the feature table (CSV)")
    parser.add_argument("--n-iter", type=int, default=10)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--models", default="all", help="comma-separated model names (default: all)")
    parser.add_argument("--out", type=Path,
                        help="the result file (default: bench/results/compare_table[-<models>].json)")
    parser.add_argument("--table", action="store_true", help="print the table of the result file; measure nothing")
    args = parser.parse_args()
    out = args.out or result_path("compare_table.json" if args.models == "all"
                                  else f"compare_table-{args.models.replace(',', '+')}.json")
    if args.table:
        print(markdown(read_result(out)))
        return 0
    if not args.data.exists():
        print(f"skipped: {args.data} not found (expected ../shared/data beside the repository)")
        return 0
    from genrekit.datasets import read_feature_table
    from genrekit.evaluate import compare_models
    from genrekit.models import MODELS

    table = read_feature_table(args.data)
    started = time.time()
    rows = []
    # "all": the models for handcrafted features (musicnn-head is for the musicnn features)
    names = [n for n in MODELS if not MODELS[n].features] if args.models == "all" else args.models.split(",")
    for name in names:
        search = name not in UNTUNED
        for row in compare_models(table, [name], n_splits=args.folds, seed=0, search=search, n_iter=args.n_iter):
            rows.append(row)
            print(f"{name:18s} {'nested' if search else 'untuned':8s} {row['accuracy_mean']:.3f} ± "
                  f"{row['accuracy_std']:.3f}  F1 {row['f1_macro_mean']:.3f}  fit {row['fit_seconds']:.1f} s/fold",
                  flush=True)
        untuned = compare_models(table, [name], n_splits=args.folds, seed=0, search=False)[0]
        untuned["model"] = f"{name} (untuned)"
        if search:
            rows.append(untuned)
    record = write_result(
        out, "classifiers on the published GTZAN feature table, nested CV",
        {"path": shown_path(args.data), "rows": len(table.y), "features": table.X.shape[1],
         "genres": len(table.labels)},
        protocol={"folds": args.folds, "seed": 0, "n_iter": args.n_iter, "inner_folds": 3,
                  "untuned_only": sorted(UNTUNED & set(names))},
        python=sys.version.split()[0], seconds=round(time.time() - started), rows=rows)
    print(markdown(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
