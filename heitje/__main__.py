"""`python -m heitje` is the `heitje` command."""

from heitje.cli import main

main()
