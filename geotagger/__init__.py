"""Geotagger's one import namespace: `geotagger.app` (the GUI), `geotagger.geocore` (no Qt, no torch) and
`geotagger.trainer` (torch).

The folders stay at the top of the checkout (app/, geocore/, trainer/); setup.py's package-dir mapping installs
them under this package, so an installed Geotagger never claims the top-level names `app` or `trainer` (Coqui's
TTS trainer imports as `trainer`). In a checkout the links in this folder point at them; where the checkout has
no symbolic links (git on Windows without core.symlinks), the checkout's root joins this package's path instead.
"""

from pathlib import Path

_HERE = Path(__file__).resolve().parent
if not (_HERE / "geocore").is_dir() and (_HERE.parent / "geocore" / "__init__.py").is_file():
    __path__.append(str(_HERE.parent))  # noqa: F821 (a package's __path__)
