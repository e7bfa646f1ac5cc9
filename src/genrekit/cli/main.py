"""``genrekit``: datasets check, features, train, evaluate, compare, predict, tag, explore, report,
export, serve, models, config, pretrained.

One module per group of commands, all on one app (:mod:`genrekit.cli.common`):
:mod:`~genrekit.cli.data` (datasets, features, explore, pretrained),
:mod:`~genrekit.cli.modelling` (train, evaluate, compare, report, export, models),
:mod:`~genrekit.cli.songs` (predict, tag), :mod:`~genrekit.cli.service` (serve); here, the
app's own options, ``config`` and the entry point.

Exit status: 0 success; 1 error (the message names the file or parameter), or every input
failed; 2 usage error (options are range-checked before any work); 3 partial failure (the
command finished, but some inputs were bad and are listed in its report); 130 interrupted
(Ctrl+C); for ``datasets check``, 1 when problems are found.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.markup import escape

from genrekit import __version__
from genrekit.cli import common
from genrekit.cli.common import (EXIT_ERROR, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, _settings, _setup_logging,
                                 _usage_error, app, err_console, out_console)
from genrekit.cli.settings import SettingsError
# the command groups: importing them registers their commands on the app
from genrekit.cli import songs, modelling, data, service  # noqa: E402,F401
from genrekit.cli.modelling import train  # noqa: F401  (the CLI's train, as tests and docs name it)

__all__ = ["EXIT_ERROR", "EXIT_OK", "EXIT_PARTIAL", "EXIT_USAGE", "app", "main"]


def _unwrapped(doc: str) -> str:
    """A docstring's paragraphs each on one line: typer's rich help keeps a paragraph's line
    breaks, so the source's wrapping at 100 columns, wrapped again at the terminal's 80, left
    lines of two words. A paragraph of list items or indented lines keeps its breaks."""
    def unwrapped(paragraph: str) -> str:
        kept = any(line.startswith(("-", " ", "\b")) for line in paragraph.splitlines())
        return paragraph if kept else paragraph.replace("\n", " ")

    return "\n\n".join(map(unwrapped, doc.split("\n\n")))


def _unwrap_help(typer_app: typer.Typer) -> None:
    import inspect

    for command in typer_app.registered_commands:
        doc = command.help or inspect.getdoc(command.callback)
        if doc:
            command.help = _unwrapped(doc)
    for group in typer_app.registered_groups:
        _unwrap_help(group.typer_instance)


def _print_version(value: bool) -> None:
    # Eager: runs while the options are parsed, before click asks for a command.
    if value:
        out_console.print(__version__, highlight=False)
        raise typer.Exit(EXIT_OK)


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only results (stdout) and errors (stderr): no progress "
                                        "bars, notes or warnings.")] = False,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.", is_eager=True,
                                          callback=_print_version)] = False,
) -> None:
    if verbose and quiet:
        _usage_error("-v/--verbose and -q/--quiet: expected one of them, found both")
    common.set_quiet(quiet)
    _setup_logging(verbose, quiet)


@app.command("config")
def show_config() -> None:
    """The effective settings (model, min_confidence, cache) and where each came from: an option's
    environment variable, the config file, or the default.

    The config file is ./genrekit.toml, else $XDG_CONFIG_HOME/genrekit/config.toml
    (~/.config/genrekit/config.toml): TOML with the keys model, min_confidence and cache (paths
    relative to the file's folder). Command-line options win over the variables
    ($GENREKIT_MODEL, $GENREKIT_MIN_CONFIDENCE, $GENREKIT_CACHE), which win over the file."""
    from genrekit.cli.settings import config_paths
    from genrekit.features import default_cache_dir

    settings = _settings()
    try:
        path = settings.file
        values = {"model": settings.get("model", default="default"),
                  "min_confidence": settings.get("min_confidence"),
                  "cache": settings.get("cache", default=str(default_cache_dir()))}
    except SettingsError as exc:
        _usage_error(str(exc))
    places = config_paths()
    searched = " or ".join(map(str, places))
    folders = [str(p) for p in places if p.is_dir()]  # not found, though a folder has its name
    out_console.print(f"# config file: {path}" if path else f"# config file: none ({searched} not found"
                      + (f"; {', '.join(folders)} is a folder, not a file" if folders else "") + ")", highlight=False)
    for key, setting in values.items():
        if setting.value is None:  # TOML has no null: the line shows how to set it, commented out
            out_console.print(f"# {key} = 0.5  # not set ({setting.source}): always the top genre", highlight=False,
                              soft_wrap=True)
            continue
        out_console.print(f"{key} = {_toml_string(setting.value)}  # {setting.source}", highlight=False,
                          soft_wrap=True)
    _warn_missing_model(values["model"].value)


def _toml_string(value) -> str:
    """``value`` as TOML writes it: JSON's, but a character past U+FFFF as it is (JSON's surrogate
    pair \ud83c\udfb5 is no TOML escape), and C1 controls and DEL escaped (JSON leaves them raw)."""
    text = json.dumps(value, ensure_ascii=False)
    return "".join(f"\\u{ord(c):04x}" if 0x7F <= ord(c) <= 0x9F else c for c in text)


def _warn_missing_model(model: str) -> None:
    """A model setting naming no model file: said now (on stderr: the output stays a TOML file),
    not first when predict, tag or serve refuses it."""
    from genrekit.errors import ModelError
    from genrekit.models.interface import model_file

    try:
        model_file(model)
    except ModelError as exc:
        err_console.print(f"[yellow]warning:[/] model: {escape(str(exc))}; predict, tag and serve would refuse it",
                          highlight=False)


# Which extra brings each optional top-level module, for the message when one is missing.
EXTRA_OF_MODULE = {
    **dict.fromkeys(("librosa", "numba", "scipy", "sklearn", "pandas", "pyarrow", "matplotlib", "xgboost", "skops",
                     "av", "mutagen", "threadpoolctl"), "full"),
    **dict.fromkeys(("torch", "safetensors"), "deep"),
    **dict.fromkeys(("onnx", "onnxscript", "onnxruntime"), "onnx"),
    **dict.fromkeys(("fastapi", "uvicorn", "python_multipart", "fastapi_offline"), "serve"),
    "ray": "ray",
}


# The app's own flags, which click takes only before the command (`genrekit -q predict ...`)
_APP_FLAGS = frozenset({"-q", "--quiet", "-v", "--verbose"})


def app_flags_first(args: list[str]) -> list[str]:
    """``args`` with the app's flags given after the command moved before it, as written after
    it they were "No such option: -q"; nothing after ``--`` (file names) is moved."""
    end = args.index("--") if "--" in args else len(args)
    command = next((i for i, arg in enumerate(args[:end]) if not arg.startswith("-")), end)
    flags = [i for i in range(command, end) if args[i] in _APP_FLAGS]
    if flags:  # a flag, not an option's value (`--model -q`: a file named so)
        valued = _options_with_values()
        flags = [i for i in flags if args[i - 1] not in valued]
    if not flags:
        return args
    return [*args[:command], *(args[i] for i in flags), *(a for i, a in enumerate(args[command:end], command)
                                                           if i not in flags), *args[end:]]


def _options_with_values() -> set[str]:
    """Every command's options that take a value (``--model``, ``-m``), from the app itself."""
    def walk(command) -> set[str]:  # typer's options are not click.Option's: told by is_flag
        found = {name for param in command.params if getattr(param, "is_flag", None) is False
                 and not getattr(param, "count", False) for name in param.opts}
        for sub in getattr(command, "commands", {}).values():
            found |= walk(sub)
        return found

    return walk(typer.main.get_command(app))


def main() -> None:
    sys.argv[1:] = app_flags_first(sys.argv[1:])
    if sys.stdout is None:  # started with it closed (`>&-`): refused where written, not an AttributeError
        sys.stdout = common.ClosedStdout()
    try:
        app()
    except SystemExit as exc:
        if exc.code in (common.EXIT_INTERRUPTED, common.EXIT_TERMINATED, common.EXIT_HANGUP):
            import signal

            # stopping already: another Ctrl+C (or kill) must not cut the interpreter's own
            # clean-up (a worker pool's threads are joined at exit). Here, not in the command:
            # a program that runs the app in its own process (tests) keeps its handlers.
            for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(signum, signal.SIG_IGN)
        raise
    except ModuleNotFoundError as exc:  # an extra not installed: say which
        module = (exc.name or "").split(".")[0]
        if module not in EXTRA_OF_MODULE:
            raise
        command = next((a for a in sys.argv[1:] if not a.startswith("-")), "this command")
        err_console.print(f"[red]error:[/] genrekit {command} needs {module!r}, which this installation lacks: "
                          f"pip install 'genrekit\\[{EXTRA_OF_MODULE[module]}]'")
        sys.exit(EXIT_ERROR)


_unwrap_help(app)  # every command is registered by now
