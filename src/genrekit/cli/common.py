"""What every ``genrekit`` command shares: the app and its exit statuses, the consoles, the option
types and their checks, and the helpers that load datasets, pick models and report failures."""

from __future__ import annotations

import contextlib
import errno
import functools
import io
import os
import logging
import math
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperGroup
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.table import Table

from genrekit._files import line_shown
from genrekit.cli.settings import Setting, Settings, SettingsError
from genrekit.errors import DatasetError, GenrekitError
from genrekit.features.limits import MAX_SPEC_SECONDS
from genrekit.models import catalogue
from genrekit.train.config import BALANCES, DEVICES, LOSSES, OPTIMIZERS, SCHEDULES, SETTINGS

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
EXIT_TERMINATED, EXIT_HANGUP = 143, 129  # 128 + SIGTERM, 128 + SIGHUP
EXIT_CLOSED_PIPE = 141  # 128 + SIGPIPE: stdout's reader left, as a shell reports cat's in `cat | head`

class PathListError(Exception):
    """A bad list of paths (stdin, --files-from): a usage error. Raised, not printed where it
    is found, since a pool reads the list in a thread of its own while earlier songs finish."""


#: The SIGTERM and SIGHUP this process received while a command ran: a library that caught the
#: stop (PyTorch's exporter, mid-trace) raised an error of its own, said as the export failing.
_STOPS_RECEIVED: list[int] = []


class _Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP, turned into what Ctrl+C raises so that the same clean-up runs (worker
    processes stopped, a half-written copy removed, journals closed) instead of none."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


#: How long a stop (Ctrl+C, SIGTERM, SIGHUP) waits for Python to act on it before the process ends
#: without its clean-up. Python runs a signal's handler between its own instructions only: inside
#: one long call into compiled code (an ONNX operator that a crafted file made hours long) genrekit
#: went on for as long as the call took, and onnxruntime's run timer cannot stop one operator either.
STOP_GRACE_SECONDS = 5.0


