"""Scratch directories locked by their process, and the sweep that removes those of dead processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from cloudwarden.core.scratch import LOCK_NAME, ScratchDir, sweep

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="flock is POSIX only")

# A process that makes a scratch directory with a file in it, prints the directory, and waits.
_HOLDER = """
import sys, time
from pathlib import Path
from cloudwarden.core.scratch import ScratchDir
scratch = ScratchDir("cw-test-", parent=sys.argv[1])
(scratch.path / "batch.jsonl").write_bytes(b"x" * 5000)
print(scratch.path, flush=True)
time.sleep(120)
"""


def _holder(parent: Path) -> tuple[subprocess.Popen[str], Path]:
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(parent)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert proc.stdout is not None
    return proc, Path(proc.stdout.readline().strip())


def test_a_scratch_directory_is_locked_and_removed_by_cleanup(tmp_path: Path) -> None:
    with ScratchDir("cw-test-", parent=tmp_path) as path:
        assert path.parent == tmp_path and path.name.startswith("cw-test-")
        assert (path / LOCK_NAME).is_file()
        assert sorted(p.name for p in path.iterdir()) == [LOCK_NAME]  # the staged name is gone
    assert not path.exists()


def test_cleanup_twice_is_harmless(tmp_path: Path) -> None:
    scratch = ScratchDir("cw-test-", parent=tmp_path)
    scratch.cleanup()
    scratch.cleanup()
    assert list(tmp_path.iterdir()) == []


def test_a_prefix_outside_the_swept_namespace_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cw-"):
        ScratchDir("tmp-", parent=tmp_path)


def test_the_sweep_leaves_this_process_s_own_directory(tmp_path: Path) -> None:
    with ScratchDir("cw-test-", parent=tmp_path) as path:
        assert sweep(tmp_path).directories == 0
        assert path.is_dir()


def test_the_sweep_removes_a_killed_process_s_directory_only(tmp_path: Path) -> None:
    live, live_dir = _holder(tmp_path)
    dead, dead_dir = _holder(tmp_path)
    foreign = tmp_path / "cw-not-ours"  # no lock file: someone else's, or an older version's
    foreign.mkdir()
    (foreign / "keep").write_text("x")
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / LOCK_NAME).write_text("")  # not named like scratch
    try:
        assert sweep(tmp_path).directories == 0  # both holders alive
        dead.send_signal(signal.SIGKILL)
        dead.wait(timeout=30)
        swept = sweep(tmp_path)
        assert swept.directories == 1
        assert swept.bytes >= 5000
        assert not dead_dir.exists()
        assert live_dir.is_dir() and (live_dir / "batch.jsonl").is_file()
        assert (foreign / "keep").is_file() and (other / LOCK_NAME).is_file()
    finally:
        live.kill()
        live.wait(timeout=30)
    assert sweep(tmp_path).directories == 1  # now that one is abandoned too
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cw-not-ours", "elsewhere"]


def test_the_sweep_of_a_missing_directory_removes_nothing(tmp_path: Path) -> None:
    assert sweep(tmp_path / "absent").directories == 0


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() != 0, reason="making another user's directory needs root")
def test_the_sweep_leaves_another_user_s_directory(tmp_path: Path) -> None:
    theirs = tmp_path / "cw-ct-theirs"
    theirs.mkdir()
    (theirs / LOCK_NAME).write_text("")  # unlocked: its run is gone
    os.chown(theirs, 65534, 65534)
    assert sweep(tmp_path).directories == 0
    assert theirs.is_dir()
    os.chown(theirs, os.getuid(), os.getgid())
    assert sweep(tmp_path).directories == 1
