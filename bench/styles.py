"""Issue 17, styles: the thresholds of genrekit's multi-label styles, and how they do.

``--thresholds`` writes ``src/genrekit/data/style-thresholds.json``: for each style of
``genrekit.models.styles.STYLE_TAGS``, the 99th percentile of its probability on the
GTZAN clips (gtzan-mini + gtzan-dev, 200 clips) of the genres it rules out
(``EXCLUDED_GENRES``). Nothing else is fitted, and no clip of the checks below is used.

``--check`` reports, with those thresholds:
- on immich-memories-music (28 generated tracks, 13 electronic, 15 acoustic; never used
  for any choice): how many tracks of each kind get ``electronic`` (and ``acoustic``);
- on GTZAN (in-domain, the clips the thresholds come from, so optimistic): how often a
  style that names the clip's genre fires on it;
- on the generated non-music of tests/nonmusic.py: how many styles fire.

Clip features come from bench/trust.py's cache (``python bench/trust.py --features``).
``--level DB``: every clip and signal first scaled to that RMS level, as the default model
hears them (genrekit's thresholds are written at ``genrekit.features.musicnn.LEVEL_DBFS``).

    python bench/styles.py --level -20 --thresholds --check

``--shipped`` checks the shipped default's two files end to end (the model file and the
light ONNX graph): the music detector and the styles on GTZAN, immich and the generated
non-music, and how often the two agree (``bench/results/styles-shipped.json``):

    python bench/styles.py --shipped
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import trust  # noqa: E402  (bench/trust.py: the cached musicnn patches)

ROOT = Path(__file__).resolve().parents[1]
DATA_FOLDER = ROOT / "src" / "genrekit" / "data"


def thresholds_file() -> Path:
    """Where the thresholds at ``--level`` go: the default model's level or audio as recorded."""
    from genrekit.features.musicnn import LEVEL_DBFS
    from genrekit.models.styles import THRESHOLD_FILES

    if trust.AT_LEVEL not in (LEVEL_DBFS, None):
        sys.exit(f"--level {trust.AT_LEVEL:g}: genrekit ships thresholds at {LEVEL_DBFS:g} dBFS and as recorded only")
    return DATA_FOLDER / THRESHOLD_FILES[0 if trust.AT_LEVEL == LEVEL_DBFS else 1]
PERCENTILE = 99.0
# style -> the GTZAN genre it names, for the in-domain check
NAMES_GENRE = {"blues": "blues", "classical": "classical", "country": "country", "hip-hop": "hiphop",
               "jazz": "jazz", "metal": "metal", "pop": "pop", "rock": "rock"}


def clip_tags(features: dict) -> tuple[np.ndarray, list[str]]:
    """Each clip's tag probabilities averaged over its patches, as genrekit's ``musicnn``
    features hold them, with their column names."""
    from genrekit.features.musicnn.convert import TAGS

    rows = np.stack([np.concatenate([msd.mean(axis=0), mtt.mean(axis=0)])
                     for msd, mtt in zip(features["msd_tags"], features["mtt_tags"])])
    columns = [f"msd.tag.{t}" for t in TAGS["MSD_musicnn"]] + [f"mtt.tag.{t}" for t in TAGS["MTT_musicnn"]]
    return rows, columns


def style_table(features: dict) -> tuple[np.ndarray, list[str]]:
    from genrekit.models.styles import style_columns, style_probabilities

    rows, columns = clip_tags(features)
    mapping = style_columns(columns)
    return style_probabilities(rows, mapping), list(mapping)


def gtzan() -> tuple[np.ndarray, list[str], np.ndarray]:
    probabilities, labels = [], []
    for split in ("gtzan-mini", "gtzan-dev"):
        features = trust.clip_features(split)
        table, styles = style_table(features)
        probabilities.append(table)
        labels.append(features["labels"])
    return np.concatenate(probabilities), styles, np.concatenate(labels)


