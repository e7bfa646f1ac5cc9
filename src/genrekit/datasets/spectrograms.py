"""A dataset's log-mel spectrograms, one ``.npz`` file per track, for networks trained elsewhere:
written atomically, resumed where a run stopped."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from genrekit import __version__
from genrekit._files import DAMAGED_FILE_ERRORS, atomic_path, temporary_target, write_json
from genrekit.datasets.core import Dataset
from genrekit.datasets.table import features_lock
from genrekit.errors import FeatureError, GenrekitError, ParameterError, check_flags

logger = logging.getLogger(__name__)

RUN_FILE = "run.json"
FOLDER = "logmel"


@dataclass
class SpectrogramRun:
    """What :func:`write_spectrograms` did.

    Attributes
    ----------
    folder : pathlib.Path
        The folder of the ``.npz`` files (``<out>/logmel``).
    written : int
        Tracks written (new or kept from an earlier run): the dataset's tracks less those that
        failed (a multi-genre file's copies are tracks of their own, decoded once).
    failures : dict[str, str]
        Path -> reason, for the files that could not be decoded or written.
    """

    folder: Path
    written: int
    failures: dict[str, str] = field(default_factory=dict)


def _source_identity(path: str, recorded: str = "") -> str:
    """What a spectrogram records of its audio: a local file's SHA-256 with its size and
    modification time (a copy elsewhere is the same audio; a file whose size and time are
    those ``recorded`` is not read again to hash it); a URL's size and modification time
    (not fetched again just to hash it)."""
    from genrekit import audio
    from genrekit.audio import remote

    if remote.is_url(path):
        found = remote.stat(path)
        return f"url:{found.size}|{found.mtime_ns}"
    try:
        status = os.stat(path)
    except OSError:  # gone or unreadable: content_hash names the file and why
        return f"sha256:{audio.content_hash(path)}"
    stamp = f"{status.st_size}|{status.st_mtime_ns}"
    if recorded.startswith("sha256:") and recorded.endswith(f"|{stamp}"):
        return recorded
    return f"sha256:{audio.content_hash(path)}|{stamp}"


def _same_source(recorded: str, now: str) -> bool:
    """The same audio: the same URL version, or the same local content (a touched or copied file too)."""
    return recorded == now or (recorded.startswith("sha256:") and now.startswith("sha256:")
                               and recorded.split("|")[0] == now.split("|")[0])


def _recorded_source(target: Path, spec) -> str | None:
    """The source a spectrogram file of ``spec`` records; "" where it records none (written
    before 2026-12-04); None where the file is damaged or of other settings: a resumed run
    makes it again (it kept a spectrogram of 1 x 5, or of other mel bands, and said it was done)."""
    try:
        _, made_with = type(spec).load(target)
        with np.load(target, allow_pickle=False) as data:
            source = str(data["source"]) if "source" in data.files else ""
    except (*DAMAGED_FILE_ERRORS, KeyError, FeatureError):
        return None
    return source if made_with == spec else None


def settings_conflict(out: str | os.PathLike, spec) -> str | None:
    """Why ``out`` cannot be resumed with ``spec`` (a :class:`~genrekit.features.LogMelSpec`):
    it holds spectrograms made with other settings. None when it can (empty, or the same).

    Parameters
    ----------
    out : path
        The output folder a run would write to.
    spec : LogMelSpec
        The settings the run would use.

    Returns
    -------
    str or None
        The reason, naming ``out`` and its settings. None also when ``out/run.json`` is
        missing, unreadable, or not a log-mel run's record, where ``out`` holds no spectrogram
        (each one is checked against ``spec`` as the run resumes, and made again where it differs).
    """
    out = Path(out)
    try:
        before = json.loads((out / RUN_FILE).read_text())
    except (OSError, ValueError, RecursionError):  # RecursionError: a damaged record nested past Python's stack
        before = None
    if not isinstance(before, dict) and any((out / FOLDER).rglob("*.npz")):
        return (f"{out}: holds log-mel spectrograms whose run record ({RUN_FILE}) is missing or damaged, so their "
                "settings are unknown; expected an empty folder or one of the same settings")
    params = json.loads(spec.to_json())
    if isinstance(before, dict) and before.get("features") == "logmel" and before.get("params") not in (None, params):
        return (f"{out}: holds log-mel spectrograms made with other settings ({before.get('params')}); "
                "expected an empty folder or one of the same settings")
    return None


def spectrogram_name(track_id: str) -> Path:
    """A relative ``.npz`` name for ``track_id`` that stays inside the folder it is joined to:
    a manifest's id may be an absolute path, a Windows path or hold ``..``."""
    parts = [part for part in PurePosixPath(track_id.replace("\\", "/")).parts
             if part not in ("/", ".", "..") and not part.endswith(":")]
    return Path(*parts[:-1], f"{parts[-1] if parts else 'track'}.npz")


def spectrogram_names(track_ids: list[str]) -> dict[str, Path]:
    """:func:`spectrogram_name` of each id, made distinct: where ids clash once cleaned (``x``
    and ``../x``, ``C:/x`` and ``x``), each clashing id but one kept as it was gets
    ``-<8 hex digits of its SHA-256>`` (a second track was "resumed" from the first's file)."""
    import hashlib

    names = {track_id: spectrogram_name(track_id) for track_id in dict.fromkeys(track_ids)}
    clashes: dict[Path, list[str]] = {}
    for track_id, name in names.items():
        clashes.setdefault(name, []).append(track_id)
    for name, ids in clashes.items():
        if len(ids) < 2:
            continue
        plain = [i for i in ids if spectrogram_name(i).with_suffix("").as_posix() == i.replace("\\", "/")]
        for track_id in ids if len(plain) != 1 else [i for i in ids if i != plain[0]]:
            digest = hashlib.sha256(track_id.encode("utf-8", "surrogateescape")).hexdigest()[:8]
            names[track_id] = name.with_name(f"{name.stem}-{digest}.npz")
    return names


def write_spectrograms(dataset: Dataset, out: str | os.PathLike, spec, *, progress: bool = True) -> SpectrogramRun:
    """One ``<out>/logmel/<track_id>.npz`` per track (:func:`spectrogram_names`; the spectrogram ``S``, ``(n_mels,
    n_frames)`` float32, and ``spec``'s parameters), then ``<out>/run.json`` (what ran, with
    every file that failed and why).

    Files already there are kept, so an interrupted run resumes, unless they came from other
    audio than the track's file holds now (each records its source: a local file's SHA-256,
    hashed again only where its size or modification time changed; a URL's size and
    modification time; files written before 2026-12-04 record none and are kept), or cannot
    be opened (a write cut short); each new one is written atomically. A track that cannot be
    decoded, or whose file cannot be written, is listed in ``failures`` and the run goes on.

    Parameters
    ----------
    dataset : Dataset
    out : path
        The output folder; see :func:`settings_conflict` before resuming into one.
    spec : LogMelSpec
        Sample rate, FFT size, hop and mel bands.
    progress : bool
        Show a progress bar.

    Returns
    -------
    SpectrogramRun

    Raises
    ------
    ParameterError
        ``out`` holds spectrograms of other settings (:func:`settings_conflict`), or another
        run is writing there (it holds :data:`~genrekit.datasets.table.FEATURES_LOCK`).
    """
    check_flags(progress=progress)
    out = Path(out)
    with features_lock(out):  # one run at a time: another's settings, or its tracks removed as gone
        if conflict := settings_conflict(out, spec):
            raise ParameterError(conflict)
        return _write_spectrograms(dataset, out, spec, progress=progress)


def _write_spectrograms(dataset: Dataset, out: Path, spec, *, progress: bool) -> SpectrogramRun:
    from rich.progress import Progress

    from genrekit import audio

    folder = out / FOLDER
    failures: dict[str, str] = {}
    failed: set[str] = set()  # track ids; failures is by path, which a multi-genre file's copies share
    undecodable: set[str] = set()
    last = None  # (path, spectrogram): a multi-genre file's copies follow each other, so it is decoded once
    source = None  # (path, its identity), likewise
    record = {"command": "features", "genrekit_version": __version__, "features": "logmel",
              "params": json.loads(spec.to_json()), "dataset": dataset.name}
    # the settings go down before the first spectrogram: a run stopped midway is resumed with them or refused
    # (settings_conflict), never finished with others
    folder.mkdir(parents=True, exist_ok=True)
    write_json(out / RUN_FILE, {**record, "n_tracks": None, "complete": False})
    names = spectrogram_names([track.track_id for track in dataset.tracks])
    with Progress(disable=not progress) as bar:
        task = bar.add_task("logmel", total=len(dataset.tracks))
        for track in dataset.tracks:
            target = folder / names[track.track_id]
            if track.path in undecodable:  # a multi-genre file's copy: its file failed already
                failed.add(track.track_id)
                bar.advance(task)
                continue
            try:
                recorded = _recorded_source(target, spec) if target.exists() else None
                if source is None or source[0] != track.path:
                    source = track.path, _source_identity(track.path, recorded or "")
                if recorded is None or not (recorded == "" or _same_source(recorded, source[1])):  # resume: kept
                    if last is None or last[0] != track.path:
                        y, sr = audio.load(track.path, sr=spec.sample_rate)
                        last = track.path, spec.compute(y, sr)
                    with atomic_path(target) as temporary:
                        spec.save(temporary, last[1], source=source[1])
            except GenrekitError as exc:
                failures[track.path] = str(exc)
                failed.add(track.track_id)
                undecodable.add(track.path)
                target.unlink(missing_ok=True)  # an earlier run's, of audio that no longer decodes: not this one's
            except OSError as exc:  # e.g. a track id too long for a file name: the others go on
                failures[track.path] = f"{target}: cannot write the spectrogram ({exc.strerror or exc})"
                failed.add(track.track_id)
            bar.advance(task)
    written = len(dataset.tracks) - len(failed)
    wanted = {Path(name) for name in names.values()}
    gone = [entry for entry in folder.rglob("*.npz") if entry.is_file() and entry.relative_to(folder) not in wanted]
    for entry in gone:  # an earlier run's tracks no longer in the dataset: read with the folder, they were trained on
        entry.unlink(missing_ok=True)  # (and a killed run's temporaries, at any depth: this run holds the lock)
    gone = [entry for entry in gone if temporary_target(entry.name) is None]
    if gone:
        logger.warning("%s: removed %d spectrogram(s) of tracks no longer in the dataset", folder, len(gone))
    write_json(out / RUN_FILE, {**record, "n_tracks": written, "complete": True, "failures": failures,
                                "problems": dataset.problem_records()})
    return SpectrogramRun(folder=folder, written=written, failures=failures)
