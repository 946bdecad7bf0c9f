"""free_port (bot/sandbox/setup.py): a port for a server started a moment later."""

import socket
from pathlib import Path

import pytest

from bot.sandbox.setup import HOST, free_port

RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


@pytest.mark.skipif(not RANGE.exists(), reason="Linux's ephemeral port range is not readable")
def test_the_port_is_free_and_outside_the_range_outgoing_connections_take_theirs_from():
    start = int(RANGE.read_text().split()[0])
    ports = {free_port() for _ in range(20)}
    assert len(ports) > 1  # chosen at random, not a fixed one every caller would race for
    for port in ports:
        assert 1024 <= port < start
        with socket.socket() as server:
            server.bind((HOST, port))
            server.listen()