def write_thresholds() -> dict:
    from genrekit.models.styles import EXCLUDED_GENRES, STYLE_TAGS

    table, styles, labels = gtzan()
    entries = {}
    for j, style in enumerate(styles):
        negatives = np.isin(labels, EXCLUDED_GENRES[style])
        threshold = float(np.percentile(table[negatives, j], PERCENTILE))
        entries[style] = {"tags": list(STYLE_TAGS[style]), "threshold": round(threshold, 6),
                          "excluded_genres": list(EXCLUDED_GENRES[style]), "n_excluded_clips": int(negatives.sum())}
    record = {"rule": f"{PERCENTILE:g}th percentile of the style's probability on the GTZAN clips of its excluded "
                      "genres (genrekit.models.styles.EXCLUDED_GENRES)",
              "data": f"gtzan-mini + gtzan-dev, {len(labels)} clips, tags averaged over 3 s patches",
              "level_dbfs": trust.AT_LEVEL,
              "command": "python bench/styles.py --thresholds" + _level_option(), "date": time.strftime("%Y-%m-%d"),
              "styles": entries}
    target = thresholds_file()
    temporary = target.with_suffix(".tmp")
    temporary.write_text(json.dumps(record, indent=1) + "\n")
    os.replace(temporary, target)
    print(f"-> {target}")
    return record


def check() -> dict:
    from genrekit.models.styles import threshold_sets

    limits = threshold_sets.__wrapped__()[trust.AT_LEVEL]  # the file as just written
    result: dict = {"machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores",
                    "date": time.strftime("%Y-%m-%d"), "command": "python bench/styles.py --check" + _level_option(),
                    "level_dbfs": trust.AT_LEVEL}

    def present(table: np.ndarray, styles: list[str]) -> np.ndarray:
        return table >= np.array([limits[s] for s in styles])

    try:
        features = trust.signal_features("immich", trust.immich_signals())
    except ImportError:
        print("immich-memories-music is not installed: its check is left out")
    else:
        table, styles = style_table(features)
        fired = present(table, styles)
        kinds = np.array(["electronic" if "_electronic" in i else "acoustic" for i in features["ids"]])
        immich = {}
        for style in ("electronic", "acoustic"):
            j = styles.index(style)
            immich[style] = {kind: f"{int(fired[kinds == kind, j].sum())}/{int((kinds == kind).sum())}"
                             for kind in ("electronic", "acoustic")}
        immich["styles per track (mean)"] = float(fired.sum(axis=1).mean())
        result["immich"] = immich
        print("immich-memories-music: tracks with the style, by kind:", json.dumps(immich))
    table, styles, labels = gtzan()
    fired = present(table, styles)
    result["gtzan_recall"] = {style: f"{int(fired[labels == genre, styles.index(style)].sum())}/"
                                     f"{int((labels == genre).sum())}" for style, genre in NAMES_GENRE.items()}
    result["gtzan_styles_per_clip"] = float(fired.sum(axis=1).mean())
    print("GTZAN (in-domain): clips of a genre with the style that names it:", json.dumps(result["gtzan_recall"]))
    nonmusic = {}
    for which in ("dev", "test"):
        features = trust.signal_features(f"nonmusic-{which}", trust.nonmusic_signals(which))
        table, styles = style_table(features)
        nonmusic[which] = float(present(table, styles).sum(axis=1).mean())
    result["nonmusic_styles_per_signal"] = nonmusic
    print("generated non-music: styles per signal:", json.dumps(nonmusic))
    trust.OUT.mkdir(parents=True, exist_ok=True)
    out = ROOT / "bench" / "results" / "styles.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"-> {out}")
    return result


