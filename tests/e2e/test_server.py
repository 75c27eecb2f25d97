"""The dashboard server as the README starts it: reachable on loopback only."""

from pathlib import Path
from urllib.parse import urlparse

LOOPBACK = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1 and ::1 in /proc/net
LISTEN = "0A"


def listening_addresses(port: int) -> set[str]:
    """Hex local addresses of the TCP sockets listening on ``port`` (Linux /proc/net)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if int(hex_port, 16) == port and state == LISTEN:
                found.add(address)
    return found


def test_the_dashboard_listens_on_loopback_only(dashboard):
    addresses = listening_addresses(urlparse(dashboard).port)
    assert addresses, "the server is listening"
    assert addresses <= LOOPBACK, f"listening beyond loopback: {addresses}"
