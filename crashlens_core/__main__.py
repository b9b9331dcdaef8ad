"""``python -m crashlens_core``: the ``crashlens`` command without the console script."""

import sys

from .cli import main

sys.exit(main())
