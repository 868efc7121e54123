"""Local stand-ins for a chat API (tests of issue 11): one that hangs, one that answers and
counts what it was asked."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class SilentServer:
    """A TCP server on 127.0.0.1 that accepts connections and never answers."""

    def __init__(self):
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.connected = threading.Event()
        self._held: list[socket.socket] = []
        self._closed = threading.Condition()
        self.closed_count = 0  # connections the client has closed (end of stream read)
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def connection_count(self) -> int:
        """Return how many connections it has accepted so far."""
        return len(self._held)

    def wait_closed(self, count: int, timeout: float) -> bool:
        """Return True once `count` connections have been closed by the client, False when
        `timeout` seconds pass first."""
        with self._closed:
            return self._closed.wait_for(lambda: self.closed_count >= count, timeout)

    def _accept(self):
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self._held.append(connection)
            self.connected.set()
            threading.Thread(
                target=self._read_until_closed, args=(connection,), daemon=True
            ).start()

    def _read_until_closed(self, connection: socket.socket):
        try:
            while connection.recv(65536):  # the request, never answered
                pass
        except OSError:  # closed by this server
            return
        with self._closed:
            self.closed_count += 1
            self._closed.notify_all()

    def close(self):
        self.socket.close()
        for connection in self._held:
            connection.close()


class CountingChatServer:
    """An OpenAI-compatible chat server on 127.0.0.1 that answers every completion at once
    (the request's last message, "at night" added) and counts the requests."""

    def __init__(self):
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                text = body["messages"][-1]["content"] + ", at night"
                answer = json.dumps(
                    {
                        "id": "1",
                        "object": "chat.completion",
                        "created": 0,
                        "model": body["model"],
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": text},
                                "finish_reason": "stop",
                            }
                        ],
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):  # quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self):
        self._server.shutdown()
        self._server.server_close()
