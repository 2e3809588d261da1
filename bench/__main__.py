"""``python -m bench``: the same command as ``python -m helpers bench``."""

import sys

from bench.cli import main

if __name__ == "__main__":
    sys.exit(main())
