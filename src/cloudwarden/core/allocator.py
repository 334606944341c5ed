"""Tuning glibc's ``malloc`` for a process that allocates and frees many buffers of a few megabytes.

Reading logs gunzips each file into a fresh buffer of 1-30 MB. glibc serves blocks that large with
``mmap`` and gives them back with ``munmap`` (its threshold rises to the largest block freed, but buffers
allocated on reader threads and freed on another keep missing it), so every page of every buffer is
faulted in anew. Measured on a million CloudTrail events (500 files, 1.3 GB gunzipped), gunzip and decode
alone: 335,000-445,000 page faults and 3.5-5 s of system time; with blocks up to 32 MiB served from malloc's
heaps and up to 256 MiB of freed memory kept for reuse, ~135,000 faults and 1-2 s (the whole detection run:
~680,000 -> ~590,000 faults, most of the rest being DuckDB's table).

Only the ``cloudwarden`` command calls :func:`keep_freed_buffers` (a library should not change its host
process's allocator). Elsewhere than Linux with glibc it does nothing. Written with :mod:`ctypes` because
Python exposes no ``mallopt``; the ``GLIBC_TUNABLES`` variable does the same but must be set before the
process starts.
"""

from __future__ import annotations

import ctypes
import platform
from typing import Final

_M_TRIM_THRESHOLD: Final = -1
_M_MMAP_THRESHOLD: Final = -3
MMAP_THRESHOLD: Final = 32 * 1024 * 1024  # the ceiling of glibc's own sliding threshold on 64-bit systems
TRIM_THRESHOLD: Final = 256 * 1024 * 1024


def keep_freed_buffers(mmap_threshold: int = MMAP_THRESHOLD, trim_threshold: int = TRIM_THRESHOLD) -> bool:
    """Serve blocks up to ``mmap_threshold`` bytes from malloc's heaps, and keep up to ``trim_threshold``
    bytes freed at the top of a heap instead of returning them to the system. True when glibc took both."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    mallopt = libc.mallopt
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, mmap_threshold)) and bool(mallopt(_M_TRIM_THRESHOLD, trim_threshold))
