"""The genre service over HTTP: :func:`create_app` (FastAPI) and :func:`serve` (uvicorn).

Needs the ``serve`` extra: ``pip install 'genrekit[serve]'``.
"""

from genrekit.server.app import ServiceLimits, create_app, serve

__all__ = ["ServiceLimits", "create_app", "serve"]
