"""Process helpers shared by everything that spawns children which must not outlive us."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal

import psutil

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Runs in the child before exec: SIGKILL it when the parent dies (Linux; else a no-op)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


def kill_tagged(name: str, value: str) -> int:
    """SIGKILL every process of ours whose environment has `name=value`; how many.

    Children started for a session carry such a tag, so what a killed agent left running
    (a tool in its own session, an orphaned shell) can be found and stopped by the next one.
    """
    killed = 0
    me = os.getpid()
    for proc in psutil.process_iter():
        if proc.pid == me:
            continue
        with contextlib.suppress(psutil.Error, OSError):
            if proc.environ().get(name) == value:
                proc.kill()
                killed += 1
    return killed