def shipped() -> dict:
    """The shipped default end to end, both files (the model file: exact features; the ONNX
    file: the light graph, MTT_musicnn on one patch in three), through ``predict_files``: how
    often the music detector calls music "not music" (GTZAN's 200 clips, which it was fitted
    on, and immich's 28 tracks, which it never saw) and catches the generated non-music (the
    ``dev`` and ``test`` signals of tests/nonmusic.py, never trained on), the lowest and
    highest p(music) of each, the ``electronic``/``acoustic`` styles on immich, and how often
    the two files agree on the genre (`unknown` included) and the styles. Nothing is fitted."""
    import tempfile

    import immich_memories_music as immich

    from genrekit.models import default_model_path
    from genrekit.models.music import music_threshold
    from genrekit.predict import predict_files

    sys.path.insert(0, str(ROOT / "tests"))
    from nonmusic import write_signals

    with tempfile.TemporaryDirectory() as folder:
        sets = {"gtzan": sorted(p for split in ("gtzan-mini", "gtzan-dev")
                                for p in (trust.DATA / split / "genres").glob("*/*.*")),
                "immich": sorted(Path(immich.tracks_dir()).glob("*/*.opus")),
                "nonmusic": [*write_signals(Path(folder) / "dev", "dev"), *write_signals(Path(folder) / "test", "test")]}
        if len(sets["gtzan"]) != 200:
            sys.exit(f"expected gtzan-mini + gtzan-dev's 200 clips beside {trust.DATA}, found {len(sets['gtzan'])}")
        answers: dict = {}
        for name, onnx in (("model file (exact features)", False), ("ONNX default (light graph)", True)):
            answers[name] = {}
            for kind, paths in sets.items():
                predictions, failures = predict_files(str(default_model_path(onnx=onnx)), paths, progress=False)
                if failures:
                    sys.exit(f"{name}: failed on {failures}")
                answers[name][kind] = {p.path: p for p in predictions}  # dev and test share signal names
    cut = music_threshold()
    result: dict = {"machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores",
                    "date": time.strftime("%Y-%m-%d"), "command": "python bench/styles.py --shipped",
                    "protocol": shipped.__doc__, "music_threshold": cut, "models": {}}
    for name, by_set in answers.items():
        row = {}
        for kind, predictions in by_set.items():
            music = np.array([p.music for p in predictions.values()])
            odd = [str(Path(path).relative_to(Path(path).parents[1])) for path, p in predictions.items()
                   if (p.music < cut) != (kind == "nonmusic")]  # music called non-music, or non-music let through
            row[kind] = {"not_music": f"{int((music < cut).sum())}/{len(music)}", "wrong": odd,
                         "p_music_min": round(float(music.min()), 3), "p_music_max": round(float(music.max()), 3)}
        styled = by_set["immich"]
        for style in ("electronic", "acoustic"):
            row["immich"][style] = {kind: f"{sum(style in p.styles for n, p in styled.items() if f'_{kind}' in str(p.path))}/"
                                          f"{sum(f'_{kind}' in str(p.path) for p in styled.values())}"
                                    for kind in ("electronic", "acoustic")}
        result["models"][name] = row
    exact, light = answers.values()
    result["agreement"] = {kind: {"genre": f"{sum(exact[kind][n].genre == p.genre for n, p in light[kind].items())}/{len(light[kind])}",
                                  "styles": f"{sum(set(exact[kind][n].styles) == set(p.styles) for n, p in light[kind].items())}"
                                            f"/{len(light[kind])}",
                                  "max_p_music_diff": round(max(abs(exact[kind][n].music - p.music)
                                                                for n, p in light[kind].items()), 3)}
                           for kind in light}
    print(json.dumps({k: result[k] for k in ("models", "agreement")}, indent=1))
    out = ROOT / "bench" / "results" / "styles-shipped.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"-> {out}")
    return result


def _level_option() -> str:
    return "" if trust.AT_LEVEL is None else f" --level {trust.AT_LEVEL:g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--thresholds", action="store_true", help="write the thresholds file")
    parser.add_argument("--check", action="store_true", help="score the thresholds on immich, GTZAN and non-music")
    parser.add_argument("--level", type=float, help="scale every clip and signal to this RMS level (dBFS) first")
    parser.add_argument("--shipped", action="store_true",
                        help="the shipped default's two files end to end: music detector and styles")
    args = parser.parse_args()
    trust.AT_LEVEL = args.level
    if args.shipped:
        shipped()
        return
    if not (args.thresholds or args.check):
        parser.error("give --thresholds, --check or --shipped")
    if args.thresholds:
        write_thresholds()
    if args.check:
        check()


if __name__ == "__main__":
    main()
