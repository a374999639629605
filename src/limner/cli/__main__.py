"""`python -m limner.cli ...`: the same app as the `limner` console script."""

from limner.cli.main import main

main()
