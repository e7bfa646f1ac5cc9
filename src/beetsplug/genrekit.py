"""genrekit for beets: genres from the audio itself, on the command line or on import, in
genrekit's genres or in the library's own.

Enable it in beets' config (``plugins: genrekit``; install with ``pip install 'genrekit[beets]'``)::

    genrekit:
        auto: no              # also run on every import
        model: auto           # auto: the model `beet genrekit --train` made, else genrekit's own;
                              # default: genrekit's own; or a genrekit model file / run folder
        min_confidence: null  # below this top probability a song's genre is unknown: left alone
        count: 1              # genres per song: the top one, then the next at or above min_confidence (0.2 if null)
        styles: no            # add the styles the model finds as further genres
        force: no             # replace genres that genrekit did not set
        source_field: genre_source   # the flexible attribute that says who set the genres
        jobs: 1               # worker processes (each loads the model once); 1: in beets' process
        map: null             # --train: a CSV 'from,to' merging spellings ("Hip Hop,hiphop")
        min_per_genre: 1      # --train: genres with fewer items are left out
        multi_genre: first    # --train: an item with several genres: first (its first) or all

``beet genrekit [QUERY]`` sets the genres of the matching items (``-p/--pretend``: only show
them, ``-f/--force``: also replace genres that genrekit did not set). Each item it sets gets
``genre_source: genrekit`` (``source_field``) and genrekit's provenance, ``genrekit_model``,
``genrekit_version``, ``genrekit_confidence`` and ``genrekit_date``; an item with genres and
any other source keeps them unless forced. The genres go into beets' multi-valued ``genres``
field where that beets version has one (2.14 and later), else into ``genre`` joined by
``"; "``. Files are written only as beets' own ``import.write`` setting says (``beet
genrekit`` writes them when it is on, on a copy beside the song that replaces it once
complete and only after the undo record below is in beets' database; a read-only or
hard-linked song is left as it is, with a warning; on import, beets' importer writes them), and the
provenance goes into the files with the genres, in the fields ``genrekit tag --write-tags``
uses (``TXXX:GENREKIT_MODEL`` …), so genrekit reading the files later (``train
--labels-from-tags``) knows these genres are a model's, not the owner's. An item imported
from a file with that provenance counts as set by genrekit.

Before it first changes an item's genres it records them, with their source, in the item's
``genrekit_undo`` field (JSON, in beets' database); ``beet genrekit --undo [QUERY]`` puts
them back and removes genrekit's fields (from the files too, where beets writes files),
refusing by name an item whose genres were changed since genrekit set them.

``beet genrekit --train [QUERY]`` learns the library's own genres: the matching items whose
genres their owner set (``source_field`` is not genrekit) are the training songs, labelled
in the owner's taxonomy (``genrekit.datasets.genre_dataset``: spellings merged by ``map`` and
by case, artists kept so that no artist sits on both sides of a fold); the items without
genres are what it will fill in. It fits genrekit's default head for small libraries
(``genrekit.train.train``, ``split="all"``: every tagged item trains, k-fold CV grouped by
artist scores it), prints what it learned per genre and the items whose genre the
cross-validated model confidently disputes (often mis-tags; all of them in
``disagreements.csv``), and keeps the run folder in ``<beets config dir>/genrekit/model/``,
replacing an older one only once the new one is complete. With ``model: auto`` (the
default) ``beet genrekit`` and the ``auto`` import stage then use it.

The model is loaded once (``genrekit.models.load``) and the files predicted with
``genrekit.predict.predict_files``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from beets import config as beets_config
from beets import ui
from beets.dbcore import types
from beets.library import Item
from beets.plugins import BeetsPlugin

SOURCE = "genrekit"
AUTO = "auto"  # the `model` setting: the trained model where there is one, else genrekit's own
MULTI_GENRE = ("first", "all")
# beets item field -> genrekit's provenance item (genrekit.audio.tags.PROVENANCE)
PROVENANCE_FIELDS = {"genrekit_model": "MODEL", "genrekit_version": "VERSION",
                     "genrekit_confidence": "CONFIDENCE", "genrekit_date": "DATE", "genrekit_genres": "GENRES"}
# JSON: the genres, their source and genrekit's provenance fields before genrekit's first
# change to the item, and the genres it set last
UNDO_FIELD = "genrekit_undo"


def trained_model_dir() -> Path:
    """Where ``beet genrekit --train`` keeps its run folder: ``<beets config dir>/genrekit/model``."""
    return Path(beets_config.config_dir()) / "genrekit" / "model"


def _genre_list(item: Item) -> list[str]:
    """The item's genres, whichever field this beets version has."""
    if "genres" in Item._fields:
        return [g for g in (item.get("genres") or []) if g]
    genre = item.get("genre") or ""
    return [g.strip() for g in genre.split(";") if g.strip()]


