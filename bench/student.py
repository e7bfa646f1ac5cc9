"""Issue 20: MTT_musicnn's features predicted from MSD_musicnn's, so the default model
computes one tagger instead of two.

The shipped default reads both musicnn taggers' features (500 per 3 s patch). MTT_musicnn
takes about three quarters of the network's multiply-adds (502 M of its front end's 656 M
per patch). This measures whether a small student, fed what MSD_musicnn computes anyway
(its front and mid end pooled over time, 1506 values per patch), can stand in for
MTT_musicnn's 250 features (embedding and tag logits) without changing the default's answers.

Audio (16 kHz, cut into the 30 s segments ``predict`` cuts, each at -20 dBFS as the default
hears it):

- training (no labels are read: the teacher, MTT_musicnn, labels every patch): gtzan-mini's
  clips 0-5 of each genre, gtzan-dev's clips 10-39, one copy of each shifted by 1-3 semitones,
  and mixtures of random pairs of these clips; every training segment's patches also from
  0.75, 1.5 and 2.25 s on;
- held out (never trained on, never used for a choice): gtzan-mini's clips 6-7 of each genre,
  gtzan-dev's clips 40-49, and the 28 tracks of immich-memories-music.

Students: ridge regression and one-hidden-layer MLPs, each stopped early on the error on its
own fifth of the training clips (and the tracks made only of them), held out from its fit.
The kept student, decided before any held-out audio was scored, is four such MLPs averaged,
each with its own fifth (the first recipe, commit 82420f7, kept one MLP and moved by seed).
The GTZAN clips held out from the student were in the shipped head's training set; immich's
tracks are new to both. Reported: the shipped default's head (``default-model.genrekit``) on
the true features and on the student's, per 30 s segment and per track (segment
probabilities averaged): the same top genre, the same styles and music/non-music decision,
the largest probability difference; CPU-seconds per 30 s of both taggers and of MSD_musicnn
alone in onnxruntime (one core, one thread). Results: ``bench/results/student/mtt_from_msd-bagged.json``:

    python bench/student.py
    python bench/student.py --table

``--grouped-cv`` then runs bench/trust.py's ``--combined`` protocol (the shipped estimator,
grouped 4-fold CV on gtzan-mini + gtzan-dev at -20 dBFS) on MSD_musicnn's features and the
kept student's; ``bench/results/student/grouped_cv-bagged.json``:

    python bench/student.py --grouped-cv

``--control-variate`` asks what running MTT_musicnn on every 2nd to 5th patch and the student
on the others would give: the shipped head on the held-out segments, the student's mean
corrected by the teacher on those patches (a control variate), against the teacher's patches
alone; CPU projected from the run's timing (``control_variate-bagged.json``). ``--grouped-cv
--stride S`` scores the same with MTT_musicnn on every S-th patch (``grouped_cv-strideS-bagged.json``):

    python bench/student.py --control-variate
    python bench/student.py --grouped-cv --stride 3

``--grouped-cv --stride 3 --shipped`` scores the student genrekit ships (the light default's,
``MTT_student.safetensors``) instead of the last run's (``grouped_cv-stride3-shipped.json``);
it needs no run first:

    python bench/student.py --grouped-cv --stride 3 --shipped

``--seed N`` (every command) draws the mixtures, the pitch shifts, the inner splits and the
MLPs' initial weights again; the held-out audio stays the same; results ``...-bagged-seedN.json``.

About 20 minutes on a 2-core machine; the patches' teacher outputs are cached in
``bench/out/student/`` (delete it after changing the audio). The table breaks the training
audio down by source, and adds up issue 20's agreement files (gtzan-mini's 80 clips, the
first 60 heard unlabelled in training, and immich-memories-music's 28 tracks). Needs
../shared/data and the immich-memories-music package (the test extra).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import header, read_result, result_path, write_result  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
CACHE = ROOT / "bench" / "out" / "student"
SEED = 0  # --seed: the mixtures, the inner split and the MLP's initial weights


def _named(name: str) -> str:
    """``name`` for this recipe and seed: ``stem-bagged.ext`` for seed 0, ``stem-bagged-seedN.ext``
    otherwise (the first recipe's files, commit 82420f7, keep their names)."""
    stem, dot, ext = name.rpartition(".")
    return f"{stem}-bagged{dot}{ext}" if SEED == 0 else f"{stem}-bagged-seed{SEED}{dot}{ext}"


LEVEL = -20.0
N_MIXTURES = 240
VIEWS = 4  # each training segment's patches from 0, 0.75, 1.5 and 2.25 s on
PITCH_STEPS = (-3, -2, -1, 1, 2, 3)  # one pitch-shifted copy of each training clip, by one of these semitones
MEMBERS = 4  # MLPs averaged, each stopped early on its own fifth of the training clips


def _signals() -> dict[str, dict[str, np.ndarray]]:
    """{"train": {name: signal}, "gtzan-mini 6-7": ..., "gtzan-dev 40-49": ..., "immich": ...}: 16 kHz."""
    from genrekit import audio

    sets: dict[str, dict[str, np.ndarray]] = {"train": {}, "gtzan-mini 6-7": {}, "gtzan-dev 40-49": {}, "immich": {}}
    for split, held_from in (("gtzan-mini", 6), ("gtzan-dev", 40)):
        for path in sorted((DATA / split / "genres").rglob("*.*")):
            if path.suffix not in (".au", ".wav", ".flac"):
                continue
            number = int(path.stem.rsplit(".", 1)[1])
            part = "train" if number < held_from else f"{split} {held_from}-{held_from + (1 if split == 'gtzan-mini' else 9)}"
            sets[part][path.stem] = audio.load(path, sr=16000)[0]
    import immich_memories_music

    for path in sorted(Path(immich_memories_music.tracks_dir()).glob("*/*.opus")):
        sets["immich"][path.stem] = audio.load(path, sr=16000)[0]
    rng = np.random.default_rng(SEED)
    names = sorted(sets["train"])
    for i in range(N_MIXTURES):  # unlabelled mixtures: the teacher labels any audio
        first, second = (names[j] for j in rng.choice(len(names), 2, replace=False))
        a, b = sets["train"][first], sets["train"][second]
        n = min(len(a), len(b))
        gain = 10 ** (rng.uniform(-6, 6) / 20)
        sets["train"][f"mix{i:03d}+{first}+{second}"] = (a[:n] + gain * b[:n]).astype(np.float32)
    import librosa

    for name in names:  # the same music in another key: timbre the clips alone do not show
        steps = int(rng.choice(PITCH_STEPS))
        shifted = librosa.effects.pitch_shift(sets["train"][name], sr=16000, n_steps=steps)
        sets["train"][f"pitch{steps:+d}+{name}"] = shifted.astype(np.float32)
    return sets


def _clips_of(track: str) -> set[str]:
    """The clips a training track is made of: itself, a mixture's two, or a pitch-shifted copy's one."""
    return set(track.split("+")[1:]) if track.startswith(("mix", "pitch")) else {track}


def _segments(y: np.ndarray) -> list[np.ndarray]:
    """The default's 30 s segments of a signal (as ``predict`` cuts a song), each at LEVEL."""
    from genrekit.audio.chunking import SKIP_SECONDS, analysed_span
    from genrekit.audio.level import at_level

    sr, size = 16000, 30 * 16000
    start, end = analysed_span(len(y) / sr, skip=SKIP_SECONDS, chunk_seconds=30.0)  # a long song's intro and outro off
    y = y[int(round(start * sr)): int(round(end * sr))]
    starts = range(0, max(1, len(y) - size // 2), size)
    return [at_level(y[s: s + size], LEVEL) for s in starts if len(y[s: s + size]) >= sr]


def _teacher(patches: np.ndarray) -> dict[str, np.ndarray]:
    """Per patch: MSD_musicnn's pooled front/mid end (1506), its embedding and tags (250), and
    MTT_musicnn's embedding and tag logits (250)."""
    import torch

    from genrekit.features.musicnn import load_musicnn, taggers_in_onnxruntime

    msd, _ = load_musicnn("MSD_musicnn")
    with torch.inference_mode():
        pooled = msd.pooled(torch.from_numpy(patches))
        embedding, logits = msd.back_end(pooled)
        tags = torch.sigmoid(logits)
    both = taggers_in_onnxruntime(patches)
    mtt_tags = np.clip(both[:, 450:].astype(np.float64), 1e-7, 1 - 1e-7)
    return {"pooled": pooled.numpy(), "msd": np.hstack([embedding.numpy(), tags.numpy()]),
            "mtt": np.hstack([both[:, 250:450], np.log(mtt_tags / (1 - mtt_tags))]).astype(np.float32),
            "both": both}


def _patch_table(sets) -> dict:
    """Every segment's patches and teacher outputs, cached."""
    from rich.progress import track as progress

    from genrekit.features.musicnn import PATCH_FRAMES, log_mel_patches

    cache = CACHE / _named("patches.npz")
    if cache.exists():
        with np.load(cache, allow_pickle=False) as stored:
            return dict(stored)
    rows: dict[str, list] = {k: [] for k in ("pooled", "msd", "mtt", "both", "set", "track", "segment")}
    jobs = [(part, name, y) for part, signals in sets.items() for name, y in signals.items()]
    for part, name, y in progress(jobs, description="teacher outputs"):
        for index, segment in enumerate(_segments(y)):
            patches = [log_mel_patches(segment, sr=16000)]
            if part == "train":  # the same audio a quarter patch later, and so on: other patches
                patches += [log_mel_patches(segment[view * PATCH_FRAMES * 64:], sr=16000) for view in range(1, VIEWS)]
            for offset, p in enumerate(patches):
                out = _teacher(p)
                for key in ("pooled", "msd", "mtt", "both"):
                    rows[key].append(out[key])
                rows["set"] += [part] * len(p)
                rows["track"] += [name] * len(p)
                rows["segment"] += [index if offset == 0 else -1] * len(p)  # -1: an extra training view
    table = {k: (np.concatenate(v) if k in ("pooled", "msd", "mtt", "both") else np.array(v)) for k, v in rows.items()}
    CACHE.mkdir(parents=True, exist_ok=True)
    temporary = CACHE / ".patches.tmp.npz"
    np.savez(temporary, **table)
    os.replace(temporary, cache)
    return table


class _Standard:
    def __init__(self, X: np.ndarray):
        self.mean, self.scale = X.mean(axis=0), X.std(axis=0)
        self.keep = self.scale > 1e-6 * max(1e-12, float(self.scale.max()))

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return ((X - self.mean) / np.where(self.keep, self.scale, 1.0))[:, self.keep]


def _ridge(X, Y, alpha: float):
    A = X.T @ X + alpha * np.eye(X.shape[1])
    W = np.linalg.solve(A, X.T @ Y)
    return lambda Z: Z @ W


def _mlp(X, Y, Xv, Yv, hidden: int = 512, epochs: int = 120, seed: int | None = None, tag_weight: float = 1.0):
    """An MLP fitted by mean squared error, the last 50 outputs (MTT's tag logits, which
    styles read) weighted ``tag_weight`` times; the epoch of the least weighted validation error kept."""
    import torch

    seed = SEED if seed is None else seed
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(X.shape[1], hidden), torch.nn.GELU(), torch.nn.Dropout(0.2),
                              torch.nn.Linear(hidden, Y.shape[1]))
    optimiser = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-2)
    Xt, Yt = torch.from_numpy(X.astype(np.float32)), torch.from_numpy(Y.astype(np.float32))
    Xv_t, Yv_t = torch.from_numpy(Xv.astype(np.float32)), torch.from_numpy(Yv.astype(np.float32))
    weights = torch.ones(Y.shape[1])
    weights[-50:] = tag_weight
    best, best_state, rng = float("inf"), None, np.random.default_rng(seed)
    for _ in range(epochs):
        net.train()
        for batch in np.array_split(rng.permutation(len(Xt)), max(1, len(Xt) // 128)):
            optimiser.zero_grad()
            loss = torch.mean(weights * (net(Xt[batch]) - Yt[batch]) ** 2)
            loss.backward()
            optimiser.step()
        net.eval()
        with torch.no_grad():
            error = float(torch.mean(weights * (net(Xv_t) - Yv_t) ** 2))
        if error < best:
            best, best_state = error, {k: v.clone() for k, v in net.state_dict().items()}
    net.load_state_dict(best_state)

    def predict(Z):
        with torch.no_grad():
            return net(torch.from_numpy(Z.astype(np.float32))).numpy().astype(np.float64)
    predict.net = net
    return predict


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _cpu_per_30s() -> dict[str, float]:
    """Both taggers and MSD_musicnn alone in onnxruntime, one core and one thread, on the
    held-out gtzan-mini segments' patches (best of 3)."""
    import onnxruntime as ort
    from threadpoolctl import threadpool_limits

    from genrekit.export.onnx import _patches_to_onnx
    from genrekit.features.musicnn import load_musicnn
    from genrekit.features.musicnn.network import PatchFeatures

    os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})
    threadpool_limits(limits=1)
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.enable_mem_pattern = False
    msd_only = ort.InferenceSession(_patches_to_onnx(PatchFeatures([load_musicnn("MSD_musicnn")[0]]).eval(), ["features"],
                                                     "MSD_musicnn").SerializeToString(), options,
                                    providers=["CPUExecutionProvider"])
    from genrekit.features.musicnn import log_mel_patches

    signals = _signals_for_timing()
    patches = [log_mel_patches(y, sr=16000) for y in signals]
    seconds = sum(len(y) for y in signals) / 16000

    from importlib import resources

    from genrekit.features.musicnn import TAGGERS_GRAPH

    with resources.as_file(resources.files("genrekit").joinpath(*TAGGERS_GRAPH)) as graph:
        both_taggers = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])

    def both(p):
        return both_taggers.run(["features"], {"patches": p, "pooling": np.eye(len(p), dtype=np.float32)})[0]

    def msd(p):
        return msd_only.run(["features"], {"patches": p, "pooling": np.eye(len(p), dtype=np.float32)})[0]

    out = {}
    for name, way in (("both taggers", both), ("MSD_musicnn alone", msd)):
        way(patches[0])
        best = float("inf")
        for _ in range(3):
            started = time.process_time()
            for p in patches:
                way(p)
            best = min(best, time.process_time() - started)
        out[name] = 30 * best / seconds
    return out


