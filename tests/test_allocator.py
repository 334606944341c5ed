"""glibc malloc tuning for the cloudwarden command (core/allocator.py)."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from cloudwarden.core import allocator

# Buffers of 8-12 MB (each 64 KiB larger than the last, as files' sizes vary, so glibc's sliding threshold never
# catches up) made on a pool's threads and freed on this one, as the log readers' gunzip buffers are; prints the
# page faults that took. One buffer at a time: with all of them in flight, how many are alive at once (and so
# the faults) would depend on how busy the machine is.
_BUFFERS = """
import resource, sys
from concurrent.futures import ThreadPoolExecutor
if sys.argv[1] == "tuned":
    from cloudwarden.core.allocator import keep_freed_buffers
    assert keep_freed_buffers()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
with ThreadPoolExecutor(2) as pool:
    for i in range(60):
        data = pool.submit(lambda n: bytes(range(256)) * (8 * 4096 + 256 * n), i).result()
        del data
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", _BUFFERS, mode], capture_output=True, text=True, check=True)
    return int(out.stdout)


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_freed_buffers_are_reused_instead_of_faulted_in_again() -> None:
    plain, tuned = _faults("plain"), _faults("tuned")
    # 60 buffers of 8-12 MB are ~150,000 pages; kept for reuse, only the first and each one's growth are faulted in
    # (measured: 151,000 and 3,000, the same with both cores busy elsewhere).
    assert plain > 100_000 and tuned < plain / 10, (plain, tuned)


def test_elsewhere_it_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(platform, "libc_ver", lambda: ("musl", "1.2"))
    assert allocator.keep_freed_buffers() is False
    monkeypatch.setattr(platform, "system", lambda: "Darwin")
    assert allocator.keep_freed_buffers() is False
