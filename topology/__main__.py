"""`python -m topology` runs the command-line interface."""

from topology.cli import main

main()