def _set_genres(item: Item, genres: list[str]) -> None:
    if "genres" in Item._fields:
        item.genres = list(genres)
    else:  # beets before 2.14: one genre field
        item.genre = "; ".join(genres)


def _undo_record(item: Item) -> dict | None:
    """The item's undo record (:data:`UNDO_FIELD`); None where it has none.

    Raises
    ------
    ValueError
        The field holds something else than genrekit's record.
    """
    stored = item.get(UNDO_FIELD)
    if not stored:
        return None
    try:
        record = json.loads(stored)
        record = {"genres": [str(g) for g in record["genres"]], "source": record["source"],
                  "provenance": dict(record.get("provenance") or {}), "set": [str(g) for g in record["set"]]}
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"its {UNDO_FIELD} field is not genrekit's record ({type(exc).__name__}: {exc})") from exc
    if record["source"] is not None and not isinstance(record["source"], str):
        raise ValueError(f"its {UNDO_FIELD} field is not genrekit's record (source {record['source']!r})")
    return record


def _changed_since(item: Item) -> bool:
    """The item's genres are no longer the ones genrekit set last (the owner edited them)."""
    try:
        record = _undo_record(item)
    except ValueError:
        return True  # not known to be genrekit's: treated as the owner's
    return record is not None and _genre_list(item) != record["set"]


def _set_by_genrekit(item: Item, source_field: str) -> bool:
    """genrekit set the item's genres, and they are as it set them: its source says so, or (no
    source) it came from a file whose genres genrekit wrote (its provenance field ``MODEL``,
    read by beets on import). Genres edited since genrekit set them are the owner's."""
    from genrekit.audio.tags import split_genres

    source = item.get(source_field)
    wrote = item.get("genrekit_genres")  # the genres a file's genrekit write recorded, where it did
    from_file = bool((item.get("genrekit_model") or "").strip()) and (
        not wrote or [g.casefold() for g in split_genres([wrote])]
        == [g.casefold() for g in split_genres(_genre_list(item))])
    by_genrekit = source == SOURCE or (not source and from_file)
    return by_genrekit and not _changed_since(item)


def _provenance_field(name: str):
    """The media field that keeps genrekit's provenance item ``name`` in a file, where
    ``genrekit tag --write-tags`` keeps it: a ``TXXX`` frame (mp3, wav, aiff), a Vorbis
    comment (flac, ogg, opus) or an MP4 freeform atom."""
    from mediafile import MediaField, MP3DescStorageStyle, MP4StorageStyle, StorageStyle

    from genrekit.audio.tags import provenance_key

    places = {"float_places": 3}  # the confidence, as genrekit writes it
    return MediaField(MP3DescStorageStyle(provenance_key("ID3", name).split(":", 1)[1], **places),
                      MP4StorageStyle(provenance_key("MP4", name), **places),
                      StorageStyle(provenance_key("Vorbis comment", name), **places),
                      out_type=float if name == "CONFIDENCE" else str)