@contextlib.contextmanager
def _orderly_stop_on_termination(after_a_stop=lambda: "", *, watchdog: bool = True) -> Iterator[None]:
    """While a command runs in this process's main thread, SIGTERM (``kill``, a service manager)
    and SIGHUP (its terminal closed) stop it as Ctrl+C does, unless it was started ignoring them
    (``nohup``). A child process that inherited the handler (forked workers) dies of the signal
    as before. (``serve`` stops gracefully on them, with status 0; a Ray runner's ``ray.init``
    installs Ray's own SIGTERM handler.) With ``watchdog``, a stop that Python has not acted on
    :data:`STOP_GRACE_SECONDS` later ends the process (:func:`_stop_even_inside_one_long_call`;
    ``after_a_stop`` says what the command keeps)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    owner = os.getpid()
    _STOPS_RECEIVED.clear()  # an earlier command's (tests run many in one process)
    acted_on: list[int] = []

    def stop(signum, frame):
        if os.getpid() != owner:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        acted_on.append(signum)
        _STOPS_RECEIVED.append(signum)
        raise _Stopped(signum)

    def interrupt(signum, frame):  # Python's own Ctrl+C, noted
        if os.getpid() == owner:
            acted_on.append(signum)
        signal.default_int_handler(signum, frame)

    # a signal this process was started ignoring (nohup's SIGHUP) stays ignored
    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGTERM, signal.SIGHUP)
                if signal.getsignal(signum) is not signal.SIG_IGN}
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not a host program's own handler
        previous[signal.SIGINT] = signal.signal(signal.SIGINT, interrupt)
    try:
        watching = {signum: signal.getsignal(signum) for signum in previous} if watchdog else {}
        with _stop_even_inside_one_long_call(watching, acted_on, after_a_stop):
            yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def _stop_even_inside_one_long_call(handlers: dict, acted_on: list, after_a_stop) -> Iterator[None]:
    """End the process, saying so, when a signal of ``handlers`` arrives while its handler is
    still that one (not a service's or Ray's own, set since) and Python has not acted on it
    (``acted_on`` stays empty) :data:`STOP_GRACE_SECONDS` later. The signal's C handler writes its
    number to a pipe (:func:`signal.set_wakeup_fd`) that a thread reads: compiled code that lets
    other threads run (onnxruntime, PyTorch, numpy) cannot hold a stop back. Once Python has acted
    on one, the command's own clean-up runs, and nothing here cuts it. The workers end with the
    process (:func:`genrekit.runners._exit_with`); what a killed run leaves is what a SIGKILL leaves."""
    import signal
    import threading
    import time

    if not handlers:
        yield
        return
    read_end, write_end = os.pipe()
    try:
        os.set_blocking(write_end, False)
        earlier = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    except (ValueError, OSError, AttributeError):  # not the main thread (or Windows' Python < 3.12: no set_blocking)
        os.close(read_end)
        os.close(write_end)
        yield
        return
    _forget_the_stop_pipe_in_forked_children()
    _STOP_PIPE[:] = [read_end, write_end]
    over = threading.Event()  # the command has ended: a stop read late is no longer this watchdog's

    def watch() -> None:  # owns read_end
        try:
            while data := os.read(read_end, 64):
                received = [signum for signum in data if signum in handlers
                            and signal.getsignal(signum) is handlers[signum]]
                if not received or acted_on or over.is_set():
                    continue
                deadline = time.monotonic() + STOP_GRACE_SECONDS
                while not acted_on and not over.is_set() and time.monotonic() < deadline:
                    over.wait(0.05)
                if not acted_on and not over.is_set():
                    _end_now(received[-1], after_a_stop)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                os.close(read_end)

    def let_go() -> None:
        over.set()
        _STOP_PIPE.clear()
        try:
            signal.set_wakeup_fd(earlier)
        except (ValueError, OSError):  # an earlier fd closed since, or not non-blocking: none, then
            with contextlib.suppress(ValueError, OSError):
                signal.set_wakeup_fd(-1)
        finally:
            os.close(write_end)  # the watcher reads the end of the pipe and closes its own end

    watcher = threading.Thread(target=watch, name="genrekit-stop-watchdog", daemon=True)
    try:
        watcher.start()  # a stop while it starts: the thread was made, and it owns read_end
    except RuntimeError:  # no thread to be had: no watchdog
        os.close(read_end)
        let_go()
        yield
        return
    except BaseException:
        let_go()
        raise
    try:
        yield
    finally:
        let_go()


#: The stop watchdog's pipe (read end, write end) while a command runs.
_STOP_PIPE: list[int] = []


@functools.cache
def _forget_the_stop_pipe_in_forked_children() -> None:
    """A forked child (a PyTorch DataLoader's worker) would write the signals it receives (a
    pool's SIGTERM at its end) to the parent's pipe, for the parent's watchdog to end the parent;
    and it would hold the pipe open after the command. It lets go of the pipe."""
    def forget() -> None:
        if _STOP_PIPE:
            import signal

            with contextlib.suppress(ValueError, OSError):
                signal.set_wakeup_fd(-1)
            for end in _STOP_PIPE:
                with contextlib.suppress(OSError):
                    os.close(end)
            _STOP_PIPE.clear()

    os.register_at_fork(after_in_child=forget)


def _end_now(signum: int, after_a_stop) -> None:
    """End this process at once (with 128 + ``signum``), saying why the clean-up was skipped."""
    import signal
    import threading

    name = "Ctrl+C" if signum == signal.SIGINT else signal.Signals(signum).name

    def say() -> None:
        with contextlib.suppress(Exception):  # the main thread is in compiled code: its output so far is kept
            sys.stdout.flush()
            err_console.print(f"[yellow]interrupted[/] ({name}): genrekit was {STOP_GRACE_SECONDS:g} s inside one "
                              "call into compiled code that cannot be stopped part-way (a very long computation, or a "
                              f"crafted model file's), so it ends now without its clean-up: {after_a_stop()}",
                              highlight=False)

    saying = threading.Thread(target=say, daemon=True)  # a reader that stopped reading must not hold the end
    saying.start()
    saying.join(1.0)
    os._exit(128 + signum)


#: Below this many columns help is click's plain layout: rich's four-column table left its help
#: text about 17 columns at 80 and cut option names ("--min-confidenc…").
RICH_HELP_COLUMNS = 100


def _plain_help_when_narrow(command) -> None:
    """Give ``command`` (and a group's commands) click's plain help layout in a terminal
    narrower than :data:`RICH_HELP_COLUMNS`."""
    import shutil

    if shutil.get_terminal_size().columns < RICH_HELP_COLUMNS:
        command.rich_markup_mode = None
        for sub in (getattr(command, "commands", None) or {}).values():
            _plain_help_when_narrow(sub)


def _takes_a_path(param) -> bool:
    """Whether a parameter's value names a file or folder: every argument (songs, datasets,
    models, run folders), an option of paths (``Path``, ``list[Path]``), and --model."""
    import typing

    annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
    return (not param.opts[0].startswith("-") or "--model" in param.opts or annotation is Path
            or Path in typing.get_args(annotation))


def _refusing_empty_paths(command) -> None:
    """Make ``command`` (each command below it, for a group) refuse an empty string where a path
    goes. Path("") is the working folder: `genrekit tag "$LIBRARY" --write-tags` with the
    variable unset tagged the songs there. Checked on the parser's raw values, before they
    become paths and "" cannot be told from "."."""
    for sub in (getattr(command, "commands", None) or {}).values():
        _refusing_empty_paths(sub)
    if getattr(command, "commands", None) is not None or getattr(command, "_refuses_empty_paths", False):
        return
    make_parser = command.make_parser

    def checked_parser(ctx):
        parser = make_parser(ctx)
        parse = parser.parse_args

        def parse_args(args):
            opts, rest, order = parse(args=args)
            for param in command.params:
                given = opts.get(param.name)
                values = given if isinstance(given, (list, tuple)) else [given]
                if "" in values and _takes_a_path(param):
                    shown = param.opts[0] if param.opts[0].startswith("-") else param.name.upper()
                    if shown == "--model":
                        _usage_error("--model: expected a model file, run folder or name, found an empty string (an "
                                     "unset shell variable?); leave --model out for the default")
                    _usage_error(f"{shown}: expected a path, found an empty string (an unset shell variable?); give "
                                 ". for the working folder")
            return opts, rest, order

        parser.parse_args = parse_args
        return parser

    command.make_parser = checked_parser
    command._refuses_empty_paths = True


class _OneErrorHandler(TyperGroup):
    """Every command's genrekit errors end the same way: the message (which names the file or
    parameter) on stderr, exit status 1. Commands let them propagate. Help is rich's panels,
    or click's plain layout in a narrow terminal."""

    def format_help(self, ctx, formatter) -> None:
        _plain_help_when_narrow(self)
        super().format_help(ctx, formatter)

    def get_command(self, ctx, name: str):
        command = super().get_command(ctx, name)
        if command is not None:
            _plain_help_when_narrow(command)
            _refusing_empty_paths(command)
        return command

    def invoke(self, ctx):
        _CHOSEN.clear()  # this command's own (tests run many in one process)
        try:
            # `serve` stops on its own handlers (uvicorn's, swapped in and out with genrekit's): no watchdog
            given = [*getattr(ctx, "_protected_args", getattr(ctx, "protected_args", [])), *ctx.args]
            watched = given[:1] != ["serve"]
            with _orderly_stop_on_termination(lambda: _after_a_stop(ctx.invoked_subcommand), watchdog=watched):
                return super().invoke(ctx)
        except GenrekitError as exc:
            if _STOPS_RECEIVED:  # an error the stop caused (an exporter's, wrapping it): the stop is what happened
                _interrupted(ctx, _Stopped(_STOPS_RECEIVED[-1]))
            _fail(exc)
        except PathListError as exc:
            _usage_error(str(exc))
        except BrokenPipeError:  # the reader of stdout left (`| head`): nothing more to do, as for cat or grep
            _stdout_to_nowhere()
            raise typer.Exit(EXIT_CLOSED_PIPE) from None
        except KeyboardInterrupt as exc:
            _interrupted(ctx, exc)
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG:  # from any path given (Path.is_dir() raises it)
                name = os.fspath(exc.filename or "")
                _usage_error(f"{name[:120]}{'…' if len(name) > 120 else ''}: a name too long for the file system "
                             f"({len(name)} characters; {exc.strerror})")
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            where = f"{exc.filename}: " if exc.filename else ""
            command = ctx.invoked_subcommand
            kept = ("" if command in ("predict", "export", "report") else
                    " (a journal's last line may be cut, which a re-run skips)")
            _fail(GenrekitError(f"{where}no space left on the disk ({exc.strerror}); free some space: "
                                f"{_after_a_stop(command)}{kept}"))
        finally:
            _release_unused_results_folder()


def _interrupted(ctx, exc: KeyboardInterrupt) -> None:
    """End the command stopped by Ctrl+C (or SIGTERM, SIGHUP: :class:`_Stopped`), saying what it keeps."""
    import signal

    again = _after_a_stop(ctx.invoked_subcommand)
    if isinstance(exc, _Stopped):
        name, status = signal.Signals(exc.signum).name, 128 + exc.signum  # EXIT_TERMINATED, EXIT_HANGUP
    else:
        name, status = "Ctrl+C", EXIT_INTERRUPTED
    err_console.print(f"[yellow]interrupted[/] ({name}): {again}", highlight=False)
    raise typer.Exit(status) from None  # main() then ignores further signals while the process ends


def _after_a_stop(command: str | None) -> str:
    """What a command stopped part-way (interrupted, a full disk) leaves, and what running it again does."""
    if command == "predict":
        return "predict keeps nothing between runs: the results already written out stand"
    if command in ("export", "report"):  # one file, written whole or not at all
        return f"{command} writes its file whole or not at all: nothing was written; run it again"
    again = ("running it again resumes the features; a network's training continues from its checkpoint with "
             "--resume" if command == "train" else "running it again resumes")
    if _CHOSEN:  # a folder chosen for it: run without --out again, it would choose another
        again += f" (with --out {_CHOSEN[-1]}: without --out it writes to a new folder)"
    return ("what was finished is kept where the command keeps it (the feature cache, a tag or evaluate journal, a "
            f"network's checkpoint), so {again}")


