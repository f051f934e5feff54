"""``python -m demo ffm`` (the main job, what ``make demo`` runs) and ``python -m demo tour``."""

import sys

from .cli import main

sys.exit(main())
