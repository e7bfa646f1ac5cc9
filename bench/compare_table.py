"""Nested cross-validation of every classifier on the published GTZAN feature table.

Data: ../shared/data/gtzan-features/features_30_sec.csv (1000 clips x 57 features).
Protocol: stratified 5-fold CV by track (seed 0). Each model is tuned by randomized
search (N iterations, 3-fold grouped inner CV) inside each outer training fold only; the
outer test fold never informs the search. Untuned runs are reported beside it.

    python bench/compare_table.py [--n-iter 10] [--out bench/out/compare_table]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

from genrekit.datasets import read_feature_table
from genrekit.evaluate import compare_models
from genrekit.evaluate.report import comparison_markdown
from genrekit.models import MODELS

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "gtzan-features" / "features_30_sec.csv"
# Too slow to tune here (about 15 s per fit on 2 cores, x 155 fits); reported untuned.
UNTUNED = {"gradient-boosting"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", type=Path, default=DATA)
    parser.add_argument("--n-iter", type=int, default=10)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--models", default="all", help="comma-separated model names (default: all)")
    parser.add_argument("--out", type=Path, default=Path("bench/out/compare_table"))
    args = parser.parse_args()
    if not args.table.exists():
        print(f"skipped: {args.table} not found (expected ../shared/data beside the repository)")
        return 0
    table = read_feature_table(args.table)
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
    args.out.mkdir(parents=True, exist_ok=True)
    setup = {"table": str(args.table), "folds": args.folds, "n_iter": args.n_iter, "seconds": round(time.time() - started),
             "python": platform.python_version(), "machine": platform.machine()}
    (args.out / "comparison.json").write_text(json.dumps({"setup": setup, "models": rows}, indent=2, default=str))
    markdown = comparison_markdown(rows, title=f"Nested {args.folds}-fold CV on {args.table.name}")
    (args.out / "comparison.md").write_text(markdown)
    print(markdown)
    best = max(rows, key=lambda r: r["accuracy_mean"])
    print(f"best: {best['model']} {best['accuracy_mean']:.3f}; {setup['seconds']} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