def _stdout_to_nowhere() -> None:
    """Point stdout at /dev/null: the interpreter's last flush of a closed pipe would print a
    BrokenPipeError of its own."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


app = typer.Typer(help="Music genre recognition: datasets, features, models, evaluation, prediction.", cls=_OneErrorHandler,
                  no_args_is_help=True, add_completion=True, pretty_exceptions_enable=False)
datasets_app = typer.Typer(help="Inspect datasets.", no_args_is_help=True)
app.add_typer(datasets_app, name="datasets")
pretrained_app = typer.Typer(help="The pretrained musicnn networks shipped with genrekit.", no_args_is_help=True)
app.add_typer(pretrained_app, name="pretrained")

class ClosedStdout(io.TextIOBase):
    """stdout for a process started with it closed (``>&-``, where Python's is None): a command
    that writes its results there ends with that said (it was an AttributeError traceback once
    the work was done); one that writes none runs."""

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not text:
            return 0
        raise GenrekitError("stdout is closed: the results have nowhere to go (give the command an output, such as "
                            "> FILE)")


class _StandardStream:
    """stdout or stderr as it is when written to (tests swap them), for rich: a file name that
    is not UTF-8 (Python keeps its odd bytes as surrogates) is shown with ``\\udce9``-style
    escapes instead of ending the command with a UnicodeEncodeError."""

    def __init__(self, name: str):
        self._name = name

    def write(self, text: str) -> int:
        stream = getattr(sys, self._name)
        try:
            return stream.write(text)
        except UnicodeEncodeError:
            encoding = getattr(stream, "encoding", None) or "utf-8"
            return stream.write(text.encode(encoding, "backslashreplace").decode(encoding))

    def __getattr__(self, name: str):
        return getattr(getattr(sys, self._name), name)


def write_output(text: str, *, is_json: bool = False) -> None:
    """Write a command's results to stdout, flushed. A terminal whose encoding lacks a character
    (a Latin-1 locale, ``日本.mp3``) gets JSON's own ``\\uXXXX`` escape for it in JSON (still
    JSON, read back the same), else a backslash escape, instead of a UnicodeEncodeError once the
    work is done."""
    if not is_json:  # as rich's output is written
        _StandardStream("stdout").write(text)
    else:
        try:
            sys.stdout.write(text)
        except UnicodeEncodeError:
            encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
            sys.stdout.write("".join(c if _encodes(c, encoding) else _json_escape(c) for c in text))
    sys.stdout.flush()


def _encodes(character: str, encoding: str) -> bool:
    try:
        character.encode(encoding)
    except UnicodeEncodeError:
        return False
    return True


def _json_escape(character: str) -> str:
    """``character`` as JSON's escape: ``\\uXXXX``, a UTF-16 pair beyond the BMP (an emoji)."""
    code = ord(character)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


# C0 and C1 control characters but newline and tab: a file name or a song's tag holding ESC
# could otherwise move the cursor, recolour or clear the user's terminal
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _escaped(text: str) -> str:
    return _CONTROLS.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


class _SafeConsole(Console):
    """A rich console that shows control characters of the text it is given as ``\\x1b``-style
    escapes (its own styling is added after, so it still works)."""

    def render_str(self, text: str, **kwargs):
        return super().render_str(_escaped(text), **kwargs)


class _SafeLogHandler(RichHandler):
    """Log messages (which name songs) with their control characters escaped, as the consoles do."""

    def render_message(self, record: logging.LogRecord, message: str):
        return super().render_message(record, _escaped(message))


# emoji=False: a song named ":warning:.wav" is shown as its name, not as an emoji
out_console = _SafeConsole(file=_StandardStream("stdout"), soft_wrap=True, emoji=False)
err_console = _SafeConsole(file=_StandardStream("stderr"), soft_wrap=True, emoji=False)


def _as_given(value):
    """typer's ``parser`` of a numeric option: the text as given, which the option's callback reads
    (typer's own conversion refuses ``abc`` without saying the value, and lets ``nan`` through)."""
    return value


def _shown(value) -> str:
    """A numeric option's value as a usage error shows it: a number as it was typed (``1.0000001``,
    ``nan``), anything else quoted, control characters escaped (``'1\\x1b[2J'``)."""
    if not isinstance(value, str):
        return str(value)
    try:
        float(value)
    except ValueError:
        return repr(value)
    return value.strip()  # digits, a sign, a point, an exponent, inf or nan: nothing to escape


def _number(low: float | None = None, high: float | None = None, *, low_open: bool = False, high_open: bool = False,
            integer: bool = False) -> dict:
    """``typer.Option``'s arguments for a numeric option: it reads the value itself and refuses one
    that is not a number (``abc``, ``1.5`` for a whole number), NaN or infinity, or outside the
    range with a usage error (exit 2) naming the option, the value and what was expected:
    ``--top 'abc': expected a whole number >= 1``. (typer's message leaves the value out, and its
    ``min``/``max`` cannot say "> 0" and let NaN through.)"""
    show = str if integer else "{:g}".format
    if low is not None and high is not None and not (low_open or high_open):
        bounds = f"from {show(low)} to {show(high)}"
    else:
        bounds = " and ".join(
            b for b in (f"{'>' if low_open else '>='} {show(low)}" if low is not None else "",
                        f"{'<' if high_open else '<='} {show(high)}" if high is not None else "") if b)
    kind = "a whole number" if integer else "a number" if low is not None and high is not None else "a finite number"
    expected = f"{kind} {bounds}".strip()

    def check(ctx: typer.Context, param: typer.CallbackParam, value: str | float | None) -> float | None:
        if value is None or ctx.resilient_parsing:
            return value
        try:
            number = (int if integer else float)(value)
        except (TypeError, ValueError):
            number = None
        bad = (number is None or not math.isfinite(number)
               or (low is not None and (number <= low if low_open else number < low))
               or (high is not None and (number >= high if high_open else number > high)))
        if bad:
            raise _UsageError(f"{param.opts[0]} {_shown(value)}: expected {expected}", ctx=ctx, param=param)
        return number

    return {"parser": _as_given, "callback": check}


class _UsageError(typer.BadParameter):
    """A usage error (exit 2) whose message is shown as it is: it names the option itself."""

    def format_message(self) -> str:
        return self.message


def listed(values) -> str:
    """``a, b or c``: choices as help and usage errors name them."""
    values = list(map(str, values))
    return ", ".join(values[:-1]) + (" or " if len(values) > 1 else "") + values[-1]


