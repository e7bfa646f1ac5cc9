"""Speech over music: what the shipped default says of a podcast with a music bed, a voice
over a beat, or a song with a spoken passage, as the voice grows louder than the music.

The music detector (:mod:`genrekit.models.music`) was trained on GTZAN's music against speech,
noise, tones and sound effects alone; speech mixed with music was never in its training set,
and nothing here is fitted or chosen. What the right answer is depends on the library: a
podcast with a quiet bed is speech to most people, a voice over a loud beat is often music
(rap, spoken word). This measures where the default's verdict turns, so users know; it does
not decide it.

Sets, all held out from the detector's and the genre head's training:

- music beds: the first 30 s of each of immich-memories-music's 28 tracks (13 electronic,
  15 acoustic; generated music, at 16 kHz mono);
- speech: Asterisk's recorded telephone prompts (five voices, five languages: the test set of
  bench/recorded.py, held out), joined with 0.4 s gaps into 30 s signals, and 30 s of
  espeak-ng speech in four voices (tests/nonmusic.py's ``test`` texts, repeated). Track k gets
  speech signal k mod 9, fixed before the run.

Each pair is mixed at speech-to-music ratios (RMS over the 30 s, in dB) from -10 to +20,
plus music alone and speech alone, peak-limited to 0.99 and written as 16-bit WAV, then
predicted through ``genrekit.predict.predict_files`` with the defaults (the light ONNX
default, its music check at p(music) < 0.2). Per ratio: files called ``unknown`` (not music),
the median p(music), the share of ~6 s windows not music, the genres named, and the
confidence they are named with (what ``--min-confidence`` would act on). About a minute on
2 cores.

    python bench/speech_over_music.py
    python bench/speech_over_music.py --table
"""

from __future__ import annotations

import argparse
import collections
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import add_result_options, header, printed_table, result_path, write_result  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NAME = "speech_over_music.json"
SR = 16000
SECONDS = 30.0
RATIOS = (-10.0, -5.0, 0.0, 5.0, 10.0, 20.0)  # speech over music, dB
ASTERISK_SOUNDS = Path("/usr/share/asterisk/sounds")
ASTERISK_VOICES = ("en_US_f_Allison", "fr_CA_f_June", "es_MX_f_Allison", "ru_RU_f_IvrvoiceRU", "it_IT_m_Carlo")


def music_beds() -> dict[str, np.ndarray]:
    import immich_memories_music

    from genrekit import audio

    beds = {}
    for path in sorted(Path(immich_memories_music.tracks_dir()).glob("*/*.opus")):
        y = audio.load(path, sr=SR)[0][: int(SECONDS * SR)]
        beds[f"{path.parent.name}/{path.stem}"] = y
    return beds


def speech_signals() -> dict[str, np.ndarray]:
    from genrekit import audio

    out = {}
    for voice in ASTERISK_VOICES:
        parts = []
        for path in sorted((ASTERISK_SOUNDS / voice).glob("*.wav")):
            parts += [audio.load(path, sr=SR)[0], np.zeros(int(0.4 * SR), np.float32)]
            if sum(map(len, parts)) >= SECONDS * SR:
                break
        out[f"asterisk/{voice}"] = np.concatenate(parts)[: int(SECONDS * SR)]
    sys.path.insert(0, str(ROOT / "tests"))
    from nonmusic import _SPEECH, speech

    for voice, text, speed, pitch in _SPEECH["test"]:
        out[f"espeak/{voice}"] = np.resize(speech(voice, text, speed, pitch), int(SECONDS * SR))
    return out


def _rms(y: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(y, dtype=np.float64)))) or 1e-9


def mixed(music: np.ndarray, voice: np.ndarray, ratio: float | None) -> np.ndarray:
    """``voice`` at ``ratio`` dB over ``music`` (RMS over the whole signal); None: the music
    alone. A mix peaking above 0.99 is scaled down whole (the ratio kept, the level lowered:
    the default levels every segment to -20 dBFS before it listens)."""
    n = min(len(music), len(voice))
    music, voice = music[:n].astype(np.float64), voice[:n].astype(np.float64)
    y = music if ratio is None else music + voice * (_rms(music) / _rms(voice)) * 10 ** (ratio / 20)
    peak = np.max(np.abs(y))
    return (y * (0.99 / peak if peak > 0.99 else 1.0)).astype(np.float32)


