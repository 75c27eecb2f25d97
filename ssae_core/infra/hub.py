"""The Hugging Face Hub: whether it can be reached, and what to do offline.

A TCP probe before any download, so a run without network fails at once with a message
that names the offline alternatives instead of hanging in a download.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

OFFLINE_ALTERNATIVES = (
    "Offline, use the embedded demo world (--base demo), or local directories "
    "(--base local --model-dir DIR --sae-dir DIR), or set HF_HUB_OFFLINE=1 to use "
    "models already in your Hugging Face cache."
)


def offline_mode() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the Hugging Face Hub opens within ``timeout`` seconds."""
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        with socket.create_connection((url.hostname, url.port or 443), timeout=timeout):
            return True
    except OSError:
        return False