def _choice(*values: str | int, metavar: str | None = None) -> dict:
    """Options of an enumerated value: the choices in ``--help`` (as ``<a|b|c>``, or as
    ``metavar`` where they are too many for an 80-column help: the option's help then says
    where they are listed) and a usage error (exit 2) naming the option, the value and the
    choices: ``--format 'xml': expected table, json, jsonl, csv or timeline``. (A ``Literal``
    type would list them too, but its message does not say the option as genrekit's other
    usage errors do.) A choice may be given in any case (``--format JSON``)."""
    expected = listed(values)
    # whole-number choices (--id3v2-version) are read here, as _number's options are: 'abc' is refused by name too
    numeric = all(isinstance(v, int) for v in values)
    # any case of a choice is that choice, where no two choices differ in case alone
    folded = {} if numeric else {str(v).casefold(): v for v in values}
    if folded and len(folded) < len(values):  # genrekit's own lists: a mistake in them, said at import
        raise ValueError(f"choices {values!r} differ in case alone; a choice is taken in any case")

    def check(ctx: typer.Context, param: typer.CallbackParam, value):
        if numeric and isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = int(value)
        if value is None or ctx.resilient_parsing or value in values:
            return value
        if isinstance(value, str) and value.casefold() in folded:  # --format JSON: json
            return folded[value.casefold()]
        shown = _shown(value) if numeric else repr(value) if isinstance(value, str) else str(value)
        raise _UsageError(f"{param.opts[0]} {shown}: expected {expected}", ctx=ctx, param=param)

    return {"callback": check, "metavar": metavar or f"<{'|'.join(map(str, values))}>",
            **({"parser": _as_given} if numeric else {})}


# The choices of the enumerated options (the library's own lists, which tests/test_cli_conventions.py
# checks them against, are not imported here: they would bring numpy, pandas or scikit-learn along).
RUNNERS = ("local", "ray")
KINDS = ("auto", "gtzan", "folder", "manifest", "fma", "images", "tags")
SPLITS = ("random", "dataset", "gtzan-filtered", "all")
MULTI_GENRE = ("first", "all")
AGGREGATIONS = ("mean", "vote")
FEATURE_SETS = tuple(catalogue.FEATURE_SETS)
PREDICT_FORMATS = ("table", "json", "jsonl", "csv", "timeline")
EXISTING = ("keep", "replace", "append")
FRONTENDS = ("graph", "numpy")
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")  # uvicorn's


def _at_least(low: int, high: int | None = None) -> dict:
    return _number(low, high, integer=True)


POSITIVE = _number(0, low_open=True)
NON_NEGATIVE = _number(0)
#: A whole number, checked only for being one (the command checks its range, with what else it was given).
WHOLE = _number(integer=True)
SEED = _at_least(0, 2**32 - 1)

OutOption = Annotated[Path | None, typer.Option("--out", "-o", help="Folder for the results (created if needed; "
                                                 "default: a new runs/COMMAND-DATASET, numbered where one exists).",
                                                 show_default=False)]
JobsOption = Annotated[int, typer.Option("--jobs", "-j", **_at_least(0),
                                         help="Worker processes (0: all cores; at most 4 a core).")]
RunnerOption = Annotated[str, typer.Option(**_choice(*RUNNERS), help="Where the work runs: local (a process pool) or "
                                           "ray (a Ray cluster).")]
AddressOption = Annotated[str | None, typer.Option(help="--runner ray: auto (this machine's cluster) or "
                                                        "ray://HOST:PORT; default: a local cluster on 127.0.0.1.")]
CacheOption = Annotated[
    Path | None, typer.Option("--cache", help="Feature cache folder (default: $GENREKIT_CACHE, else the config file's "
                              "cache, else ~/.cache/genrekit/features).")
]
NoCacheOption = Annotated[bool, typer.Option("--no-cache", help="Do not read or write the feature cache.")]
KindOption = Annotated[str, typer.Option("--kind", **_choice(*KINDS, metavar="<kind>"),
                                         help="Dataset kind: auto, gtzan, folder, manifest, fma, images (genre folders "
                                         "of spectrogram PNGs), tags (each file's own genre tag).")]
LabelsFromTagsOption = Annotated[bool, typer.Option("--labels-from-tags", help="Label each audio file below DATASET by its "
                                                    "own genre tag, wherever it sits (same as --kind tags).")]
GenreMapOption = Annotated[Path | None, typer.Option("--map", help="With tags: a CSV 'from,to' merging spellings "
                                                     "(Hip Hop,hiphop); matching ignores case.")]
# With tags, genres of fewer files are left out by default: too few to learn from, and too few
# for train's 5-fold CV to score (a genre of one file leaves the whole library unscored).
TAGS_MIN_PER_GENRE = 5
MinPerGenreOption = Annotated[int | None, typer.Option("--min-per-genre", **_at_least(1), help="With tags: leave out "
                                                       f"(and list) genres with fewer files (default {TAGS_MIN_PER_GENRE}).")]
MultiGenreOption = Annotated[str, typer.Option("--multi-genre", **_choice(*MULTI_GENRE),
                                               help="With tags, a file with several genres: first (its "
                                               "first genre) or all (one example of each: multi-label).")]
FeaturesOption = Annotated[str, typer.Option("--features", "-f", **_choice(*FEATURE_SETS, metavar="<set>"),
                                             help=f"Feature set: {listed(FEATURE_SETS)} (see `genrekit models`).")]
ExtractOption = Annotated[
    str, typer.Option("--features", "-f", **_choice(*FEATURE_SETS, "logmel", metavar="<set>"),
                      help=f"A feature set (a table): {listed(FEATURE_SETS)} (see `genrekit models`); or logmel (one "
                      ".npz spectrogram per track).")
]
DeviceOption = Annotated[str, typer.Option(**_choice(*DEVICES), help="Networks: cpu, or cuda (or mps) when present.")]
# A network's training settings (genrekit.train.config.TrainConfig): each is an option, and all of
# them may come from --config FILE; what the command line gives wins (see network_settings).
TrainConfigOption = Annotated[Path | None, typer.Option(
    "--config", help="Networks: training settings from a TOML or JSON file, keyed by these options' names "
    "(batch_size, lr...; a run folder's config.json is one); options given here win.")]
EpochsOption = Annotated[int, typer.Option(**_at_least(1), help="Networks: maximum epochs.")]
BatchSizeOption = Annotated[int | None, typer.Option(**_at_least(2), help="Networks: batch size, at least 2 (default: the preset's).")]
LrOption = Annotated[float | None, typer.Option("--lr", **POSITIVE, help="Networks: peak learning rate (default: the "
                                                "preset's).")]
OptimizerOption = Annotated[str | None, typer.Option(**_choice(*OPTIMIZERS), help="Networks: optimizer (default: the "
                                                     "preset's).")]
WeightDecayOption = Annotated[float, typer.Option(**NON_NEGATIVE, help="Networks: weight decay, where neither --l2 nor the preset sets an L2 penalty (edge-cnn, cnn4-2x2 and musicnn-finetune set one: change it with --l2). No decay: --weight-decay 0 --l2 0.")]
L1Option = Annotated[float | None, typer.Option("--l1", **NON_NEGATIVE, help="Networks: L1 penalty on the weights "
                                                "(default: the preset's).")]
L2Option = Annotated[float | None, typer.Option("--l2", **NON_NEGATIVE, help="Networks: L2 penalty, replacing "
                                                "--weight-decay (default: the preset's).")]
