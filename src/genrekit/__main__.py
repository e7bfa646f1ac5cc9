"""``python -m genrekit`` runs the command line."""

from genrekit.cli.main import main

main()
