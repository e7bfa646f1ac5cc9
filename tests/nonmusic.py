"""Audio that is not music, generated: speech (espeak-ng, several voices, languages and
texts), noises, tones and near-silence. Three disjoint sets: ``"train"`` (what genrekit's
music detector learns non-music from, bench/nonmusic.py), ``"dev"`` (for choosing a
threshold in bench/trust.py) and ``"test"`` (other texts, voices, seeds and frequencies, for
the tests), so nothing is checked on the audio it was chosen or trained on."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

SAMPLE_RATE = 16000

_SPEECH = {
    "dev": [
        ("en-us", "Good evening. Here is the news. The council met today to discuss the budget for next year, "
                  "and agreed to spend more on roads, schools and the library. Rain is expected tomorrow.", 160, 50),
        ("en-gb", "Chapter one. It was a bright cold day in April, and the clocks were striking thirteen. "
                  "She walked slowly along the empty street, thinking about the letter.", 150, 40),
        ("de", "Guten Abend, meine Damen und Herren. Hier sind die Nachrichten des Tages aus Berlin. "
               "Die Regierung hat heute neue Pläne für den Verkehr vorgestellt.", 170, 60),
    ],
    "test": [
        ("en-us", "Welcome back to the show. Today we talk with an engineer about bridges, how they are built, "
                  "why some of them sway in the wind, and what happens when they fail.", 175, 70),
        ("fr", "Bonjour à tous et bienvenue dans ce nouvel épisode. Aujourd'hui nous parlons de cuisine, "
               "de marchés et de la saison des pommes dans le nord du pays.", 155, 45),
        ("es", "Había una vez un pequeño pueblo junto al mar, donde los pescadores salían cada mañana "
               "antes del amanecer y volvían con las redes llenas.", 140, 55),
        ("en-gb-scotland", "Please listen carefully, as our menu options have changed. For billing, press one. "
                           "For technical support, press two. To speak to an advisor, stay on the line.", 165, 35),
    ],
}


def speech(voice: str, text: str, speed: int, pitch: int) -> np.ndarray:
    """``text`` spoken by espeak-ng, at 16 kHz."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "speech.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(path), text],
                       check=True, capture_output=True, timeout=60)
        y, sr = sf.read(path, dtype="float32")
    import soxr

    return soxr.resample(y, sr, SAMPLE_RATE).astype(np.float32)


_TRAIN_TEXTS = [
    "The meeting will start at nine. Please bring the reports from last week and your notes on the new project.",
    "In this lesson we learn how plants turn light into sugar, and why leaves change colour in the autumn.",
    "Traffic is heavy on the ring road this morning after an accident near the airport exit.",
    "Thank you for calling. All our agents are busy at the moment. Your call is important to us.",
    "He opened the door, looked around the dark kitchen, and called her name twice before sitting down.",
    "Der Zug nach Hamburg hat heute etwa zwanzig Minuten Verspätung. Wir bitten um Entschuldigung.",
    "La réunion commence à dix heures. Nous parlerons du budget et des projets pour l'année prochaine.",
    "Il museo è aperto tutti i giorni tranne il lunedì, dalle nove del mattino alle sette di sera.",
]
_TRAIN_VOICES = ["en", "en-us", "en-gb-x-rp", "en-029", "de", "fr-fr", "it", "es-419", "pt", "nl", "sv", "pl"]


