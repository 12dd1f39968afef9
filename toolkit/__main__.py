"""`python -m toolkit` runs the `skopo` command."""

from toolkit.cli import main

main()
