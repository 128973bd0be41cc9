"""``python -m xnb``."""

from xnb.cli import main

main()
