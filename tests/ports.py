"""A port for a server that another process will start, when that process cannot be told port 0
(the port has to be written into a config before the server exists).

A port from `bind(("127.0.0.1", 0))` comes from the kernel's ephemeral range, the same range every
outgoing connection of the suite takes its local port from: between closing the probe and the
server binding, one of them may take it ("Address already in use"). A port below that range is
never handed out by the kernel, so only another explicit pick could collide, and the probe bind
rules out one that is taken already.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST = 10_000
_ATTEMPTS = 50


def unclaimed_port() -> int:
    """A free 127.0.0.1 port that the kernel never picks by itself."""
    try:
        ephemeral_start = int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral_start = 32_768  # Linux's default
    if ephemeral_start <= _LOWEST + 1_000:
        return _kernel_port()
    for _ in range(_ATTEMPTS):
        port = random.randrange(_LOWEST, ephemeral_start)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    return _kernel_port()


def _kernel_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
