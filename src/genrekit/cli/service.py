"""``genrekit serve``: the genre service and its web page."""

from __future__ import annotations

from typing import Annotated

import typer

from genrekit.cli.common import (LOG_LEVELS, NON_NEGATIVE, POSITIVE, MinConfidenceOption, ModelOption, _at_least,
                                 _choice, _model, _note, _setting, _usage_error, app, is_quiet, listed)


@app.command()
def serve(
    ctx: typer.Context,
    model_path: Annotated[str | None, typer.Argument(metavar="MODEL", help="A model file (.genrekit, .safetensors or "
                                                     ".onnx), a run folder, or 'default' / 'default-exact': genrekit's own; or use "
                                                     "--model.", show_default=False)] = None,
    model_option: ModelOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on; keep 127.0.0.1 unless a proxy fronts it.")] = "127.0.0.1",
    allowed_host: Annotated[list[str] | None, typer.Option("--allowed-host", metavar="NAME", help="A name the service "
                            "may be asked by (the Host a proxy sends; repeatable). Listening on loopback, it answers "
                            "only to localhost, 127.0.0.1, ::1 and these, against DNS rebinding.")] = None,
    port: Annotated[int, typer.Option(**_at_least(1, 65535), help="Port to listen on.")] = 8000,
    max_upload_mb: Annotated[float, typer.Option(**POSITIVE, help="Largest upload accepted; larger ones get 413.")] = 50.0,
    max_minutes: Annotated[float, typer.Option(**POSITIVE, help="Longest song analysed, as its header declares, "
                                               "and at most as many samples as that much stereo at 48 kHz "
                                               "(all channels counted); more gets 422 before any decoding.")] = 60.0,
    timeout: Annotated[float, typer.Option(**POSITIVE, help="Seconds a song may take once uploaded (waiting "
                                                 "for a worker, then the analysis); longer gets 504.")] = 120.0,
    threads: Annotated[int, typer.Option(**_at_least(1), help="Songs analysed at once (worker threads).")] = 2,
    workers: Annotated[int | None, typer.Option(**_at_least(1), hidden=True, help="Deprecated: --threads.")] = None,
    queue: Annotated[int, typer.Option(**_at_least(0), help="Requests that may wait for a worker; more get 503.")] = 32,
    upload_seconds: Annotated[float, typer.Option(**POSITIVE, help="Seconds an upload may take to arrive; "
                                                  "longer gets 408.")] = 300.0,
    min_upload_rate: Annotated[float, typer.Option(**NON_NEGATIVE, help="Bytes/s an upload must average after "
                                                   "--upload-grace-seconds, else 408 (0: no minimum).")] = 10_000.0,
    upload_grace_seconds: Annotated[float, typer.Option(**NON_NEGATIVE, help="Seconds before the minimum upload "
                                                        "rate applies, and the longest an upload may "
                                                        "send nothing (with a minimum rate); at least 1 "
                                                        "is used.")] = 10.0,
    receiving: Annotated[int, typer.Option(**_at_least(1), help="Uploads received at once; more get 503.")] = 64,
    min_confidence: MinConfidenceOption = None,
    log_level: Annotated[str | None, typer.Option(**_choice(*LOG_LEVELS, metavar="<level>"),
                                                  help=f"uvicorn's log level: {listed(LOG_LEVELS)} (default: warning; "
                                                  "error with --quiet).")] = None,
) -> None:
    """Serve the model over HTTP: POST /v1/predict, GET /v1/model, /healthz, a web page at /, docs at /docs.

    An upload holds no worker or queue place until it has fully arrived; --timeout counts from then."""
    from genrekit.errors import ParameterError
    from genrekit.server import ServiceLimits
    from genrekit.server import serve as run_service
    from genrekit.server.app import check_host_names

    if workers is not None:  # the old name of --threads
        threads_given = getattr(ctx.get_parameter_source("threads"), "name", "DEFAULT") != "DEFAULT"
        if threads_given and threads != workers:
            _usage_error(f"--workers {workers} and --threads {threads}: expected --threads only (--workers is its old "
                         "name)")
        _note(f"[yellow]warning:[/] --workers is deprecated: use --threads {workers}", highlight=False)
        threads = workers
    model_path = _model(model_path, model_option, default="default")
    min_confidence = _setting("min_confidence", min_confidence, option="--min-confidence")
    limits = ServiceLimits(max_upload_mb=max_upload_mb, timeout_seconds=timeout, workers=threads, queue=queue,
                           upload_seconds=upload_seconds, min_upload_rate=min_upload_rate,
                           upload_grace_seconds=upload_grace_seconds, receiving=receiving,
                           min_confidence=min_confidence, max_minutes=max_minutes)
    try:
        check_host_names(list(allowed_host or ()), "--allowed-host")
    except ParameterError as exc:
        _usage_error(str(exc))
    address = f"[{host}]" if ":" in host else host  # an IPv6 address, bracketed as a URL gives it
    run_service(model_path, host=host, port=port, limits=limits, allowed_hosts=list(allowed_host or ()),
                log_level=log_level or ("error" if is_quiet() else "warning"),
                on_loaded=lambda: _note(f"genrekit service for {model_path} model on http://{address}:{port}/ "
                                        "(Ctrl+C stops it)"))
