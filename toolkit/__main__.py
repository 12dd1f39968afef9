"""`python -m toolkit` runs the `skopo` command."""

from toolkit.cli.app import main

main()