class GenrekitPlugin(BeetsPlugin):
    """``beet genrekit``, and the ``auto`` import stage."""

    item_types = {"genrekit_confidence": types.NullFloat(3)}  # shown with 3 decimals, like the files' field

    def __init__(self) -> None:
        super().__init__("genrekit")
        self.config.add({"auto": False, "model": AUTO, "min_confidence": None, "count": 1, "styles": False,
                         "force": False, "source_field": "genre_source", "jobs": 1, "map": None,
                         "min_per_genre": 1, "multi_genre": "first"})
        self._classifier = None
        from mediafile import MediaFile

        registered = set(MediaFile.fields())  # a second plugin instance in one process (beets as a library)
        for field, name in PROVENANCE_FIELDS.items():
            if field not in registered:
                self.add_media_field(field, _provenance_field(name))
        if self.config["auto"].get(bool):
            self.import_stages = [self.imported]

    def _settings(self) -> dict:
        """The config, checked: a bad value names its key, what was expected and what was found."""
        from genrekit.errors import ParameterError

        count = self.config["count"].get()
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ParameterError(f"genrekit.count: expected a whole number of genres, at least 1; found {count!r}")
        min_confidence = self.config["min_confidence"].get()
        if min_confidence is not None and not (isinstance(min_confidence, (int, float)) and 0 <= min_confidence <= 1):
            raise ParameterError(f"genrekit.min_confidence: expected a probability between 0 and 1 (or null); "
                                 f"found {min_confidence!r}")
        jobs = self.config["jobs"].get()
        if not isinstance(jobs, int) or jobs < 1:
            raise ParameterError(f"genrekit.jobs: expected a whole number of processes, at least 1; found {jobs!r}")
        source_field = self.config["source_field"].as_str()
        if not source_field.isidentifier():
            raise ParameterError(f"genrekit.source_field: expected a field name (letters, digits, _); "
                                 f"found {source_field!r}")
        model = self.config["model"].get()
        if not isinstance(model, str) or not model.strip():
            raise ParameterError(f"genrekit.model: expected {AUTO!r}, 'default' or a model file; found {model!r}")
        genre_map = self.config["map"].get()
        if genre_map is not None and (not isinstance(genre_map, str) or not genre_map.strip()):
            raise ParameterError(f"genrekit.map: expected the path of a CSV 'from,to' (or null); found {genre_map!r}")
        min_per_genre = self.config["min_per_genre"].get()
        if not isinstance(min_per_genre, int) or isinstance(min_per_genre, bool) or min_per_genre < 1:
            raise ParameterError(f"genrekit.min_per_genre: expected a whole number of items, at least 1; "
                                 f"found {min_per_genre!r}")
        multi_genre = self.config["multi_genre"].get()
        if multi_genre not in MULTI_GENRE:
            raise ParameterError(f"genrekit.multi_genre: expected one of {', '.join(MULTI_GENRE)}; "
                                 f"found {multi_genre!r}")
        return {"count": count, "min_confidence": min_confidence, "styles": self.config["styles"].get(bool),
                "jobs": jobs, "source_field": source_field, "min_per_genre": min_per_genre, "multi_genre": multi_genre,
                # a relative path is relative to beets' config file, as beets' own paths are
                "map": self.config["map"].as_filename() if genre_map else None}

    def _model(self) -> str:
        """The model to use: the configured one, or with ``model: auto`` the one ``--train`` made
        (where there is one) else genrekit's own."""
        model = self.config["model"].as_str()
        if model != AUTO:
            return model
        trained = trained_model_dir()
        return str(trained) if trained.is_dir() else "default"

    @property
    def classifier(self):
        """The model to use (:meth:`_model`), loaded on first use and kept for every later item."""
        if self._classifier is None:
            from genrekit.models import load

            self._classifier = load(self._model())
        return self._classifier

    def commands(self) -> list[ui.Subcommand]:
        command = ui.Subcommand("genrekit", help="set genres from the audio with genrekit")
        command.parser.add_option("-p", "--pretend", action="store_true", default=False,
                                  help="show the genres it would set, change nothing")
        command.parser.add_option("-f", "--force", action="store_true", default=None,
                                  help="also replace genres that genrekit did not set")
        command.parser.add_option("-t", "--train", action="store_true", default=False,
                                  help="learn the library's own genres from the items whose genres their owner set; "
                                       "`beet genrekit` then uses that model")
        command.parser.add_option("-u", "--undo", action="store_true", default=False,
                                  help="put back the genres the items had before genrekit changed them")

        def run(lib, opts, args) -> None:
            from genrekit.errors import GenrekitError

            if opts.train and (opts.pretend or opts.force or opts.undo):
                raise ui.UserError("genrekit: --train learns from the items' genres and changes none; "
                                   "--pretend, --force and --undo are for setting genres")
            if opts.undo and opts.force:
                raise ui.UserError("genrekit: --undo puts back the genres genrekit replaced; --force is for setting them")
            force = self.config["force"].get(bool) if opts.force is None else opts.force
            try:
                if opts.train:
                    self.train(list(lib.items(args)), query=" ".join(args))
                elif opts.undo:
                    self.undo_items(list(lib.items(args)), pretend=opts.pretend, write=ui.should_write())
                else:
                    self.tag_items(list(lib.items(args)), pretend=opts.pretend, force=force,
                                   write=ui.should_write())
            except GenrekitError as exc:  # a bad config value or model file: beets shows it as one line
                raise ui.UserError(str(exc)) from exc

        command.func = run
        return [command]

    def imported(self, session, task) -> None:
        """The import stage (``auto``): the items are stored, and beets' importer writes their
        files after it where its ``import.write`` setting says so."""
        self.tag_items(list(task.imported_items()), pretend=False, force=self.config["force"].get(bool),
                       write=False)

    def tag_items(self, items: list[Item], *, pretend: bool = False, force: bool = False,
                  write: bool = False) -> dict[str, list[str]]:
        """Predict and set the genres of ``items``.

        Parameters
        ----------
        items : beets items
        pretend : log what would be set, change nothing
        force : replace genres whose ``source_field`` is not genrekit (a user's, another plugin's)
        write : also write the files' tags (beets' ``import.write``), else only store the
            items in beets' database

        Returns
        -------
        dict
            Path -> the genres set (or that would be set), for the items that got genres.
        """
        from genrekit.audio.tags import provenance
        from genrekit.models.interface import model_file, model_id
        from genrekit.predict import predict_files
        from genrekit.predict.library import tag_genres

        settings = self._settings()
        source_field = settings["source_field"]
        todo = []
        for item in items:
            if _genre_list(item) and not _set_by_genrekit(item, source_field) and not force:
                setter = "its user, since genrekit set them" if _changed_since(item) else (
                    item.get(source_field) or "its user")
                self._log.info("{}: keeps its genres {} (set by {}; --force to replace them)", item.filepath,
                               "; ".join(_genre_list(item)), setter)
                continue
            todo.append(item)
        if not todo:
            return {}
        paths = [item.filepath for item in todo]
        model = self._model()
        self._log.info("model: {}", "genrekit's own (default)" if model == "default" else model_file(model))
        predicted, failures = predict_files(self.classifier if settings["jobs"] == 1 else model_file(model),
                                            [str(p) for p in paths], progress=False, jobs=settings["jobs"],
                                            min_confidence=settings["min_confidence"])
        by_path = {p.path: p for p in predicted}
        identity = model_id(model_file(model))
        done = {}
        for item, path in zip(todo, paths):
            if str(path) in failures:
                self._log.warning("{}: not predicted: {}", path, failures[str(path)])
                continue
            prediction = by_path[str(path)]
            genres = tag_genres({"genre": prediction.genre, "probabilities": prediction.probabilities,
                                 "styles": prediction.styles, "error": None},
                                count=settings["count"], min_confidence=settings["min_confidence"],
                                styles=settings["styles"])
            if not genres:
                self._log.info("{}: genre unknown ({}); left as it is", path, prediction.unknown_reason)
                continue
            old = "; ".join(_genre_list(item)) or "(none)"
            self._log.info("{}: genres {} -> {}{}", path, old, "; ".join(genres), " (pretend)" if pretend else "")
            done[str(path)] = genres
            if pretend:
                continue
            # the values to put back: those before genrekit's first change, unless the owner
            # changed the genres since (then theirs, now replaced)
            changed = _changed_since(item)
            record = None if changed else _undo_record(item)
            if record is None:  # genres edited since genrekit set them are the owner's, without its marks
                source = item.get(source_field) or None
                record = {"genres": _genre_list(item), "source": None if changed and source == SOURCE else source,
                          "provenance": {field: None if changed else item.get(field) for field in PROVENANCE_FIELDS}}
            item[UNDO_FIELD] = json.dumps({**record, "set": genres}, ensure_ascii=False)
            _set_genres(item, genres)
            item[source_field] = SOURCE
            confidence = round(float(prediction.confidence), 3)
            written = provenance(identity, confidence) | {"GENRES": "; ".join(genres)}
            for field, name in PROVENANCE_FIELDS.items():  # the confidence a number in beets, 3 decimals in files
                item[field] = confidence if name == "CONFIDENCE" else written[name]
            item.store()  # the undo record is in beets' database before the file changes
            if write and self._write(item):
                item.store()  # the file's new mtime, as beets' own try_sync keeps it
        return done

    def _write(self, item: Item, tags: dict | None = None) -> bool:
        """beets' write of ``item``'s fields (and ``tags``) into its file, made on a copy beside
        the song that replaces it once complete (:func:`genrekit.audio.tags.replace_safely`:
        owner, mode and links kept). A read-only or hard-linked file, or one another program
        changes meanwhile, is left as it is, with a warning; returns whether it was written."""
        from beets.library import FileOperationError

        from genrekit.audio.tags import replace_safely
        from genrekit.errors import GenrekitError

        try:
            replace_safely(os.fsdecode(item.path), lambda copy: item.write(path=os.fsencode(copy), tags=tags),
                           keep_extension=True)
        except (FileOperationError, GenrekitError, OSError) as exc:
            self._log.warning("{}: file not written ({}); beets' database has the change", item.filepath, exc)
            return False
        item.mtime = item.current_mtime()
        return True

    def undo_items(self, items: list[Item], *, pretend: bool = False, write: bool = False) -> dict[str, list[str]]:
        """Put back the genres (and their source) that ``items`` had before genrekit first
        changed them, and remove genrekit's fields; an item whose genres are no longer the ones
        genrekit set is left as it is, with a warning that names it.

        Returns
        -------
        dict
            Path -> the genres put back (or that would be), for the items restored.
        """
        source_field = self._settings()["source_field"]
        done = {}
        for item in items:
            try:
                record = _undo_record(item)
            except ValueError as exc:
                self._log.warning("{}: not undone: {}", item.filepath, exc)
                continue
            if record is None:
                continue
            old, source, set_ = record["genres"], record["source"], record["set"]
            if _genre_list(item) != set_:
                self._log.warning("{}: not undone: its genres were changed since genrekit set them ({} -> {})",
                                  item.filepath, "; ".join(set_) or "(none)", "; ".join(_genre_list(item)) or "(none)")
                continue
            self._log.info("{}: genres {} -> {}{}", item.filepath, "; ".join(set_) or "(none)",
                           "; ".join(old) or "(none)", " (pretend)" if pretend else "")
            done[str(item.filepath)] = old
            if pretend:
                continue
            _set_genres(item, old)
            before = {field: record["provenance"].get(field) for field in PROVENANCE_FIELDS}
            absent = [field for field, value in before.items() if value is None]
            for field in (UNDO_FIELD, *absent, *([] if source else [source_field])):
                if field in item:
                    del item[field]
            for field, value in before.items():
                if value is not None:  # provenance the item had before (genres genrekit set earlier)
                    item[field] = value
            if source:
                item[source_field] = source
            # the file first: its undo record stays in the database until the file is put back
            if write and not self._write(item, tags=dict.fromkeys(absent)):  # provenance it lacked: deleted
                item.load()  # the database's values, the undo record with them, for another try
                del done[str(item.filepath)]
                continue
            item.store()  # the file's new mtime kept, as beets' own try_sync does
        return done

    def train(self, items: list[Item], *, query: str = "") -> Path:
        """Learn the library's own genres from ``items`` and keep the model in
        :func:`trained_model_dir`.

        The items whose genres their owner set (``source_field`` is not genrekit) are the
        training songs, with ``artist`` (else ``albumartist``) as their artist; the items
        without genres are listed as untagged. The run folder is written beside the old one
        and swapped in only once complete, so a failed run leaves the old model as it was.

        Returns
        -------
        Path
            The run folder (:func:`trained_model_dir`).

        Raises
        ------
        GenrekitError
            A bad setting or genre map, no genre with two items, or training failed.
        """
        from genrekit.datasets import OwnedSong, genre_dataset, read_genre_map
        from genrekit.errors import DatasetError
        from genrekit.features import FeatureCache, default_cache_dir
        from genrekit.train import train

        settings = self._settings()
        songs = [OwnedSong(str(item.filepath), tuple(_genre_list(item)), item.get("artist") or
                           item.get("albumartist") or None, _set_by_genrekit(item, settings["source_field"]))
                 for item in items]
        if not songs:
            raise DatasetError(f"genrekit --train: no item matches {query!r}" if query else
                               "genrekit --train: the library has no items")
        try:  # track ids are paths relative to the items' common folder
            root = os.path.commonpath([os.path.dirname(song.path) for song in songs])
        except ValueError:  # on two drives
            root = Path(songs[0].path).anchor
        genre_map = read_genre_map(settings["map"]) if settings["map"] else None
        dataset = genre_dataset(songs, root=root, name=f"beets library{f' ({query})' if query else ''}",
                                genre_map=genre_map, min_per_genre=settings["min_per_genre"],
                                multi=settings["multi_genre"])
        taxonomy = dataset.taxonomy
        ui.print_(f"learning from {len(dataset.tracks)} item(s) tagged by their owner; "
                  f"{len(taxonomy.untagged)} without genres (what `beet genrekit` fills in), "
                  f"{len(taxonomy.by_genrekit)} tagged by genrekit (not learned from)")
        for genre, count in sorted(taxonomy.counts.items(), key=lambda entry: (-entry[1], entry[0])):
            spellings = ", ".join(f"{name} ({n})" for name, n in taxonomy.spellings.get(genre, {}).items())
            ui.print_(f"  {genre}: {count} item(s), spelled {spellings}")
        for genre, count in taxonomy.left_out.items():
            ui.print_(f"  left out: {genre} ({count} item(s), fewer than min_per_genre={settings['min_per_genre']})")
        for group in taxonomy.near_duplicates:
            ui.print_(f"  look like one genre (merge them with a map): {' / '.join(group)}")

        final = trained_model_dir()
        final.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".model-new-", dir=final.parent))
        try:
            result = train(dataset, split="all", out_dir=staging, cache=FeatureCache(default_cache_dir()),
                           n_jobs=settings["jobs"], progress=False)
            _swap_in(staging, final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        for path, reason in result.failures.items():
            self._log.warning("{}: not learned from: {}", path, reason)
        if result.cv:
            scores = result.cv
            ui.print_(f"{scores['protocol']}: accuracy {scores['accuracy_mean']:.3f} ± {scores['accuracy_std']:.3f}, "
                      f"balanced {scores['balanced_accuracy_mean']:.3f}")
            ui.print_("what it learned, per genre (out-of-fold): genre, items, recall, precision")
            cell = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
            for genre, row in (scores.get("per_genre") or {}).items():
                ui.print_(f"  {genre}: {row['n']}, {cell(row['recall'])}, {cell(row['precision'])}")
        else:
            ui.print_("not scored: cross-validation needs at least two items of every genre")
        disputed = result.disagreements or []
        if disputed:
            ui.print_(f"{len(disputed)} item(s) whose genre the cross-validated model confidently disputes "
                      f"(often a mis-tag; all in {final / 'disagreements.csv'}):")
            for item in disputed[:10]:
                ui.print_(f"  - {item.path}: tagged {'; '.join(item.owner_genres)}, model says {item.model_genre} "
                          f"({item.confidence:.2f})")
        ui.print_(f"model -> {final}; `beet genrekit` uses it where the model setting is {AUTO!r}")
        if self.config["model"].as_str() != AUTO:
            self._log.warning("the model setting is {!r}: `beet genrekit` uses that, not the trained model, "
                              "until it is set to {!r}", self.config["model"].as_str(), AUTO)
        self._classifier = None  # a later tag_items in this process loads the new model
        return final


def _swap_in(staging: Path, final: Path) -> None:
    """Put the complete run folder ``staging`` at ``final``, replacing an older one: the old one
    is moved aside first (the new one is never half written at ``final``), put back if the
    move fails, and deleted after."""
    old = None
    if final.exists():
        old = Path(tempfile.mkdtemp(prefix=".model-old-", dir=final.parent))
        os.rmdir(old)
        os.replace(final, old)
    try:
        os.replace(staging, final)
    except OSError:
        if old is not None:
            os.replace(old, final)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
