"""Entry script for the frozen app (PyInstaller): the same as the `desk` command."""

import sys

from desk.cli import main

if __name__ == "__main__":
    sys.exit(main())
