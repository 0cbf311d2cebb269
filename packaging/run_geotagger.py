"""PyInstaller entry of the GUI (the console script `geotagger` in a pip install)."""

import sys

from geotagger.app.main import main

sys.exit(main())