LossOption = Annotated[str | None, typer.Option(**_choice(*LOSSES), help="Networks: ce (softmax) or bce (sigmoid) "
                                                "(default: the preset's).")]
LabelSmoothingOption = Annotated[float | None, typer.Option(**_number(0, 1, high_open=True),
                                                            help="Networks: label smoothing (default: the preset's).")]
MixupOption = Annotated[float | None, typer.Option(**NON_NEGATIVE, help="Networks: mixup's Beta(a, a) parameter, 0 for "
                                                   "none (default: the preset's).")]
SpecaugmentOption = Annotated[bool | None, typer.Option("--specaugment/--no-specaugment", show_default=False,
                                                        help="Networks: SpecAugment masks (default: the preset's).")]
ScheduleOption = Annotated[str | None, typer.Option(**_choice(*SCHEDULES), help="Networks: learning rate over the "
                                                    "epochs (default: the preset's).")]
PatienceOption = Annotated[int, typer.Option(**_at_least(1), help="Networks: epochs without a better validation "
                                             "accuracy before stopping.")]
OverlapOption = Annotated[float, typer.Option(**_number(0, 1, high_open=True), help="Networks: overlap of the "
                                              "training windows.")]
TimeStretchOption = Annotated[float, typer.Option(**_number(0, 1, high_open=True), help="Networks: time-stretch "
                                                  "training audio by up to this rate change (0.1: rates 0.9-1.1).")]
PitchShiftOption = Annotated[float, typer.Option(**_number(0, 12), help="Networks: pitch-shift training audio by "
                                                 "up to this many semitones.")]
AugmentCopiesOption = Annotated[int, typer.Option(**_at_least(1), help="Networks: altered copies per training track.")]
BalanceOption = Annotated[str, typer.Option(**_choice(*BALANCES), help="Networks: what counts equally in the loss: "
                                            "tracks (each track, whatever its length), genres (each genre, and each "
                                            "of its tracks), or none (each window).")]


#: A network's training settings as options: name -> (option type, default), in TrainConfig's
#: order, with TrainConfig's defaults; ``epochs``, ``device`` and ``seed`` are each command's own (their help differs).
NETWORK_OPTIONS = {name: (option, SETTINGS[name]) for name, option in {
    "batch_size": BatchSizeOption, "lr": LrOption, "optimizer": OptimizerOption, "weight_decay": WeightDecayOption,
    "l1": L1Option, "l2": L2Option, "loss": LossOption, "label_smoothing": LabelSmoothingOption, "mixup": MixupOption,
    "specaugment": SpecaugmentOption, "schedule": ScheduleOption, "patience": PatienceOption, "overlap": OverlapOption,
    "time_stretch": TimeStretchOption, "pitch_shift": PitchShiftOption, "augment_copies": AugmentCopiesOption,
    "balance": BalanceOption,
}.items()}


def network_options(*, preset: str | None = None, leave_out: tuple[str, ...] = ()):
    """A command's decorator giving it every network training setting as an option, and ``--config FILE``.

    The command declares ``ctx``, ``seed``, ``epochs`` and ``device`` itself and takes
    ``settings``: a dict of every TrainConfig setting (``seed``, ``epochs`` and ``device`` among
    them) as :func:`network_settings` resolves them. ``preset`` names the command's parameter
    holding the model (``train --model``), whose name a config file's ``preset`` must match (and
    which, left at its default, takes the file's preset: a run's ``config.json`` repeats its
    network); ``leave_out`` are settings the command does not take."""
    import functools
    import inspect

    added = {name: spec for name, spec in NETWORK_OPTIONS.items() if name not in leave_out}

    def decorate(command):
        signature = inspect.signature(command, eval_str=True)
        kept = [p for p in signature.parameters.values() if p.name != "settings"]
        extra = [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=kind, default=default)
                 for name, (kind, default) in [*added.items(), ("config", (TrainConfigOption, None))]]

        @functools.wraps(command)
        def wrapper(ctx: typer.Context, **options):
            values = {name: options.pop(name) for name in added}
            config = options.pop("config")
            if preset and config is not None and _source(ctx, preset) == "DEFAULT":
                from genrekit.train.config import config_preset

                # a run's config.json names its network: the run is repeated with --config alone
                options[preset] = config_preset(config) or options[preset]
            values.update(seed=options["seed"], epochs=options["epochs"], device=options["device"])
            options["settings"] = network_settings(ctx, config, preset=options[preset] if preset else None, **values)
            return command(ctx, **options)

        wrapper.__signature__ = signature.replace(parameters=[*kept, *extra])
        wrapper.__annotations__ = {}  # the signature holds them, evaluated
        return wrapper

    return decorate


def _source(ctx: typer.Context, name: str) -> str | None:
    """Where option ``name``'s value came from: ``COMMANDLINE``, ``ENVIRONMENT``, ``DEFAULT``...
    By name: typer's click is its own copy, whose ParameterSource is not click's."""
    return getattr(ctx.get_parameter_source(name), "name", None)


def network_settings(ctx: typer.Context, config: Path | None, *, preset: str | None = None, **values) -> dict:
    """A network's training settings: those given on the command line, then ``config``'s (a
    TOML or JSON file, checked by :func:`genrekit.train.config.read_config`: a bad file is an
    error naming it and the key), then the options' defaults.

    ``values`` are the commands' options, by the names of ``TrainConfig``'s fields."""
    from genrekit.train.config import read_config

    from_file = read_config(config, preset=preset) if config is not None else {}
    given = {name for name in values if _source(ctx, name) in ("COMMANDLINE", "ENVIRONMENT")}
    return {**values, **{name: value for name, value in from_file.items() if name not in given}}


AggregationOption = Annotated[
    str | None, typer.Option("--aggregation", **_choice(*AGGREGATIONS),
                             help="Chunks to track: mean (of probabilities) or vote (majority); "
                             "default: the model's own (mean).")
]
MinConfidenceOption = Annotated[
    float | None, typer.Option(**_number(0, 1), help="Below this top probability (0-1) the genre is 'unknown' "
                               "(the probabilities are still given); default: $GENREKIT_MIN_CONFIDENCE, else the "
                               "config file's min_confidence, else always the top genre.")
]
MusicCheckOption = Annotated[
    bool, typer.Option("--music-check/--no-music-check", help="Call audio the music detector hears as speech, noise "
                       "or tones 'unknown' (models on both musicnn taggers, the default among them); "
                       "--no-music-check names a genre anyway (spoken word you want genred).")
]
MODEL_DEFAULTS = "$GENREKIT_MODEL, else the config file's model (`genrekit config`)"
ModelOption = Annotated[str | None, typer.Option("--model", "-m", help="A model file (.genrekit, .safetensors or .onnx), "
                                                 "a run folder of `genrekit train`, or 'default': genrekit's own "
                                                 "(docs/default-model.md; its fast ONNX graph where onnxruntime is "
                                                 "installed; 'default-exact': its model file, both taggers on every "
                                                 f"patch, slower). Default: {MODEL_DEFAULTS}, else 'default'.")]
