"""``python -m kspacekit`` runs the command-line tool."""

from kspacekit.cli import main

main()
