"""The None reference-count work-around keeps a long session alive."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
from PySide6.QtGui import QStandardItem
{prelude}
item = QStandardItem("x")
for _ in range(200_000):  # void calls: each one drops a reference to None in the affected PySide versions
    item.setEditable(False)
print("alive", sys.getrefcount(None) > 0)
"""


def test_many_void_calls_do_not_abort_the_interpreter():
    prelude = "from geotagger.app.qt_compat import make_none_immortal; make_none_immortal()"
    result = subprocess.run([sys.executable, "-c", SCRIPT.format(prelude=prelude)], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "alive True" in result.stdout
