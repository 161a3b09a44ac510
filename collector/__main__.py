"""``python -m collector`` runs the same CLI as the ``spendscope`` script."""

from collector.cli import main

main()
