"""`python -m studyhall.cli`: the same as `studyhall-db`."""

from studyhall.cli.commands import main

main(prog_name="studyhall-db")
