"""python -m mailbridge -> the CLI."""

from mailbridge.cli import main

main()