def training_signals(seconds: float = 20.0) -> dict[str, np.ndarray]:
    """The ``"train"`` set: many voices, texts, speeds and pitches (alone, over room noise or
    hum, and two at once), coloured and modulated noises, tones, beeps, clicks and sweeps.
    Texts, voices, seeds and frequencies differ from the other two sets'."""
    rng = np.random.default_rng(3)
    n = int(seconds * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    out: dict[str, np.ndarray] = {}

    def fit(y: np.ndarray) -> np.ndarray:
        return np.resize(y, n) if len(y) < n else y[:n]

    if have_espeak():
        spoken = []
        for i, voice in enumerate(_TRAIN_VOICES):
            text = _TRAIN_TEXTS[i % len(_TRAIN_TEXTS)] + " " + _TRAIN_TEXTS[(i + 3) % len(_TRAIN_TEXTS)]
            y = fit(speech(voice, text, int(rng.integers(110, 210)), int(rng.integers(15, 85))))
            spoken.append(y)
            out[f"speech-{voice}"] = _normalise(y, float(rng.uniform(0.2, 0.9)))
        for i, y in enumerate(spoken[:6]):
            room = _noise(("pink", "brown", "white")[i % 3], seconds, rng)[:n]
            snr = 10 ** (-float(rng.uniform(10, 25)) / 20)
            out[f"speech-in-noise-{i}"] = _normalise(y / np.abs(y).max() + snr * room / np.abs(room).max())
            hum = np.sin(2 * np.pi * (50.0 + 10 * (i % 2)) * t)
            out[f"speech-over-hum-{i}"] = _normalise(y / np.abs(y).max() + 0.05 * hum)
            other = spoken[(i + 5) % len(spoken)]
            out[f"two-voices-{i}"] = _normalise(y / np.abs(y).max() + 0.7 * other / np.abs(other).max())
    for kind in ("white", "pink", "brown"):
        for k in range(2):
            y = _noise(kind, seconds, rng)
            if k:  # wind, rain, traffic: slow swells
                y = y * (1 + 0.8 * np.sin(2 * np.pi * float(rng.uniform(0.05, 0.5)) * t))
            out[f"noise-{kind}-{k}"] = _normalise(y, float(rng.uniform(0.05, 0.8)))
    for k, f0 in enumerate((180.0, 620.0, 2500.0)):
        out[f"tone-{k}"] = _normalise(np.sin(2 * np.pi * f0 * t), float(rng.uniform(0.1, 0.6)))
        out[f"saw-{k}"] = _normalise(2 * ((f0 * t) % 1.0) - 1, 0.3)
    beeping = (np.sin(2 * np.pi * 0.8 * t) > 0.6).astype(float)  # an alarm's on-off
    out["beeps"] = _normalise(beeping * np.sin(2 * np.pi * 950.0 * t), 0.4)
    out["dtmf"] = _normalise((np.sin(2 * np.pi * 697 * t) + np.sin(2 * np.pi * 1336 * t)) * (t % 0.3 < 0.15), 0.4)
    clicks = np.zeros(n)
    clicks[rng.choice(n, 60, replace=False)] = rng.uniform(-1, 1, 60)
    out["clicks"] = _normalise(clicks + 1e-3 * rng.standard_normal(n), 0.5)
    out["sweep-down"] = _normalise(np.sin(2 * np.pi * (6000 * t - 5800 * t ** 2 / (2 * seconds))), 0.4)
    return out


def _noise(kind: str, seconds: float, rng: np.random.Generator) -> np.ndarray:
    white = rng.standard_normal(int(seconds * SAMPLE_RATE))
    if kind == "white":
        return white
    spectrum = np.fft.rfft(white)
    f = np.maximum(np.fft.rfftfreq(len(white), 1 / SAMPLE_RATE), 1.0)
    shaped = spectrum / (np.sqrt(f) if kind == "pink" else f)
    return np.fft.irfft(shaped, n=len(white))


def _normalise(y: np.ndarray, peak: float = 0.5) -> np.ndarray:
    return (peak * y / max(np.abs(y).max(), 1e-12)).astype(np.float32)


def signals(which: str, seconds: float = 20.0) -> dict[str, np.ndarray]:
    """Non-music signals of the ``which`` set, by name, at :data:`SAMPLE_RATE`. Speech only
    where espeak-ng is installed (see :func:`have_espeak`)."""
    if which not in ("dev", "test"):
        raise ValueError(f"which={which!r}: expected 'dev' or 'test'")
    rng = np.random.default_rng(1 if which == "dev" else 2)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    out: dict[str, np.ndarray] = {}
    if have_espeak():
        for i, (voice, text, speed, pitch) in enumerate(_SPEECH[which]):
            out[f"speech-{voice}-{i}"] = _normalise(speech(voice, text, speed, pitch))
    for kind in ("white", "pink", "brown"):
        out[f"noise-{kind}"] = _normalise(_noise(kind, seconds, rng), 0.3 if which == "dev" else 0.6)
    f0 = 440.0 if which == "dev" else 1000.0
    out["tone"] = _normalise(np.sin(2 * np.pi * f0 * t), 0.4)
    out["square"] = _normalise(np.sign(np.sin(2 * np.pi * (f0 / 2) * t)), 0.3)
    low, high = (100.0, 4000.0) if which == "dev" else (200.0, 7000.0)
    out["chirp"] = _normalise(np.sin(2 * np.pi * (low * t + (high - low) * t ** 2 / (2 * seconds))), 0.4)
    out["hum"] = _normalise(np.sin(2 * np.pi * (50.0 if which == "dev" else 60.0) * t)
                            + 0.3 * np.sin(2 * np.pi * (150.0 if which == "dev" else 180.0) * t), 0.3)
    out["near-silence"] = (rng.standard_normal(len(t)) * (1e-3 if which == "dev" else 3e-4)).astype(np.float32)
    return out


def have_espeak() -> bool:
    """Whether espeak-ng is installed; on CI (``CI=true``) its absence fails the test."""
    found = shutil.which("espeak-ng") is not None
    if not found and os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        import pytest

        pytest.fail("espeak-ng is not installed (generated speech); CI=true, so this fails instead of testing less")
    return found


def write_signals(folder: Path, which: str) -> list[Path]:
    """:func:`signals` as 16-bit WAV files in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, y in signals(which).items():
        path = folder / f"{name}.wav"
        sf.write(path, y, SAMPLE_RATE, subtype="PCM_16")
        paths.append(path)
    return paths
