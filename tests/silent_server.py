"""Local stand-ins for a chat API (tests of issue 11): one that hangs, one that answers and
counts what it was asked; either over HTTPS with a self-signed certificate for 127.0.0.1."""

from __future__ import annotations

import datetime
import ipaddress
import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def self_signed_certificate(folder: Path) -> tuple[Path, Path] | None:
    """Write a self-signed certificate for IP 127.0.0.1 and its key into `folder`; return
    (certificate, key) as PEM files, or None when neither the `cryptography` package nor the
    `openssl` command is there to make one."""
    certificate, key = folder / "cert.pem", folder / "key.pem"
    try:
        _certificate_by_cryptography(certificate, key)
    except ImportError:
        if shutil.which("openssl") is None:
            return None
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
            + ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
            + ["-keyout", str(key), "-out", str(certificate)],
            check=True,
            capture_output=True,
        )
    return certificate, key


def _certificate_by_cryptography(certificate: Path, key: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    private_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    built = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(private_key, hashes.SHA256())
    )
    certificate.write_bytes(built.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def server_tls(certificate: Path, key: Path) -> ssl.SSLContext:
    """Return the server side TLS context of a stand-in speaking HTTPS with that certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    return context


class SilentServer:
    """A TCP server on 127.0.0.1 that accepts connections and never answers; with `tls` (a
    server_tls context) it completes the TLS handshake first, then never answers."""

    def __init__(self, tls: ssl.SSLContext | None = None):
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.tls = tls
        self.connected = threading.Event()
        self.asked = threading.Event()  # a request arrived (after the handshake, with TLS)
        self._held: list[socket.socket] = []
        self._wrapped: list[ssl.SSLSocket] = []  # the TLS sockets the held ones became
        self._closed = threading.Condition()
        self.closed_count = 0  # connections the client has closed (end of stream read)
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def connection_count(self) -> int:
        """Return how many connections it has accepted so far."""
        return len(self._held)

    def wait_connections(self, count: int, timeout: float) -> bool:
        """Return True once `count` connections have been accepted, False when `timeout`
        seconds pass first."""
        deadline = time.monotonic() + timeout
        while self.connection_count < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.connection_count >= count

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
            if self.tls is not None:
                connection = self.tls.wrap_socket(connection, server_side=True)
                self._wrapped.append(connection)
            while connection.recv(65536):  # the request, never answered
                self.asked.set()
        except ssl.SSLError:  # the client cut the TLS stream, or refused the certificate
            pass
        except OSError:  # closed by this server
            return
        with self._closed:
            self.closed_count += 1
            self._closed.notify_all()

    def close(self):
        self.socket.close()
        for connection in self._held + self._wrapped:
            connection.close()


class CountingChatServer:
    """An OpenAI-compatible chat server on 127.0.0.1 that answers every completion at once
    (the request's last message, "at night" added) and counts the requests (`requests`,
    their Authorization headers in `authorizations`); over HTTPS with `tls`."""

    def __init__(self, tls: ssl.SSLContext | None = None):
        self.requests: list[dict] = []
        self.authorizations: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                server.authorizations.append(self.headers.get("Authorization", ""))
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
        if tls is not None:  # each accepted connection does its handshake, then HTTP
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self):
        self._server.shutdown()
        self._server.server_close()
