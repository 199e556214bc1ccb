"""Keeping the daemon's C heap from creeping up over days (glibc only; a no-op elsewhere).

glibc gives each thread that allocates while the others hold the lock an arena of its own,
up to eight per core, and never hands an arena's freed middle back to the kernel. The daemon
runs many short-lived threads (pushes, channel requests, parallel file writes, uvicorn,
watchdog) and the .docx merges build and drop large lxml trees, so freed memory ends up
scattered over many arenas and the resident set creeps up a little with every round.

:func:`limit_arenas` caps the arenas (call it before the daemon starts any thread);
:func:`release_free_memory` returns the free pages of every arena to the kernel
(``malloc_trim``), for after a round that merged, the one step that allocates a lot at once.
"""

from __future__ import annotations

import ctypes
import logging
import platform
import sys

logger = logging.getLogger(__name__)

#: Arenas for the whole daemon: two is what MALLOC_ARENA_MAX=2 gives, the usual setting for
#: long-running multi-threaded servers; the daemon's threads mostly wait, and seldom
#: allocate at the same instant.
ARENA_MAX = 2
_M_ARENA_MAX = -8  # mallopt's parameter number in glibc's malloc.h

_libc: ctypes.CDLL | None = None
_looked = False


def _glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (musl and the other systems have no such calls)."""
    global _libc, _looked
    if not _looked:
        _looked = True
        if sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc":
            try:
                lib = ctypes.CDLL(None)
                lib.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
                lib.malloc_trim.argtypes = (ctypes.c_size_t,)
                _libc = lib
            except (OSError, AttributeError) as e:
                logger.debug("no glibc malloc controls: %s", e)
    return _libc


def limit_arenas(n: int = ARENA_MAX) -> bool:
    """Cap glibc's malloc arenas at N; True if set. Arenas made before stay, so this must
    run before the daemon's first thread."""
    lib = _glibc()
    return bool(lib is not None and lib.mallopt(_M_ARENA_MAX, n) == 1)


def release_free_memory() -> bool:
    """Hand the free pages of every malloc arena back to the kernel; True if any were."""
    lib = _glibc()
    return bool(lib is not None and lib.malloc_trim(0))
