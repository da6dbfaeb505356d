"""`python -m core.cli`: the productlens command."""

import sys

from core.cli.app import main

sys.exit(main())
