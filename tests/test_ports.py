"""The helper that picks ports for servers started from a config: never the kernel's own."""

from __future__ import annotations

import socket
from pathlib import Path

from ports import unclaimed_port


def test_an_unclaimed_port_is_free_and_below_the_kernels_ephemeral_range() -> None:
    ephemeral_start = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = {unclaimed_port() for _ in range(20)}
    assert len(ports) > 1  # picked at random, not one fixed port every worker would share
    for port in ports:
        assert port < ephemeral_start
        with socket.socket() as server:
            server.bind(("127.0.0.1", port))
