"""Chat-API connections that Stop can cut (issue 11): a stopped request's socket is shut down
at once instead of staying open, unanswered, until the chat timeout.

Closing a socket from another thread does not end a `recv` blocked on it: the kernel keeps
the connection until that call returns (at the timeout), so the server never sees it go.
`shutdown()` does end it. The requests of one cancellable call (`core.rewrite.call_cancellable`)
go through an HTTP client of their own, which notes every socket it connects (httpcore's
`trace` request extension names the new stream); `cut()` shuts them all down.
"""

from __future__ import annotations

import contextvars
import socket
import threading

from core.errors import GenerationCancelled

# The connections of the cancellable call running in this thread (None outside one).
_current: contextvars.ContextVar[CancellableConnections | None] = contextvars.ContextVar(
    "diffchat_chat_connections", default=None
)
# httpcore's trace events that hand over a connected stream (TLS wraps the TCP one).
_CONNECTED = ("connection.connect_tcp.complete", "connection.start_tls.complete")


class CancellableConnections:
    """The sockets one cancellable call's chat requests opened; `cut()` ends them all."""

    def __init__(self):
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._clients: dict[int, object] = {}  # id(shared client) -> this call's copy of it
        self.is_cut = False

    def client_for(self, client):
        """Return `client` (an openai.OpenAI) with an HTTP client of this call's own, made on
        first use: a shared client's pooled connection could not be told apart from another
        user's."""
        import openai

        with self._lock:
            if id(client) not in self._clients:
                http_client = openai.DefaultHttpxClient(event_hooks={"request": [self._watch]})
                self._clients[id(client)] = client.with_options(http_client=http_client)
            return self._clients[id(client)]

    def _watch(self, request) -> None:
        if self.is_cut:  # the client's retry after a cut must not connect again
            raise GenerationCancelled("Stopped while waiting for the rewriter.")
        request.extensions = {**request.extensions, "trace": self._trace}

    def _trace(self, event: str, info: dict) -> None:
        if event not in _CONNECTED:
            return
        connected = info["return_value"].get_extra_info("socket")
        with self._lock:
            self._sockets.append(connected)
            cut = self.is_cut
        if cut:  # connected while `cut()` ran
            _shut_down(connected)

    def cut(self) -> None:
        """Shut down every socket opened so far, and each one opened from now on."""
        with self._lock:
            self.is_cut = True
            sockets = list(self._sockets)
        for connected in sockets:
            _shut_down(connected)

    def close(self) -> None:
        """Close this call's HTTP clients (the call is over)."""
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()


def _shut_down(connected: socket.socket) -> None:
    try:
        # The plain socket call, also on a TLS socket: its own shutdown() first drops the TLS
        # state, which the request's thread is still reading through.
        socket.socket.shutdown(connected, socket.SHUT_RDWR)
    except OSError:  # already closed (or detached into its TLS socket)
        pass


def scoped(client):
    """Return the client a chat request should use: inside a cancellable call, `client`'s
    copy with the call's own connections (`CancellableConnections.client_for`); else, or for
    a client that is not an openai.OpenAI (a test's stand-in), `client` itself."""
    import openai

    connections = _current.get()
    if connections is None or not isinstance(client, openai.OpenAI):
        return client
    return connections.client_for(client)


def run_with(connections: CancellableConnections, call):
    """Return `call()`, its chat requests going through `connections`."""
    token = _current.set(connections)
    try:
        return call()
    finally:
        _current.reset(token)
