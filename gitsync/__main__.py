"""``python -m gitsync``: the same command line as the ``gitsync`` script."""

import sys

from gitsync.cli import main

sys.exit(main())
