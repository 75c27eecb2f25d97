"""``python -m ssae_core``: the CLI."""

import sys

from ssae_core.cli import main

sys.exit(main())