ChunkOption = Annotated[  # the range a feature set takes (genrekit.features.limits: imports nothing more)
    float | None, typer.Option("--chunk", **_number(0.5, MAX_SPEC_SECONDS), help="Seconds per chunk (e.g. 3); default: one vector per 30 s segment of a "
                               "track, as predict cuts a song (a clip of 30 s or less: one).")
]


# -q/--quiet: stdout has the results, stderr only errors (and the list of inputs that failed);
# no progress bars, notes or warnings, and logging at ERROR. Set by the app's callback.
_quiet = False


def set_quiet(quiet: bool) -> None:
    global _quiet
    _quiet = quiet


def is_quiet() -> bool:
    return _quiet


def _setup_logging(verbose: bool, quiet: bool = False) -> None:
    logging.basicConfig(
        level=logging.ERROR if quiet else logging.INFO if verbose else logging.WARNING, format="%(message)s",
        # rich's default time, [12/07/26 21:31:05], reads as 12 July or 7 December; ISO 8601 does not
        handlers=[_SafeLogHandler(console=err_console, show_path=False, log_time_format="[%Y-%m-%d %H:%M:%S]")],
        force=True,
    )
    logging.captureWarnings(quiet)  # with --quiet, Python's warnings go to logging, below its ERROR level


def _progress() -> bool:
    return not _quiet and err_console.is_terminal


def _note(message: str, **options) -> None:
    """A note or warning on stderr (not a result, not an error): left out with --quiet."""
    if not _quiet:
        err_console.print(message, **options)


