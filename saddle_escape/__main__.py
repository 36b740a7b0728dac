"""``python -m saddle_escape`` runs the command line."""

import sys

from saddle_escape.cli import main

sys.exit(main())
