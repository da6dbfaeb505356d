"""Is a host reachable? One TCP connect tells an offline machine from a slow server in
seconds, instead of after a minute of HTTP retries."""

from __future__ import annotations

import socket
from urllib.parse import urlparse


def host_reachable(url: str, timeout: float = 3.0) -> bool:
    """One TCP connect to the URL's host and port (443/80 by scheme when not given)."""
    parts = urlparse(url)
    if not parts.hostname:
        return False
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False
