"""Encoding robustness: does the shipped default model give the same answer for the same
music presented another way (resampled, stereo, quieter or louder, lossy, padded, looped)?

Each clip is predicted as distributed (22.05 kHz mono, .au/.wav/.flac: the baseline) and as
each variant below, written to a temporary folder with numpy, soundfile and soxr. All are
predicted in this process by one loaded ``genrekit.models.load("default")`` (what
``genrekit predict`` uses) through ``genrekit.predict.predict_files``, with the defaults (no
minimum confidence, the music detector on). Per variant: how many clips keep the baseline's
top genre, the mean absolute change of the confidence, the largest change of any genre's
probability, the clips whose set of styles changes, the clips called ``unknown`` and the
largest change of the music score. The two mono controls apply to a mono file the comb
filter that a mix-down of the two delayed-channel variants makes, (L + R) / 2.

Clips: the first ``--clips`` (default 4) of each genre of gtzan-mini and of gtzan-dev, by
file name. All are in the default model's training data (gtzan-mini + gtzan-dev), so this
measures consistency (the same answer for the same music), not accuracy. About 3 minutes
on 2 cores. Results: ``bench/results/encoding_robustness.json``. Needs ../shared/data.

    python bench/encoding_robustness.py
    python bench/encoding_robustness.py --table        # the recorded table, as in docs/benchmarks.md
    python bench/encoding_robustness.py --clips 1 --only MP3   # smoke (bench/out/smoke/)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import add_result_options, header, printed_table, result_path, shown_path, write_result  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
SPLITS = ("gtzan-mini", "gtzan-dev")
NAME = "encoding_robustness.json"
AUDIO = {".au", ".wav", ".flac"}
PCM16 = {"subtype": "PCM_16"}
# soundfile's MP3 encoder (libsndfile >= 1.1, LAME) sets a constant bitrate from the compression
# level: 0.65 gives 128 kbps at 44.1 kHz stereo and 64 kbps at 22.05 kHz mono (measured below)
MP3 = {"format": "MP3", "bitrate_mode": "CONSTANT", "compression_level": 0.65}
VORBIS = {"format": "OGG", "subtype": "VORBIS", "compression_level": 0.4}


# --- the variants -------------------------------------------------------------------------
def resampled(y: np.ndarray, sr: int, rate: int) -> np.ndarray:
    import soxr

    return y if rate == sr else soxr.resample(y, sr, rate, quality="VHQ")


def delayed(y: np.ndarray, samples: int) -> np.ndarray:
    return np.concatenate([np.zeros(samples), y[:len(y) - samples]])


def stereo(rate: int, delay: int = 0, right_db: float = 0.0):
    """Both channels the clip at ``rate``, the right one ``delay`` samples late and at ``right_db``."""
    def make(y, sr):
        y = resampled(y, sr, rate)
        return np.stack([y, delayed(y, delay) * 10 ** (right_db / 20)], axis=1), rate
    return make


def comb(rate: int, delay: int):
    """Mono at ``rate``: what the mix-down of :func:`stereo` with this delay hears."""
    def make(y, sr):
        y = resampled(y, sr, rate)
        return (y + delayed(y, delay)) / 2, rate
    return make


def gain(db: float, *, clip: bool = False, peak_db: float | None = None):
    """``db`` of gain; then hard-clipped at full scale, or scaled back where the peak passes ``peak_db``."""
    def make(y, sr):
        y = y * 10 ** (db / 20)
        if peak_db is not None:
            y = y * min(1.0, 10 ** (peak_db / 20) / max(float(np.abs(y).max()), 1e-12))
        return (np.clip(y, -1.0, 1.0) if clip else y), sr
    return make


def padded(before: float, after: float):
    def make(y, sr):
        return np.concatenate([np.zeros(round(before * sr)), y, np.zeros(round(after * sr))]), sr
    return make


def looped(seconds: float):
    def make(y, sr):
        return np.tile(y, int(np.ceil(seconds * sr / len(y))))[:round(seconds * sr)], sr
    return make


def same(y, sr):
    return y, sr


@dataclass
class Variant:
    name: str
    make: object  # (y, sr) -> (audio, rate)
    options: dict = field(default_factory=lambda: dict(PCM16))
    ext: str = "wav"


VARIANTS = [
    Variant("16-bit WAV (the same samples)", same),
    Variant("32-bit float WAV", same, {"subtype": "FLOAT"}),
    Variant("44.1 kHz stereo, both channels the same", stereo(44100)),
    Variant("48 kHz stereo, both channels the same", stereo(48000)),
    Variant("44.1 kHz stereo, 32-bit float", stereo(44100), {"subtype": "FLOAT"}),
    Variant("44.1 kHz stereo, right channel -3 dB", stereo(44100, right_db=-3.0)),
    Variant("44.1 kHz stereo, right channel 4 samples late (0.09 ms)", stereo(44100, 4)),
    Variant("48 kHz stereo, right channel 0.25 ms late", stereo(48000, 12)),
    Variant("44.1 kHz stereo, right channel 1 ms late", stereo(44100, 44)),
    Variant("44.1 kHz stereo, right channel 10 ms late", stereo(44100, 441)),
    Variant("control: 48 kHz mono, (x + x 0.25 ms late) / 2", comb(48000, 12)),
    Variant("control: 44.1 kHz mono, (x + x 1 ms late) / 2", comb(44100, 44)),
    Variant("gain -20 dB", gain(-20.0)),
    Variant("gain +6 dB, scaled back to a -1 dBFS peak", gain(6.0, peak_db=-1.0)),
    Variant("gain +6 dB, hard-clipped", gain(6.0, clip=True)),
    Variant("MP3 128 kbps CBR, 44.1 kHz stereo", stereo(44100), MP3, "mp3"),
    Variant("MP3 64 kbps CBR, 22.05 kHz mono", same, MP3, "mp3"),
    Variant("Ogg Vorbis (q 0.6), 44.1 kHz stereo", stereo(44100), VORBIS, "ogg"),
    Variant("2 s of silence before", padded(2.0, 0.0)),
    Variant("2 s of silence after", padded(0.0, 2.0)),
    Variant("2 s of silence before and after", padded(2.0, 2.0)),
    Variant("looped to 3 minutes", looped(180.0)),
]


# --- the clips and the measures -----------------------------------------------------------
def pick_clips(per_genre: int) -> list[Path]:
    """The first ``per_genre`` clips of each genre of each split, by file name."""
    clips = []
    for split in SPLITS:
        for genre in sorted(p for p in (DATA / split / "genres").iterdir() if p.is_dir()):
            clips += sorted(p for p in genre.iterdir() if p.suffix in AUDIO)[:per_genre]
    return clips


def compare(base: dict, got: dict, failures: dict) -> dict:
    """The measures of one variant against the baseline, both ``clip -> Prediction``."""
    names = [n for n in base if n in got]
    flips = [{"clip": n, "from": base[n].genre, "to": got[n].genre, "confidence_from": round(base[n].confidence, 3),
              "confidence_to": round(got[n].confidence, 3)} for n in names if got[n].genre != base[n].genre]
    delta_p = [max(abs(got[n].probabilities[g] - p) for g, p in base[n].probabilities.items()) for n in names]
    music = [abs(got[n].music - base[n].music) for n in names if None not in (got[n].music, base[n].music)]
    return {"clips": len(names), "failed": failures, "same_top_genre": len(names) - len(flips),
            "mean_abs_delta_confidence": float(np.mean([abs(got[n].confidence - base[n].confidence) for n in names])),
            "max_abs_delta_probability": float(max(delta_p)),
            "styles_changed": sum(set(got[n].styles or {}) != set(base[n].styles or {}) for n in names),
            "unknown": sum(got[n].genre == "unknown" for n in names),
            "max_abs_delta_music": float(max(music)) if music else None, "flips": flips}


def predict(model, paths: list[Path]) -> tuple[dict, dict]:
    """``clip name -> Prediction`` (the file's stem) and ``clip name -> reason`` for failures."""
    from genrekit.predict import predict_files

    predictions, failures = predict_files(model, [str(p) for p in paths], progress=False)
    return {Path(p.path).stem: p for p in predictions}, {Path(p).stem: why for p, why in failures.items()}


def markdown(record: dict) -> str:
    base = record["baseline"]
    lines = [header(record), "",
             f"{record['data']['clips']} clips ({record['data']['selection']}), each against its own prediction as "
             f"distributed (22.05 kHz mono; baseline: {base['unknown']} unknown, {base['genres_right']} with the "
             f"clip's own genre on top). {record['in_training_data']} of the {record['data']['clips']} clips are in "
             f"the default model's training data, so this measures consistency (the same answer for the same music "
             f"re-encoded), not accuracy. Model: {record['model']}.", "",
             "| variant | same top genre | mean abs Δ confidence | max abs Δ probability | styles changed "
             "| unknown | max abs Δ music score |", "|---|---|---|---|---|---|---|"]
    for row in record["rows"]:
        n = row["clips"]
        failed = f" ({len(row['failed'])} failed)" if row["failed"] else ""
        music = "-" if row["max_abs_delta_music"] is None else f"{row['max_abs_delta_music']:.3f}"
        lines.append(f"| {row['variant']}{failed} | {row['same_top_genre']}/{n} ({row['same_top_genre'] / n:.0%}) | "
                     f"{row['mean_abs_delta_confidence']:.3f} | {row['max_abs_delta_probability']:.3f} | "
                     f"{row['styles_changed']}/{n} | {row['unknown']} | {music} |")
    changed = [(row["variant"], row["flips"]) for row in record["rows"] if row["flips"]]
    if changed:
        lines += ["", "Top genre changed (clip: baseline -> variant, confidence):"]
        lines += [f"- {variant}: " + ", ".join(f"{f['clip']} {f['from']} -> {f['to']} "
                                               f"({f['confidence_from']:.2f} -> {f['confidence_to']:.2f})"
                                               for f in flips) for variant, flips in changed]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=4, help="clips per genre of gtzan-mini and of gtzan-dev, "
                        "the first by file name (default: 4, so 52 clips)")
    parser.add_argument("--only", help="only the variants whose name contains this text (a smoke run: its result "
                        "goes to bench/out/smoke/ unless --out is given)")
    add_result_options(parser, NAME)
    args = parser.parse_args()
    out = args.out or result_path(NAME, smoke=bool(args.only))
    if printed_table(args, out, markdown):
        return
    missing = [split for split in SPLITS if not (DATA / split / "genres").is_dir()]
    if missing:
        sys.exit(f"{DATA}: {' and '.join(missing)} not found; this benchmark needs ../shared/data "
                 "(see ../shared/data/README.md)")
    variants = [v for v in VARIANTS if not args.only or args.only.lower() in v.name.lower()]
    if not variants:
        sys.exit(f"--only {args.only!r}: no variant's name contains it")
    import soundfile as sf

    from genrekit.models import exclude_training, load

    started = time.perf_counter()
    clips = pick_clips(args.clips)
    model = load("default")
    source = model.manifest().get("source", "default")
    _, seen = exclude_training([str(p) for p in clips], model, by_audio=False)
    audio = {}
    for path in clips:
        y, sr = sf.read(path, dtype="float64", always_2d=True)
        audio[path.stem] = (y.mean(axis=1), sr)
    base, failures = predict(model, clips)
    if failures:
        sys.exit(f"the original clips failed: {failures}")
    print(f"{len(clips)} clips, {len(variants)} variants; baseline predicted in "
          f"{time.perf_counter() - started:.0f} s", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="genrekit-encoding-") as tmp:
        for i, variant in enumerate(variants, 1):
            t0 = time.perf_counter()
            folder = Path(tmp) / f"v{i:02d}"
            folder.mkdir()
            paths, seconds, sizes = [], 0.0, 0
            for name, (y, sr) in audio.items():
                data, rate = variant.make(y, sr)
                path = folder / f"{name}.{variant.ext}"
                sf.write(path, data, rate, **variant.options)
                paths.append(path)
                seconds += len(data) / rate
                sizes += path.stat().st_size
            made = time.perf_counter() - t0
            got, failed = predict(model, paths)
            row = {"variant": variant.name, **compare(base, got, failed), "seconds_to_make": round(made, 1),
                   "seconds_to_predict": round(time.perf_counter() - t0 - made, 1)}
            if variant.ext != "wav":
                row["mean_kbps"] = round(sizes * 8 / seconds / 1000, 1)
            rows.append(row)
            for path in paths:
                path.unlink()
            print(f"[{i}/{len(variants)}] {variant.name}: same top genre {row['same_top_genre']}/{row['clips']}"
                  f"{', ' + str(row['mean_kbps']) + ' kbps' if 'mean_kbps' in row else ''} "
                  f"({made:.0f} s to make, {row['seconds_to_predict']:.0f} s to predict)", flush=True)
    labels = {name: Path(path).parent.name for name, path in ((p.stem, p) for p in clips)}
    record = write_result(
        out, "encoding robustness of the shipped default model: the same clips re-encoded",
        {"path": shown_path(DATA), "clips": len(clips),
         "selection": f"the first {args.clips} per genre of gtzan-mini and of gtzan-dev, by file name",
         "names": [p.stem for p in clips]},
        model=f"genrekit.models.load(\"default\") ({shown_path(source) if Path(source).exists() else source})",
        in_training_data=len(seen),
        baseline={"unknown": sum(p.genre == "unknown" for p in base.values()),
                  "genres_right": sum(p.genre == labels[n] for n, p in base.items()),
                  "predictions": {n: {"genre": p.genre, "confidence": round(p.confidence, 4),
                                      "styles": sorted(p.styles or {}), "music": p.music} for n, p in base.items()}},
        seconds=round(time.perf_counter() - started, 1), rows=rows)
    print(markdown(record))


if __name__ == "__main__":
    main()
