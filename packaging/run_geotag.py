"""PyInstaller entry of the CLI (the console script `geotag` in a pip install)."""

import sys

from geotagger.geocore.cli.main import main

sys.exit(main())
