"""Work-arounds for the Qt binding in use.

PySide6 6.12 (shiboken6 6.12) on Python 3.11 releases a reference to None on every call of a method returning
void (`processEvents`, `setData`, `setEditable`, ...): it relies on None being immortal, which it is only from
Python 3.12 on. After a few thousand such calls None's count reaches zero and the interpreter aborts with
"none_dealloc: deallocating None". We give None the same treatment 3.12 gives it: a reference count so large
it can never run out. Checked by tests/app/test_qt_compat.py.
"""

from __future__ import annotations

import ctypes
import sys

# About what CPython 3.12 uses for immortal objects; far more void calls than any session can make.
_IMMORTAL_REFS = 1 << 40
_done = False


def make_none_immortal() -> bool:
    """Raise None's reference count out of reach on Python < 3.12 (idempotent); True if it did something."""
    global _done
    if _done or sys.version_info >= (3, 12):
        return False
    ctypes.c_ssize_t.from_address(id(None)).value += _IMMORTAL_REFS
    _done = True
    return True
