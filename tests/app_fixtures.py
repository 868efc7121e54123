"""Starting the app in a test: on 127.0.0.1, on a free port the OS picks.

Left to itself Gradio takes the first free port from 7860, the port of `make run`: a test
run next to a developer's app (or another test run) took 7861 or, with 7860 free, the
developer's own port. The OS hands out its ephemeral ports (32768 and up on Linux) instead.
"""

from __future__ import annotations

import socket

HOST = "127.0.0.1"


def free_port() -> int:
    """Return a port of 127.0.0.1 that no one listens on now, picked by the OS."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def local_launch_options() -> dict:
    """Return the `launch()` arguments of an app a test starts: 127.0.0.1 on a free port,
    in the background, quiet, without launch's check that the page answers within 3 s
    (a busy 2-core machine fails it; the tests' first call finds out soon enough)."""
    return {
        "server_name": HOST,
        "server_port": free_port(),
        "prevent_thread_lock": True,
        "quiet": True,
        "_frontend": False,
    }
