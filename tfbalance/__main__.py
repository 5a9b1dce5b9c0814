"""``python -m tfbalance``: the same command line as the ``tfbalance`` script."""

import sys

from tfbalance._cli import main

if __name__ == "__main__":
    sys.exit(main())
