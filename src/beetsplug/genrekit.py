"""genrekit for beets: genres from the audio itself, on the command line or on import.

Enable it in beets' config (``plugins: genrekit``; install with ``pip install 'genrekit[beets]'``)::

    genrekit:
        auto: no              # also run on every import
        model: default        # a genrekit model file, or genrekit's own
        min_confidence: null  # below this top probability a song's genre is unknown: left alone
        count: 1              # genres per song: the top one, then the next at or above min_confidence
        styles: no            # add the styles the model finds as further genres
        force: no             # replace genres that genrekit did not set
        source_field: genre_source   # the flexible attribute that says who set the genres
        jobs: 1               # worker processes (each loads the model once); 1: in beets' process

``beet genrekit [QUERY]`` sets the genres of the matching items (``-p/--pretend``: only show
them, ``-f/--force``: also replace genres that genrekit did not set). Each item it sets gets
``genre_source: genrekit`` (``source_field``), ``genrekit_model`` and ``genrekit_confidence``;
an item with genres and any other source keeps them unless forced. The genres go into beets'
multi-valued ``genres`` field where that beets version has one (2.14 and later), else into
``genre`` joined by ``"; "``. Files are written only as beets' own ``import.write`` setting
says (``beet genrekit`` writes them when it is on; on import, beets' importer writes them).

The model is loaded once (``genrekit.models.load``) and the files predicted with
``genrekit.predict.predict_files``.
"""

from __future__ import annotations

from beets import ui
from beets.dbcore import types
from beets.library import Item
from beets.plugins import BeetsPlugin

SOURCE = "genrekit"


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


class GenrekitPlugin(BeetsPlugin):
    """``beet genrekit``, and the ``auto`` import stage."""

    item_types = {"genrekit_confidence": types.NullFloat(3)}  # shown with 3 decimals, like the files' field

    def __init__(self) -> None:
        super().__init__("genrekit")
        self.config.add({"auto": False, "model": "default", "min_confidence": None, "count": 1, "styles": False,
                         "force": False, "source_field": "genre_source", "jobs": 1})
        self._classifier = None
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
        return {"count": count, "min_confidence": min_confidence, "styles": self.config["styles"].get(bool),
                "jobs": jobs, "source_field": source_field}

    @property
    def classifier(self):
        """The configured model, loaded on first use and kept for every later item."""
        if self._classifier is None:
            from genrekit.models import load

            self._classifier = load(self.config["model"].as_str())
        return self._classifier

    def commands(self) -> list[ui.Subcommand]:
        command = ui.Subcommand("genrekit", help="set genres from the audio with genrekit")
        command.parser.add_option("-p", "--pretend", action="store_true", default=False,
                                  help="show the genres it would set, change nothing")
        command.parser.add_option("-f", "--force", action="store_true", default=None,
                                  help="also replace genres that genrekit did not set")

        def run(lib, opts, args) -> None:
            from genrekit.errors import GenrekitError

            force = self.config["force"].get(bool) if opts.force is None else opts.force
            try:
                self.tag_items(list(lib.items(args)), pretend=opts.pretend, force=force, write=ui.should_write())
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
        from genrekit.models.interface import model_file, model_id
        from genrekit.predict import predict_files
        from genrekit.predict.library import tag_genres

        settings = self._settings()
        source_field = settings["source_field"]
        todo = []
        for item in items:
            if _genre_list(item) and item.get(source_field) != SOURCE and not force:
                self._log.info("{}: keeps its genres {} (set by {}; --force to replace them)", item.filepath,
                               "; ".join(_genre_list(item)), item.get(source_field) or "its user")
                continue
            todo.append(item)
        if not todo:
            return {}
        paths = [item.filepath for item in todo]
        model = self.config["model"].as_str()
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
            _set_genres(item, genres)
            item[source_field] = SOURCE
            item["genrekit_model"] = identity
            item["genrekit_confidence"] = round(float(prediction.confidence), 3)
            item.try_sync(write=write, move=False)
        return done