def conditions() -> list[tuple[str, float | None]]:
    return [("music alone", None), *((f"speech {r:+g} dB", r) for r in RATIOS), ("speech alone", float("inf"))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_result_options(parser, NAME)
    args = parser.parse_args()
    out = args.out or result_path(NAME)
    if printed_table(args, out, markdown):
        return
    import soundfile as sf

    from genrekit.models import load
    from genrekit.predict import predict_files

    beds, voices = music_beds(), speech_signals()
    voice_names = list(voices)
    model = load("default")
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for condition, ratio in conditions():
            paths, pairs = [], {}
            for k, (bed, music) in enumerate(beds.items()):
                voice = voice_names[k % len(voice_names)]
                if ratio == float("inf"):
                    y = mixed(voices[voice], voices[voice], None)
                else:
                    y = mixed(music, voices[voice], ratio)
                path = Path(scratch) / f"{k:02d}-{condition.replace(' ', '_')}.wav"
                sf.write(path, y, SR, subtype="PCM_16")
                paths.append(path)
                pairs[str(path)] = (bed, voice)
            predictions, failures = predict_files(model, paths, progress=False)
            rows.append(summary(condition, ratio, predictions, failures, pairs))
            print(line(rows[-1]), flush=True)
    record = write_result(out, "speech over music: the default's verdict as the voice grows louder than the bed",
                          {"music": "immich-memories-music, 28 tracks, first 30 s",
                           "speech": f"Asterisk prompts ({', '.join(ASTERISK_VOICES)}) and espeak-ng "
                                     "(tests/nonmusic.py test texts)",
                           "model": "default (light ONNX), music check at p(music) < 0.2"},
                          rows=rows)
    print(markdown(record))


def summary(condition: str, ratio: float | None, predictions, failures: dict, pairs: dict) -> dict:
    windows = [s for p in predictions for s in p.timeline]
    named = collections.Counter(p.genre for p in predictions if p.genre != "unknown")
    # immich's file names say electronic or acoustic (calm_acoustic_1, energetic_electronic_2)
    by_kind = collections.Counter("electronic" if "electronic" in pairs[p.path][0] else "acoustic"
                                  for p in predictions if p.unknown_reason == "not music" and ratio != float("inf"))
    confidences = sorted(p.confidence for p in predictions if p.genre != "unknown")
    hiphop = sorted(p.confidence for p in predictions if p.genre == "hiphop")
    return {"condition": condition, "ratio_db": None if ratio is None or ratio == float("inf") else ratio,
            "files": len(pairs), "failed": len(failures),
            "not_music": sum(p.unknown_reason == "not music" for p in predictions),
            "not_music_by_bed": dict(sorted(by_kind.items())),
            "median_music": round(statistics.median(p.music for p in predictions), 3) if predictions else None,
            "windows": len(windows), "windows_not_music": sum(s.genre == "unknown" for s in windows),
            "genres": dict(named.most_common()),
            "confidence_named": _spread(confidences), "confidence_hiphop": _spread(hiphop),
            "named_at_0.7": sum(c >= 0.7 for c in confidences)}


def _spread(values: list[float]) -> dict | None:
    """Lowest, median and highest of ``values`` (None where there are none)."""
    if not values:
        return None
    return {"min": round(values[0], 3), "median": round(statistics.median(values), 3), "max": round(values[-1], 3)}


def line(row: dict) -> str:
    share = row["windows_not_music"] / row["windows"] if row["windows"] else float("nan")
    genres = ", ".join(f"{g} {n}" for g, n in list(row["genres"].items())[:3]) or "-"
    beds = ", ".join(f"{kind} {n}" for kind, n in row["not_music_by_bed"].items()) or "-"
    named = row["files"] - row["failed"] - row["not_music"]

    def spread(key: str) -> str:
        found = row[key]
        return "-" if found is None else f"{found['min']:.2f}-{found['max']:.2f} (median {found['median']:.2f})"

    return (f"| {row['condition']} | {row['not_music']}/{row['files']} ({beds}) | {row['median_music']:.2f} | "
            f"{row['windows_not_music']}/{row['windows']} ({share:.0%}) | {genres} | {spread('confidence_named')} | "
            f"{spread('confidence_hiphop')} | {row['named_at_0.7']}/{named} |")


def markdown(record: dict) -> str:
    return "\n".join([header(record), "",
                      "| speech over the music bed | files not music (by bed) | median p(music) | windows not music | "
                      "genres named (most) | confidence of the genres named | of hip-hop | named at "
                      "--min-confidence 0.7 |", "|---|---|---|---|---|---|---|---|",
                      *(line(row) for row in record["rows"])])


if __name__ == "__main__":
    main()
