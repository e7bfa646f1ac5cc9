"""The ``genrekit`` command line: a thin adapter over the library API."""
