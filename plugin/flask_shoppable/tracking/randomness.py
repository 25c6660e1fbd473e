"""Random bytes from the operating system's CSPRNG, read a block at a time.

Every click needs fresh randomness twice (the interaction id, and a visitor id for a
new visitor), and ``os.urandom`` is a system call that costs 15-20 µs on a virtual
machine: a tenth of the redirect's budget. The bytes here are the same CSPRNG output,
read 4 KiB at a time and handed out in order, never twice. A forked child throws its
parent's block away (it would otherwise hand out the same bytes as the parent).
"""

from __future__ import annotations

import os
import threading

BLOCK = 4096

_lock = threading.Lock()
_block = b""
_position = 0
_pid = 0


def token_bytes(n: int) -> bytes:
    """``n`` random bytes (n <= BLOCK), fit for ids that must not be guessed."""
    global _block, _position, _pid
    with _lock:
        if _pid != os.getpid() or _position + n > len(_block):
            _block = os.urandom(max(BLOCK, n))
            _position = 0
            _pid = os.getpid()
        start = _position
        _position += n
        return _block[start:_position]


def _forget_after_fork() -> None:
    global _block, _position, _lock
    _lock = threading.Lock()
    _block = b""
    _position = 0


os.register_at_fork(after_in_child=_forget_after_fork)