def _signals_for_timing() -> list[np.ndarray]:
    from genrekit import audio

    paths = [p for p in sorted((DATA / "gtzan-mini" / "genres").rglob("*.*"))
             if p.suffix in (".au", ".wav") and int(p.stem.rsplit(".", 1)[1]) >= 6]
    return [at for p in paths for at in _segments(audio.load(p, sr=16000)[0])]


def run() -> dict:
    from genrekit.models import default_model_path, load_model

    if not (DATA / "gtzan-mini").is_dir():
        sys.exit(f"gtzan-mini not found under {DATA}: this benchmark needs ../shared/data")
    sets = _signals()
    table = _patch_table(sets)
    train = table["set"] == "train"
    scale_x = _Standard(table["pooled"][train].astype(np.float64))  # no labels: the whole training audio
    scale_y = _Standard(table["mtt"][train].astype(np.float64))
    assert scale_y.keep.all()
    X_all, Y_all = scale_x(table["pooled"].astype(np.float64)), scale_y(table["mtt"].astype(np.float64))
    # each member's inner validation: a fifth of the training clips, and the tracks made only of
    # them (mixtures, pitch-shifted copies); mixtures of such a clip and a fitted one are used for neither
    clips = sorted({t for t in np.unique(table["track"][train]) if not t.startswith(("mix", "pitch"))})
    students, choice, members = {}, {}, []
    for member in range(MEMBERS):
        held = set(np.random.default_rng([SEED, member]).choice(clips, len(clips) // 5, replace=False).tolist())
        side = {t: ("val" if _clips_of(t) <= held else "fit" if not _clips_of(t) & held else "neither")
                for t in np.unique(table["track"][train])}
        inner_val = train & np.array([side.get(t) == "val" for t in table["track"]])
        fit_rows = train & np.array([side.get(t) == "fit" for t in table["track"]])
        X, Xv, Y, Yv = X_all[fit_rows], X_all[inner_val], Y_all[fit_rows], Y_all[inner_val]
        members.append(_mlp(X, Y, Xv, Yv, seed=1000 * SEED + member))
        choice[f"MLP 512, member {member} (on its own fifth)"] = float(np.mean((members[-1](Xv) - Yv) ** 2))
        if member == 0:  # the single students, compared on member 0's fifth
            for alpha in (1.0, 10.0, 100.0, 1000.0):
                students[f"ridge alpha={alpha:g}"] = _ridge(X, Y, alpha)
                choice[f"ridge alpha={alpha:g}"] = float(np.mean((students[f"ridge alpha={alpha:g}"](Xv) - Yv) ** 2))
            students["MLP 512 (member 0 alone)"] = members[0]
    for name, error in choice.items():
        print(f"{name}: inner validation MSE {error:.4f} (standardised)", flush=True)
    chosen = f"MLP 512 x{MEMBERS}, averaged"  # kept before any held-out audio was scored

    def averaged(Z):
        return np.mean([m(Z) for m in members], axis=0)
    students[chosen] = averaged

    # the training audio by source, for the table
    names = table["track"]
    source = table["set"].astype(object).copy()
    number = np.array([-1 if n.startswith(("mix", "pitch")) else int(n.rsplit(".", 1)[1]) if "." in n else -1 for n in names])
    source[train & np.char.startswith(names.astype(str), "mix")] = "train: mixtures"
    source[train & np.char.startswith(names.astype(str), "pitch")] = "train: pitch-shifted"
    source[train & (number >= 0) & (number < 10)] = "train: gtzan-mini 0-5"
    source[train & (number >= 10)] = "train: gtzan-dev 10-39"
    table = {**table, "set": source.astype(str)}
    CACHE.mkdir(parents=True, exist_ok=True)
    torch_state = {f"member{k}.{key}": v.numpy() for k, m in enumerate(members) for key, v in m.net.state_dict().items()}
    np.savez(CACHE / _named("student.npz"), x_mean=scale_x.mean, x_scale=scale_x.scale, x_keep=scale_x.keep,
             y_mean=scale_y.mean, y_scale=scale_y.scale, name=chosen, **torch_state)
    head = load_model(default_model_path(onnx=False))
    from genrekit.models.music import detector_columns, music_probability, music_threshold
    from genrekit.models.styles import style_columns, style_probabilities, thresholds

    columns = list(head.spec.columns)
    mapping, limits = style_columns(columns), thresholds(LEVEL)
    detector, music_cut = detector_columns(columns, LEVEL), music_threshold()

    def style_sets(rows):  # the styles present in each row, as predict reports them
        return [frozenset(s for s, p in zip(mapping, row) if p >= limits[s]) for row in style_probabilities(rows, mapping)]
    labels = head.labels
    rows = []
    segment_rows = table["segment"] >= 0
    for name, student in students.items():
        predicted = student(X_all) * scale_y.scale + scale_y.mean
        mtt = np.hstack([predicted[:, :200], _sigmoid(predicted[:, 200:])])
        features = np.hstack([table["msd"], mtt])
        for part in ("train: gtzan-mini 0-5", "train: gtzan-dev 10-39", "train: mixtures", "train: pitch-shifted", "gtzan-mini 6-7",
                     "gtzan-dev 40-49", "immich"):
            keep = (table["set"] == part) & segment_rows
            if not keep.any():
                sys.exit(f"no segments of {part!r}: its audio was not found")
            keys = [f"{t}#{s}" for t, s in zip(table["track"][keep], table["segment"][keep])]
            order = sorted(set(keys))
            index = {k: i for i, k in enumerate(order)}
            which = np.array([index[k] for k in keys])
            pooling = np.zeros((len(order), keep.sum()))
            pooling[which, np.arange(keep.sum())] = 1
            pooling /= pooling.sum(axis=1, keepdims=True)
            true_rows = pooling @ table["both"][keep].astype(np.float64)
            student_rows = pooling @ features[keep]
            p_true, p_student = head.estimator.predict_proba(true_rows), head.estimator.predict_proba(student_rows)
            same_styles = sum(a == b for a, b in zip(style_sets(true_rows), style_sets(student_rows)))
            same_music = int(((music_probability(true_rows, detector, LEVEL) >= music_cut)
                              == (music_probability(student_rows, detector, LEVEL) >= music_cut)).sum())
            track_of = np.array([k.split("#")[0] for k in order])
            names = sorted(set(track_of))
            t_true = np.array([p_true[track_of == t].mean(axis=0) for t in names])
            t_student = np.array([p_student[track_of == t].mean(axis=0) for t in names])
            rows.append({"student": name, "audio": part, "segments": len(order), "tracks": len(names),
                         "same_top_genre_segments": int((p_true.argmax(1) == p_student.argmax(1)).sum()),
                         "same_top_genre_tracks": int((t_true.argmax(1) == t_student.argmax(1)).sum()),
                         "same_styles_segments": int(same_styles), "same_music_decision_segments": same_music,
                         "max_probability_difference": float(np.abs(p_true - p_student).max()),
                         "mtt_tag_max_difference": float(np.abs(pooling @ (mtt[keep][:, 200:] - table["both"][keep][:, 450:])).max())})
            print(rows[-1], flush=True)
    speed = _cpu_per_30s()
    print(speed, flush=True)
    data = {"labels": labels, "train_patches": int(train.sum()), "inner_validation_mse": choice,
            "cpu_s_per_30s_network": speed, "mixtures": N_MIXTURES, "level_dbfs": LEVEL,
            "note": "agreement: the shipped head on the student's MTT features against the true ones; "
                    "CPU: onnxruntime, one core and one thread, the network alone (log-mel and decoding excluded)"}
    return write_result(result_path("student/" + _named("mtt_from_msd.json")), "MTT_musicnn's features from MSD_musicnn's (issue 20)",
                        data, rows=rows)


def _student():
    """The kept student of the last ``run`` (``bench/out/student/student-bagged.npz``): a function
    from MSD_musicnn's pooled front and mid end (patches x 1506) to MTT_musicnn's embedding and
    tag logits (patches x 250), and the file's name for the student."""
    import torch

    stored = dict(np.load(CACHE / _named("student.npz"), allow_pickle=False))
    nets = []
    for member in sorted({k.split(".")[0] for k in stored if k.startswith(("member", "net."))}):  # "net": one MLP
        hidden, outputs = stored[f"{member}.0.weight"].shape[0], stored[f"{member}.3.weight"].shape[0]
        net = torch.nn.Sequential(torch.nn.Linear(int(stored["x_keep"].sum()), hidden), torch.nn.GELU(),
                                  torch.nn.Dropout(0.2), torch.nn.Linear(hidden, outputs)).eval()
        net.load_state_dict({k[len(member) + 1:]: torch.from_numpy(v) for k, v in stored.items()
                             if k.startswith(member + ".")})
        nets.append(net)

    def predict(pooled: np.ndarray) -> np.ndarray:
        X = (pooled.astype(np.float64) - stored["x_mean"]) / np.where(stored["x_keep"], stored["x_scale"], 1.0)
        with torch.inference_mode():
            X = torch.from_numpy(X[:, stored["x_keep"]].astype(np.float32))
            return np.mean([net(X).numpy() for net in nets], axis=0) * stored["y_scale"] + stored["y_mean"]
    return predict, str(stored["name"])


def _shipped_student():
    """The student genrekit ships (``MTT_student.safetensors``, the folded form the light
    default runs), as :func:`_student` gives the last run's, and its name."""
    import torch

    from genrekit.features.musicnn import STUDENT, load_student

    student = load_student()

    def predict(pooled: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return student(torch.from_numpy(np.ascontiguousarray(pooled, dtype=np.float32))).numpy().astype(np.float64)
    return predict, f"{STUDENT}.safetensors as shipped"


def _corrected(student_rows: np.ndarray, true_rows: np.ndarray, stride: int) -> np.ndarray:
    """One segment's patch rows (MSD's 250 features, then MTT's embedding and tag probabilities)
    with MTT's part moved by the mean of (teacher - student) over every ``stride``-th patch, so
    that their mean is the student's mean corrected by the teacher on those patches (a control
    variate), whose mean is :class:`genrekit.features.musicnn.network.StridedTaggers`' segment
    row (which also gives the heard patches their own values); the means' tag probabilities are
    then kept within [0, 1] (``_pooled_tags``). ``stride`` 0: the student alone."""
    rows = student_rows.copy()
    if stride:
        rows[:, 250:] += (true_rows[::stride, 250:] - student_rows[::stride, 250:]).mean(axis=0)
    return rows


def _pooled_tags(rows: np.ndarray) -> np.ndarray:
    """Pooled feature rows with MTT's tag probabilities kept within [0, 1]."""
    rows = rows.copy()
    rows[:, 450:] = np.clip(rows[:, 450:], 0.0, 1.0)
    return rows


def control_variate() -> dict:
    """The shipped head on each held-out 30 s segment's features with MTT_musicnn computed on
    every ``stride``-th patch only: the student's mean corrected by the teacher on those
    patches (``_corrected``), against the teacher's patches alone (the mean of every
    ``stride``-th, no student), both against every patch's true features. CPU projected from
    the last ``run``'s timing of both taggers and of MSD_musicnn alone."""
    from genrekit.models import default_model_path, load_model

    table = dict(np.load(CACHE / _named("patches.npz"), allow_pickle=False))
    timing = read_result(result_path("student/" + _named("mtt_from_msd.json")))["data"]["cpu_s_per_30s_network"]
    predict, name = _student()
    mtt = predict(table["pooled"])
    student_rows = np.hstack([table["msd"], mtt[:, :200], _sigmoid(mtt[:, 200:])])
    true_rows = table["both"].astype(np.float64)
    head = load_model(default_model_path(onnx=False))
    rows = []
    for part in ("gtzan-mini 6-7", "gtzan-dev 40-49", "immich"):
        keep = np.flatnonzero((table["set"] == part) & (table["segment"] >= 0))
        keys = np.array([f"{t}#{s}" for t, s in zip(table["track"][keep], table["segment"][keep])])
        segments = [keep[keys == k] for k in dict.fromkeys(keys)]
        track_of = np.array([k.split("#")[0] for k in dict.fromkeys(keys)])
        reference = np.array([true_rows[i].mean(axis=0) for i in segments])
        p_reference = head.estimator.predict_proba(reference)
        for stride in STRIDES:
            ways = {"student, corrected": _pooled_tags(np.array([_corrected(student_rows[i], true_rows[i], stride).mean(axis=0)
                                                                 for i in segments]))}
            if stride:
                ways["teacher alone"] = np.array([true_rows[i][::stride].mean(axis=0) for i in segments])
            for way, estimate in ways.items():
                p = head.estimator.predict_proba(estimate)
                tracks = sorted(set(track_of))
                t_ref = np.array([p_reference[track_of == t].mean(axis=0) for t in tracks])
                t_est = np.array([p[track_of == t].mean(axis=0) for t in tracks])
                share = np.mean([len(i[::stride]) / len(i) for i in segments]) if stride else 0.0
                rows.append({"stride": stride, "way": way, "audio": part, "tracks": len(tracks),
                             "mtt_patch_share": float(share),
                             "same_top_genre_tracks": int((t_ref.argmax(1) == t_est.argmax(1)).sum()),
                             "max_probability_difference": float(np.abs(p - p_reference).max()),
                             "mtt_tag_max_difference": float(np.abs(estimate[:, 450:] - reference[:, 450:]).max())})
                print(rows[-1], flush=True)
    both, msd = timing["both taggers"], timing["MSD_musicnn alone"]
    shares = {r["stride"]: r["mtt_patch_share"] for r in rows if r["audio"] == "immich"}
    projected = {str(stride): msd + (both - msd) * share for stride, share in shares.items()}
    return write_result(result_path("student/" + _named("control_variate.json")),
                        "MTT_musicnn on every stride-th patch, the student between (issue 20)",
                        {"student": name, "network_cpu_s_per_30s_projected": projected,
                         "projection": f"MSD_musicnn alone ({msd:.3f}) + MTT_musicnn's share ({both:.3f} - {msd:.3f}) "
                                       "times the share of patches it runs on (immich's segments), from the last run's "
                                       "timing; the network alone, one core and one thread; not measured",
                         "level_dbfs": LEVEL}, rows=rows)


STRIDES = (0, 2, 3, 4, 5)  # MTT_musicnn on every stride-th patch; 0: never


def _student_tensors() -> dict[str, np.ndarray]:
    """The kept student as :class:`genrekit.features.musicnn.network.TaggerStudent`'s tensors:
    the input's standardisation folded into the first layer (which reads the columns that
    move, ``keep``), the members side by side in one hidden layer, their average and the
    output's scale folded into the last."""
    stored = dict(np.load(CACHE / _named("student.npz"), allow_pickle=False))
    members = sorted({k.split(".")[0] for k in stored if k.startswith("member")})
    keep = np.flatnonzero(stored["x_keep"])
    mean, scale = stored["x_mean"][keep], stored["x_scale"][keep]
    first_w, first_b, last_w, last_b = [], [], [], []
    for member in members:
        w = stored[f"{member}.0.weight"].astype(np.float64) / scale
        first_w.append(w)
        first_b.append(stored[f"{member}.0.bias"] - w @ mean)
        last_w.append(stored[f"{member}.3.weight"] * stored["y_scale"][:, None] / len(members))
        last_b.append(stored[f"{member}.3.bias"] * stored["y_scale"] / len(members))
    as32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)  # noqa: E731
    return {"keep": keep.astype(np.int64), "hidden.weight": as32(np.vstack(first_w)),
            "hidden.bias": as32(np.concatenate(first_b)), "out.weight": as32(np.hstack(last_w)),
            "out.bias": as32(np.sum(last_b, axis=0) + stored["y_mean"])}


def write_weights() -> Path:
    """The kept student (seed 0) into the package: ``genrekit/features/musicnn/weights/MTT_student.safetensors``."""
    import subprocess

    from safetensors.numpy import save_file

    from genrekit._files import atomic_path
    from genrekit.features.musicnn import STUDENT, weights_provenance

    if SEED != 0:
        sys.exit("the package's student is seed 0's: run without --seed")
    tensors = _student_tensors()
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    teacher = weights_provenance("MTT_musicnn")
    metadata = {"teacher": "MTT_musicnn", "reads": "MSD_musicnn", "tags": json.dumps(teacher["tags"]),
                "licence": str(teacher["licence"]), "hidden_units": str(len(tensors["hidden.bias"])),
                "trained": f"python bench/student.py (seed 0) at commit {commit}: four MLPs (1506 -> 512 -> 250, "
                           "GELU) fitted to MTT_musicnn's outputs on unlabelled gtzan-mini and gtzan-dev clips, "
                           "their pitch-shifted copies and mixtures; no genre label read"}
    out = ROOT / "src" / "genrekit" / "features" / "musicnn" / "weights" / f"{STUDENT}.safetensors"
    with atomic_path(out) as temporary:
        save_file(tensors, str(temporary), metadata=metadata)
    return out


def export_default(stride: int) -> Path:
    """A prototype of the default model on these features, for timing: the shipped head on
    MSD_musicnn's features, and MTT_musicnn's from the student corrected on one patch in
    ``stride`` (:class:`genrekit.features.musicnn.network.StridedTaggers`; per call, and
    ``tag`` runs one 30 s segment per call), as one ONNX file with the shipped default's
    manifest. ``bench/out/student/default-strideS-bagged.onnx``."""
    import torch

    from genrekit.export.onnx import _export_musicnn_prior
    from genrekit.features.musicnn import load_musicnn
    from genrekit.features.musicnn.network import StridedTaggers, TaggerStudent
    from genrekit.models import default_model_path, load_model

    tensors = {k: torch.from_numpy(v) for k, v in _student_tensors().items()}
    student = TaggerStudent(tensors["keep"], len(tensors["hidden.bias"]), len(tensors["out.bias"]))
    student.load_state_dict(tensors)
    features = StridedTaggers(load_musicnn("MSD_musicnn")[0], load_musicnn("MTT_musicnn")[0], student.eval())
    return _export_musicnn_prior(load_model(default_model_path(onnx=False)), CACHE / _named(f"default-stride{stride}.onnx"),
                                 features, f"MTT_musicnn on one patch in {stride}, bench/student.py's student "
                                           f"(seed {SEED}) between (a prototype of genrekit export --light)",
                                 heard_stride=stride)


def grouped_cv(stride: int = 0, shipped: bool = False) -> dict:
    """The shipped estimator's grouped 4-fold CV on gtzan-mini + gtzan-dev (bench/trust.py's
    ``--combined`` protocol at -20 dBFS, the shipped default's) with MTT_musicnn's features
    from the student ``run`` kept (``shipped``: the package's student) instead of the network;
    with ``stride``, corrected by the network on every ``stride``-th patch of each clip
    (``_corrected``). The student heard most of these clips in training (never their labels)."""
    import torch

    import trust
    from genrekit.features.musicnn import STUDENT, embed_patches, load_musicnn, weights_path

    predict, name = _shipped_student() if shipped else _student()
    student_file = weights_path("MSD_musicnn").parent / f"{STUDENT}.safetensors" if shipped else CACHE / _named("student.npz")
    msd, _ = load_musicnn("MSD_musicnn")

    def student_features(patches: np.ndarray) -> dict[str, np.ndarray]:
        with torch.inference_mode():
            pooled = msd.pooled(torch.from_numpy(patches))
            embedding, logits = msd.back_end(pooled)
            tags = torch.sigmoid(logits)
        mtt = predict(pooled.numpy())
        rows = np.hstack([embedding.numpy(), tags.numpy(), mtt[:, :200], _sigmoid(mtt[:, 200:])])
        if stride:
            true_rows = np.zeros_like(rows)
            true_rows[::stride, 250:] = np.hstack(embed_patches(patches[::stride], "MTT_musicnn"))
            rows = _corrected(rows, true_rows, stride)
            # trust averages a clip's rows: move them so that the mean's tags are clamped as the graph's are
            rows[:, 450:] += _pooled_tags(rows.mean(axis=0, keepdims=True))[0, 450:] - rows[:, 450:].mean(axis=0)
        return {"msd_embedding": rows[:, :200], "msd_tags": rows[:, 200:250], "mtt_embedding": rows[:, 250:450],
                "mtt_tags": rows[:, 450:]}

    import hashlib

    trust.AT_LEVEL = LEVEL
    trust._write = lambda name, record: None  # recorded below, under this script's name
    trust.COMBINED = [trust.SHIPPED]
    teacher = _protocol_features(trust)  # the teacher's features (bench/trust.py's cache)
    student_id = hashlib.sha256(student_file.read_bytes()).hexdigest()[:16]
    trust.CACHE = CACHE / f"trust-{student_id}-stride{stride}-mean-clamped"  # features of this student and stride only
    trust._patch_features = student_features
    record = trust.run_combined()
    student = _protocol_features(trust)
    y, labels, groups, splits, keep, kept, n_mini = (teacher[k] for k in ("y", "labels", "groups", "splits", "keep",
                                                                           "kept", "n_mini"))

    def answers(fit_X, others) -> np.ndarray:  # the estimator fitted on all 200 clips, as the default is
        return np.exp(trust.SHIPPED.log_proba(fit_X[:, keep], y, others[:, keep], kept, labels, groups))
    reference = answers(teacher["X"], teacher["others"])
    refitted = answers(student["X"], student["others"])  # a head fitted on these features
    kept_head = answers(teacher["X"], student["others"])  # the head fitted on the teacher's, fed these
    mixed = np.zeros((len(y), len(labels)))  # grouped CV: each fold's head fitted on the teacher's features
    for train, test in splits:
        mixed[test] = trust.SHIPPED.log_proba(teacher["X"][train][:, keep], y[train], student["X"][test][:, keep],
                                              kept, labels, groups[train])
    light_temperature = np.zeros((len(y), len(labels)))  # the same, its temperature fitted on these features
    temperatures = []
    for train, test in splits:
        light_temperature[test], temperature = _light_temperature(
            teacher["X"][train][:, keep], student["X"][train][:, keep], y[train], groups[train],
            student["X"][test][:, keep], kept, labels)
        temperatures.append(temperature)
    way = f"the student corrected by MTT_musicnn on one patch in {stride}" if stride else "the student"

    def agreement(P) -> dict:
        same = reference.argmax(axis=1) == P.argmax(axis=1)
        return {"same_top_genre": {"gtzan-mini": f"{int(same[:n_mini].sum())}/{n_mini}",
                                   "immich": f"{int(same[n_mini:].sum())}/{len(same) - n_mini}"},
                "max_probability_difference": float(np.abs(reference - P).max())}
    rows = [{"candidate": f"{row['candidate']} on MSD_musicnn + {way} ({name})", "stride": stride,
             **{protocol: row[protocol] for protocol in ("grouped", "grouped_calibrated")},
             "grouped_head_on_teacher": trust.scores(mixed, y, labels),
             "grouped_head_on_teacher_temperature_on_these": {**trust.scores(light_temperature, y, labels),
                                                               "temperatures": temperatures},
             "refitted": agreement(refitted), "head_kept": agreement(kept_head)}
            for row in record["rows"]]
    named = _named("grouped_cv.json") if not stride else _named(f"grouped_cv-stride{stride}.json")
    if shipped:
        named = f"grouped_cv-stride{stride}-shipped.json"
    return write_result(result_path("student/" + named), "the shipped estimator on the student's features, "
                        "grouped CV (issue 20)", {"protocol": record["protocol"], "level_dbfs": LEVEL,
                                                  "student": name, "stride": stride,
                                                  "grouped_head_on_teacher": "the same folds, each fold's estimator "
                                                  "fitted on the teacher's features and scored on these",
                                                  "grouped_head_on_teacher_temperature_on_these": "as "
                                                  "grouped_head_on_teacher, each fold's temperature fitted on its "
                                                  "training part's inner out-of-fold logits of these features "
                                                  "(inner heads fitted on the teacher's), as a light export "
                                                  "calibrated for its own features would be",
                                                  "refitted": "the shipped estimator fitted on all 200 clips (as the "
                                                  "default is) on these features, against the same fitted on "
                                                  "the teacher's, on gtzan-mini (trained on) and immich-memories-music "
                                                  "(new to both head and student); each track one clip, as "
                                                  "bench/trust.py --fewer-patches scores them",
                                                  "head_kept": "as refitted, the estimator fitted on the teacher's "
                                                  "features and fed these"}, rows=rows)


def _light_temperature(X_teacher, X_these, y, groups, X_test, columns, labels) -> tuple[np.ndarray, float]:
    """The shipped estimator fitted on the teacher's features ``X_teacher``, its temperature
    refitted on inner out-of-fold logits of ``X_these`` (the same rows as the light graph
    computes them); its log-probabilities on ``X_test`` and that temperature."""
    import trust
    from genrekit.models.calibration import fit_temperature
    from genrekit.models.tagprior import TagPriorClassifier

    # calibrate=False: the temperature fitted on the teacher's logits would be replaced below
    model = TagPriorClassifier(labels, columns, C=trust.SHIPPED.C, prior_weight=trust.SHIPPED.prior_weight,
                               calibrate=False, random_state=trust.SEED).fit(X_teacher, y, groups=groups)
    logits, scored = model._out_of_fold(X_teacher, y, groups, X_scored=X_these)
    model.temperature_ = fit_temperature(logits[scored], y[scored])
    return model.predict_log_proba(X_test), model.temperature_


def _protocol_features(trust) -> dict:
    """The combined protocol's 200 clips (``X``, ``y``, folds) and gtzan-mini then
    immich-memories-music (``others``), pooled from the features ``trust`` computes."""
    X, y, columns, labels, groups, splits = trust.combined_protocol()
    keep = trust.columns_of(columns, trust.SHIPPED.networks)
    mini = trust.clip_features("gtzan-mini")
    immich = trust.signal_features("immich", trust.immich_signals())
    others = np.concatenate([trust.pooled(mini, ("msd", "mtt"))[0], trust.pooled(immich, ("msd", "mtt"))[0]])
    return {"X": X, "y": y, "labels": labels, "groups": groups, "splits": splits, "keep": keep,
            "kept": [c for c, k in zip(columns, keep) if k], "others": others, "n_mini": len(mini["ids"])}


def markdown(record: dict) -> str:
    data = record["data"]
    lines = [header(record), f"{data['train_patches']} training patches; network CPU-s per 30 s: "
             + ", ".join(f"{k} {v:.3f}" for k, v in data["cpu_s_per_30s_network"].items()), "",
             "| student | audio | same top genre: segments | tracks | same styles (segments) | same music/non-music "
             "(segments) | max prob. diff | max MTT tag diff |",
             "|---|---|---|---|---|---|---|---|"]
    for row in record["rows"]:
        if row["audio"] == "train: gtzan-mini 0-5":
            mini = [r for r in record["rows"] if r["student"] == row["student"]
                    and r["audio"] in ("train: gtzan-mini 0-5", "gtzan-mini 6-7", "immich")]
            lines.append(f"| {row['student']} | issue 20's files: gtzan-mini (all 80) and immich | | "
                         f"{sum(r['same_top_genre_tracks'] for r in mini)}/{sum(r['tracks'] for r in mini)} | | | | |")
        lines.append(f"| {row['student']} | {row['audio']} | {row['same_top_genre_segments']}/{row['segments']} | "
                     f"{row['same_top_genre_tracks']}/{row['tracks']} | {row['same_styles_segments']}/{row['segments']} | "
                     f"{row['same_music_decision_segments']}/{row['segments']} | {row['max_probability_difference']:.3f} | "
                     f"{row['mtt_tag_max_difference']:.3f} |")
    return "\n".join(lines)


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", action="store_true", help="print the table of the result file; measure nothing")
    parser.add_argument("--grouped-cv", action="store_true",
                        help="the shipped estimator's grouped CV on the student kept by the last run's features")
    parser.add_argument("--control-variate", action="store_true",
                        help="the shipped head on held-out segments with MTT_musicnn on every 2nd-5th patch, the last "
                             "run's student between; CPU projected")
    parser.add_argument("--stride", type=int, default=0,
                        help="with --grouped-cv: the student corrected by MTT_musicnn on every stride-th patch")
    parser.add_argument("--shipped", action="store_true",
                        help="with --grouped-cv: the student genrekit ships (MTT_student.safetensors, as the light "
                             "default runs it) instead of the last run's; results ...-shipped.json")
    parser.add_argument("--write-weights", action="store_true",
                        help="the last run's kept student (seed 0) into the package, as genrekit's MTT_student")
    parser.add_argument("--export-default", type=int, metavar="STRIDE",
                        help="a prototype default model on MTT_musicnn every STRIDE-th patch and the student, for "
                             "bench/tag_throughput.py --precision --also")
    parser.add_argument("--seed", type=int, default=0,
                        help="another draw of the mixtures, the inner split and the MLP's initial weights "
                             "(results and caches named ...-seedN; the held-out audio stays the same)")
    args = parser.parse_args()
    global SEED
    SEED = args.seed
    if args.stride < 0 or (args.stride and not args.grouped_cv):
        parser.error(f"--stride {args.stride}: expected a positive stride, with --grouped-cv")
    if args.export_default is not None:
        if args.export_default < 1:
            parser.error(f"--export-default {args.export_default}: expected a stride >= 1")
        print(export_default(args.export_default))
        return
    if args.write_weights:
        print(write_weights())
        return
    if args.control_variate:
        record = control_variate()
        print(json.dumps(record["data"]["network_cpu_s_per_30s_projected"], indent=1))
        return
    if args.grouped_cv:
        record = grouped_cv(args.stride, shipped=args.shipped)
        for row in record["rows"]:
            print(row["candidate"])
            for protocol in ("grouped", "grouped_head_on_teacher"):
                print(f"  {protocol}:", {k: round(v, 3) for k, v in row[protocol].items() if isinstance(v, float)})
            for way in ("refitted", "head_kept"):
                print(f"  {way}: same top genre", row[way]["same_top_genre"],
                      f"max prob. diff {row[way]['max_probability_difference']:.3f}")
        return
    print(markdown(read_result(result_path("student/" + _named("mtt_from_msd.json"))) if args.table else run()))


if __name__ == "__main__":
    main()
