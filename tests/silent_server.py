"""A local stand-in for a chat API that hangs (tests of issue 11, item 3)."""

from __future__ import annotations

import socket
import threading


class SilentServer:
    """A TCP server on 127.0.0.1 that accepts connections and never answers."""

    def __init__(self):
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.connected = threading.Event()
        self._held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def connection_count(self) -> int:
        """Return how many connections it has accepted so far."""
        return len(self._held)

    def _accept(self):
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self._held.append(connection)
            self.connected.set()

    def close(self):
        self.socket.close()
        for connection in self._held:
            connection.close()
