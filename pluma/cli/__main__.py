"""``python -m pluma.cli`` runs the ``pluma`` command line."""

from . import main

main()
