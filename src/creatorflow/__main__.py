"""``python -m creatorflow`` runs the CLI."""

import sys

from creatorflow.cli import main

sys.exit(main())
