"""PyInstaller entry of the GUI (the console script `geotagger` in a pip install)."""

import multiprocessing
import sys

from geotagger.app.main import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # the place-name helper process is started with spawn (app/place_names.py)
    sys.exit(main())
