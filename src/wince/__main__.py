"""`python -m wince`: the `wince` command."""

from wince.cli import main

main()
