"""`python -m cutover`: the `cutover` console script's CLI (the demo runs its steps this way)."""

from cutover.cli import main

main()