def _usage_error(message: str) -> None:
    err_console.print(f"[red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(EXIT_USAGE)


# The options that say how features are made from a dataset's audio, by parameter name
_EXTRACTION_OPTIONS = {"feature_set": "--features", "chunk": "--chunk", "kind": "--kind", "cache": "--cache",
                       "no_cache": "--no-cache"}


def _refuse_extraction_with_table(ctx: typer.Context) -> None:
    """A usage error for options of feature extraction given with --table, whose columns are
    the features already made: they were ignored without a word."""
    given = []
    for name, option in _EXTRACTION_OPTIONS.items():
        with contextlib.suppress(KeyError, TypeError):
            if getattr(ctx.get_parameter_source(name), "name", None) == "COMMANDLINE":
                given.append(option)
    if given:
        _usage_error(f"{', '.join(given)}: not with --table: the table's columns are its features, made as it was "
                     "made (these options say how features are made from a dataset's audio)")


#: Where results go when --out is not given: runs/<command>-<dataset>, in the working folder.
RUNS_FOLDER = Path("runs")
#: The longest name, in bytes, a default results folder takes from its dataset (file systems allow 255).
_NAME_BYTES = 200
_CHOSEN: list[Path] = []  # the results folder this command made, said after a stop, removed where left empty


def _results_folder(out: Path | None, command: str, source: Path | None) -> Path:
    """``--out``, or where it is not given, a new folder ``runs/<command>-<source's name>``
    (``-2``, ``-3``... where that one exists, so an earlier run's results are never replaced),
    made here, so that a run started beside this one takes the next number; said on stderr.
    The same command on the same data then leaves one folder per run, as experiment trackers
    do; ``--out`` names a folder to write into, or to resume from. A default that would lie
    inside the dataset (a run from its own folder) is refused: later runs would read it as a
    genre. A folder given, or the default's parent, is checked as :func:`_output_folder` checks
    one, before any work."""
    if out is not None:
        _output_folder(out, "--out")
        return out
    where = Path(os.path.abspath(source if source is not None else "table"))  # "." and "music/" named too
    if where.is_dir() and Path(os.path.abspath(RUNS_FOLDER)).is_relative_to(where):
        _usage_error(f"the default results folder, {os.path.abspath(RUNS_FOLDER)}, would be inside the dataset "
                     f"{where}, where later runs would read it as a genre: give --out DIR outside it")
    name = where.stem if where.is_file() else where.name  # a manifest or table by its stem, a folder whole
    if where.is_file() and name == "features":  # a table genrekit wrote (every one is features.csv): by its folder
        name = where.parent.name
    name = line_shown(name or "dataset").encode("utf-8", "surrogateescape")[:_NAME_BYTES].decode("utf-8", "ignore")
    _output_folder(RUNS_FOLDER, "the default results folder")  # a file or a broken link there: refused by name
    number = 1
    while True:
        folder = RUNS_FOLDER / (f"{command}-{name}" + (f"-{number}" if number > 1 else ""))
        try:
            folder.mkdir(parents=True)
            break
        except FileExistsError:  # an earlier run's (or a link's): the next number
            number += 1
    _CHOSEN.append(folder)
    _note(f"results -> {escape(str(folder))} (--out DIR to choose the folder)", highlight=False)
    return folder


def _release_unused_results_folder() -> None:
    """Remove the default results folder this command made where nothing was written in it but
    empty files (its lock, an empty journal: a command refused after choosing it), so a failed
    run leaves no empty folder behind. Made by this command under a new name, nobody else's."""
    for folder in _CHOSEN:
        with contextlib.suppress(OSError):
            entries = list(folder.iterdir())
            if all(entry.is_file() and not entry.is_symlink() and entry.stat().st_size == 0 for entry in entries):
                for entry in entries:
                    entry.unlink()
                folder.rmdir()


def _output_folder(folder: Path, option: str) -> None:
    """Check before any work that an output folder can be written (it, or the nearest folder
    above it that exists, since the command makes the rest), refusing by name one that cannot:
    a file in its place, a link to nothing, no permission. Hours of analysis must not end in a
    traceback, and a command refused later leaves no empty folder behind."""
    import tempfile

    existing = folder
    while not os.path.lexists(existing) and existing.parent != existing:
        existing = existing.parent
    if existing.is_symlink() and not existing.exists():
        _usage_error(f"{option} {folder}: expected a folder to write into, found {existing} is a link to "
                     f"{os.readlink(existing)}, which does not exist")
    if not existing.is_dir():
        what = "a file" if existing.is_file() else "neither a file nor a folder (a device or a pipe)"
        _usage_error(f"{option} {folder}: expected a folder to write into, found {existing} is {what}")
    try:
        handle, probe = tempfile.mkstemp(dir=existing, prefix=".genrekit-probe-")  # writable, for root too
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:  # named: in /proc, "No such file or directory" read as if /proc were missing
        _usage_error(f"{option} {folder}: expected a folder to write into, found that nothing can be written in "
                     f"{existing} ({exc.strerror or exc})")


#: The endings that make a path a folder's: ``/``, and ``\`` on Windows.
_FOLDER_ENDINGS = tuple({"/", os.sep})


def _file_or_folder(default_name: str) -> dict:
    """Options of an output naming a file, or a folder to write ``default_name`` into: one that
    exists, or any path ending in a separator (``pages/``: a folder, made by the writer when
    missing, where pathlib would drop the slash and write a file named ``pages``). The command
    gets the file's path, whichever was given. The text is read as typed (typer's ``parser``):
    typer's own conversion to a Path has lost the slash by the time a callback sees it."""

    def file_path(value) -> Path:
        text = os.fspath(value)  # a default is a Path already
        if not text.strip():  # an unset variable in a script: pathlib would read it as "." and write there
            raise typer.BadParameter(f"expected a file or folder name, found {text!r}")
        path = Path(text)
        return path / default_name if text.endswith(_FOLDER_ENDINGS) or path.is_dir() else path

    return {"parser": file_path, "metavar": "<path>"}


def _settings() -> Settings:
    return Settings()


def _setting(key: str, given=None, *, option: str = "", default=None):
    """A setting's value: the option, else $GENREKIT_*, else the config file, else ``default``
    (a bad variable or file: a usage error naming it)."""
    return _setting_and_source(key, given, option=option, default=default).value


def _setting_and_source(key: str, given=None, *, option: str = "", default=None) -> Setting:
    """As :func:`_setting`, with where the value came from (``Setting.source``)."""
    try:
        return _settings().get(key, given, option=option, default=default)
    except SettingsError as exc:
        _usage_error(str(exc))


def _cache(cache: Path | None, no_cache: bool):
    from genrekit.features import FeatureCache, default_cache_dir

    if no_cache:
        return None
    setting = _setting_and_source("cache", cache, option="--cache")
    folder = Path(setting.value or default_cache_dir())
    # once, not a warning per track that cannot be cached; named by where the folder came from
    if setting.source == "default":
        named = "the feature cache"
    elif setting.source.startswith(("-", "$")):  # --cache, $GENREKIT_CACHE
        named = setting.source
    else:  # the config file
        named = f"{setting.source}: cache"
    _output_folder(folder, named)
    return FeatureCache(folder)


def _fail(exc: GenrekitError) -> None:
    err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
    raise typer.Exit(EXIT_ERROR)


def _runner(name: str, jobs: int, address: str | None, *, preload: list[str] | None = None):
    """The runner for --runner/--address (None: the command's own local pool)."""
    from genrekit.runners import get_runner

    if name == "local" and not address:
        return None
    return get_runner(name, n_jobs=jobs or None, address=address, preload=preload or [])


PROBLEM_SHOWN = 1000  # characters of a problem's line: a manifest's 5 MB cell is named, not printed


def _cut(text: str, limit: int) -> str:
    """``text`` as a line shows it: one of thousands of characters (a tag or a manifest's cell
    gone wrong) cut at ``limit``, saying how long it is."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def _problem_shown(text: str) -> str:
    """A problem or a failure as one line of a terminal's report (:func:`line_shown`, :func:`_cut`)."""
    return _cut(line_shown(text), PROBLEM_SHOWN)


def _report_failures(failures: dict[str, str], problems: list | None = None) -> bool:
    """List the files that failed and the dataset's problems that left something out, and say
    whether there were any (the run is partial). A problem that left nothing out (two spellings
    of one genre merged, an empty genre folder) is said as a note and leaves the run whole.
    ``problems``: :class:`~genrekit.datasets.DatasetProblem` s or their records."""
    problems, notes = problems or [], []
    if problems:  # a dataset's commands alone have any (and pandas): predict and tag, at runtime, none
        from genrekit.datasets.core import left_out_and_notes

        problems, notes = left_out_and_notes(problems)
    for note in notes:
        path, reason = (note["path"], note["reason"]) if isinstance(note, dict) else (note.path, note.reason)
        _note(f"[yellow]note:[/] {escape(_problem_shown(f'{path}: {reason}'))}", highlight=False)
    if not failures and not problems:
        return False
    counted = " and ".join(part for part in (f"{len(failures)} file(s) failed" if failures else "",
                                               f"{len(problems)} dataset problem(s)" if problems else "") if part)
    err_console.print(f"[yellow]{counted}; left out:[/]")
    for reason in failures.values():  # reasons name files: one line each, whatever the names hold
        err_console.print(f"  - {escape(_problem_shown(reason))}", highlight=False)
    for problem in problems:
        path, reason = (problem["path"], problem["reason"]) if isinstance(problem, dict) else (problem.path, problem.reason)
        err_console.print(f"  - {escape(_problem_shown(f'{path}: {reason}'))}", highlight=False)
    return True


def _finish(n_done: int, failures: dict[str, str], said: dict[str, str] | None = None) -> None:
    """Exit after listing the failures: 0 when nothing failed, 3 when some inputs did,
    1 when every input did (nothing was done). ``said``: failures already shown as they
    happened (a tag write's), which count as failures and are not listed again."""
    if not _report_failures(failures) and not said:
        raise typer.Exit(EXIT_OK)
    raise typer.Exit(EXIT_PARTIAL if n_done else EXIT_ERROR)


def _load_dataset(path: Path, kind: str, *, labels_from_tags: bool = False, genre_map: Path | None = None,
                  min_per_genre: int | None = None, multi_genre: str = "first"):
    from genrekit.datasets import load_dataset, read_genre_map

    if labels_from_tags and kind not in ("auto", "tags"):
        err_console.print(f"[red]error:[/] --labels-from-tags with --kind {kind}: expected one of them (they say the "
                          "same: --kind tags)")
        raise typer.Exit(EXIT_USAGE)
    kind = "tags" if labels_from_tags else kind
    tag_options = [name for name, given in (("--map", genre_map is not None),
                                            ("--min-per-genre", min_per_genre is not None),
                                            ("--multi-genre", multi_genre != "first")) if given]
    if tag_options and kind != "tags":  # before the map file is read: a missing one is not the point
        _usage_error(f"{', '.join(tag_options)}: only with --labels-from-tags (or --kind tags), which label a library "
                     "by its files' own genre tags")
    if min_per_genre is None:
        min_per_genre = TAGS_MIN_PER_GENRE if kind == "tags" else 1
    mapping = read_genre_map(genre_map) if genre_map is not None else None
    try:
        return load_dataset(path, kind=kind, genre_map=mapping, min_per_genre=min_per_genre, multi=multi_genre)
    except DatasetError as exc:
        found = _model_at(path)  # a run folder or a model file where the dataset goes: the arguments swapped
        if found is None:
            raise
        raise DatasetError(f"{exc} ({found} is a model: the model comes first, the dataset after it)") from exc


def _model_at(path: Path) -> Path | None:
    """The model file ``path`` is or holds (a run folder), or None."""
    from genrekit.models import model_file

    try:
        return model_file(path)
    except GenrekitError:
        return None


def _print_taxonomy(taxonomy) -> None:
    """A tag library's genres: files and spellings of each, and what was left aside."""
    table = Table(title="genres in the files' own tags")
    for column in ("genre", "files", "spellings found"):
        table.add_column(column, justify="right" if column == "files" else "left")
    for genre, count in sorted(taxonomy.counts.items(), key=lambda item: -item[1]):
        spellings = taxonomy.spellings.get(genre, {})
        table.add_row(escape(genre), str(count), escape(", ".join(f"{name} ({n})" for name, n in spellings.items())))
    if taxonomy.counts:
        out_console.print(table)
    else:  # an empty table says less than this
        out_console.print("genres in the files' own tags: none with enough files to learn from", highlight=False)
    # genres are the files' tags: escaped as the problem lines are (a bidi override reached the terminal)
    notes = [("left out (fewer files than --min-per-genre)",
              [f"{_problem_shown(genre)}: {n} file(s)" for genre, n in taxonomy.left_out.items()]),
             ("look like spellings of one genre (merge with --map)",
              [" / ".join(map(_problem_shown, g)) for g in taxonomy.near_duplicates])]
    for title, items in notes:
        if items:
            out_console.print(f"[bold yellow]{title} ({len(items)})[/]")
            for item in items:
                out_console.print(f"  - {item}", highlight=False, markup=False)
    out_console.print(f"{len(taxonomy.untagged)} file(s) without a genre tag (the ones to fill in), "
                      f"{len(taxonomy.by_genrekit)} tagged by genrekit (not learned from), "
                      f"{taxonomy.multi_genre} with several genres", highlight=False)
    if taxonomy.untaggable:
        _note(f"{len(taxonomy.untaggable)} file(s) in formats without genre tags genrekit reads or writes (such as "
              f"{Path(taxonomy.untaggable[0]).suffix}): neither learned from nor filled in", highlight=False)
    if taxonomy.placeholders:
        out_console.print("placeholders ignored (not genres): " + ", ".join(
            f"{name} ({n})" for name, n in taxonomy.placeholders.items()), highlight=False, markup=False)


def _note_training_files(paths: list[str], model) -> None:
    """Say which files the model was trained on: their predictions say nothing of its accuracy.
    By their bytes only: a note is not worth decoding every file again (evaluate, whose scores
    depend on it, also matches by decoded audio)."""
    from genrekit.models import exclude_training

    _, seen = exclude_training(paths, model, by_audio=False)
    if seen:
        files = "this file was" if len(paths) == 1 else (
            f"{len(seen)} of these files {'was' if len(seen) == 1 else 'were'}")
        _note(f"[yellow]note:[/] {files} in the model's training data, so what it predicts for "
              f"{'it' if len(seen) == 1 else 'them'} says nothing about its accuracy: "
              f"{escape(line_shown(', '.join(Path(p).name for p in seen[:5])))}{', …' if len(seen) > 5 else ''}",
              highlight=False)


def _model(positional: str | None, option: str | None, *, default: str | None) -> str:
    """The model named by MODEL or --model (not both), else $GENREKIT_MODEL, else the config
    file's ``model``, else ``default``."""
    if positional is not None and option is not None:
        _usage_error(f"MODEL {positional} and --model {option}: expected one of them, found both")
    given, name = (positional, "MODEL") if positional is not None else (option, "--model")
    try:
        setting = _settings().get("model", given, option=name, default=default)
    except SettingsError as exc:
        _usage_error(str(exc))
    value = setting.value
    if value is None:
        _usage_error("MODEL: expected a model (MODEL, --model, $GENREKIT_MODEL or the config file's model), found none")
    if setting.source not in (name, "default") and value not in ("default", "default-exact") \
            and not Path(value).exists():  # a stale setting, not a typo on this command line: say where it is
        where = setting.source if setting.source.startswith("$") else f"the config file {setting.source}"
        _fail(GenrekitError(f"{value}: model file not found; it is the model {where} names (change it there, "
                            "or give --model)"))
    return value


def _read_paths(source: str) -> Iterator[str]:
    """The paths listed in a file (``-``: stdin), one a line, read as they are needed (blank lines,
    and lines of spaces alone, skipped; nothing else is stripped: a name may begin or end with
    spaces). Names are bytes to the file system: one that is not UTF-8 is kept as it is
    (surrogateescape), and a byte-order mark some editors write is not part of the first name."""
    if source == "-":
        lines = _stdin_lines()
    else:
        try:
            handle = open(source, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise PathListError(f"--files-from {source}: cannot read the list of files: {exc.strerror or exc}") from exc
        lines = iter(handle.readline, b"")
    try:
        for number, raw in enumerate(lines, 1):
            line = raw.decode("utf-8", "surrogateescape").rstrip("\r\n")
            if number == 1:
                line = line.removeprefix("\ufeff")
            if "\0" in line:  # no file name holds one: a binary file, or find -print0's list
                where = "the list read from stdin" if source == "-" else f"--files-from {source}"
                raise PathListError(f"{where}: line {number} holds a NUL byte; expected one path a line (not a binary "
                                    "file; for find, -print rather than -print0)")
            if line.strip():
                yield line
    finally:
        if source != "-":
            handle.close()


def _stdin_lines() -> Iterator[bytes]:
    """stdin's lines as bytes, read from a duplicate of its descriptor without a buffer: a pool
    reads the list in a daemon thread, and one blocked on sys.stdin's buffer when the command
    ends made Python's shutdown abort ("Fatal Python error: _enter_buffered_busy")."""
    try:
        descriptor = os.dup(sys.stdin.fileno())
    except (AttributeError, OSError, ValueError):  # a stdin without a descriptor (a test's): its bytes
        buffer = getattr(sys.stdin, "buffer", None)
        yield from (iter(buffer.readline, b"") if buffer is not None
                    else (line.encode("utf-8", "surrogateescape") for line in iter(sys.stdin.readline, "")))
        return
    pending = b""
    try:
        while chunk := os.read(descriptor, 65536):
            pending += chunk
            *complete, pending = pending.split(b"\n")
            yield from (line + b"\n" for line in complete)
        if pending:
            yield pending
    finally:
        os.close(descriptor)


def _input_paths(files: list[str], files_from: str | None) -> Iterator[str]:
    """FILES, where ``-`` stands for the paths read from stdin, then the paths of --files-from;
    a local folder stands for the audio files below it (:func:`genrekit.predict.files.songs_at`);
    a file given again, however its path is spelt (``song.wav``, ``./song.wav``, through a
    link, in a folder given too), is left out, with a note (every output then has one row per
    file, failed or not)."""
    seen: dict[str, str] = {}  # each file -> its path as first given

    def identity(path: str) -> str:  # a URL as it is; a local path as the file it names
        return path if "://" in path else os.path.realpath(path)

    def given() -> Iterator[str]:
        for name in files:
            yield from _read_paths("-") if name == "-" else (name,)
        if files_from is not None:
            yield from _read_paths(files_from)

    from genrekit.predict.files import songs_at

    for name in given():
        songs = songs_at(name)
        again = [path for path in songs if identity(path) in seen]
        for path in songs:
            if identity(path) not in seen:
                seen[identity(path)] = path
                yield path
        if len(again) == 1 and again == songs:  # a file (or a folder of one) given again
            first = seen[identity(again[0])]
            same = "" if first == again[0] else f" (as {line_shown(first)})"
            _note(f"[yellow]note:[/] {escape(line_shown(again[0]))}: given again{escape(same)}; its genres are given "
                  "once, for the path as first given", highlight=False)
        elif again:  # one note for a folder, not one per file
            _note(f"[yellow]note:[/] {escape(line_shown(name))}: {len(again)} of its {len(songs)} files given already "
                  f"(first {escape(line_shown(again[0]))}); their genres are given once, for the path as first given",
                  highlight=False)
