"""Credentials never reach a message, a log line or a saved record (issue 11, item 7)."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from core.errors import DiffChatError, RedactingFilter, redact_secrets

KEY = "sk-test-abcdefghijklmnop1234"


class EchoAuthorization(BaseHTTPRequestHandler):
    """A chat endpoint that answers every request with its Authorization header in the body."""

    status = 401

    def do_POST(self):  # noqa: N802 — http.server's name
        body = json.dumps(
            {"error": {"message": f"bad credentials: {self.headers.get('Authorization')}"}}
        ).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(params=[401, 500])
def echo_server(request):
    handler = type("Echo", (EchoAuthorization,), {"status": request.param})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


def test_redaction_table():
    assert redact_secrets("http://alice:hunter2@10.0.0.1:8000/v1 failed") == (
        "http://***@10.0.0.1:8000/v1 failed"
    )
    assert redact_secrets("Authorization: Bearer abc.def-123") == "Authorization: Bearer ***"
    assert redact_secrets(f"echo {KEY} back") == "echo *** back"
    assert redact_secrets("hf_abcdefghijklmnop and https://example.org/x") == (
        "*** and https://example.org/x"
    )


def test_chat_api_errors_say_nothing_secret(echo_server, monkeypatch, caplog):
    pytest.importorskip("openai")
    from core.rewrite import ChatAPIRewriter
    from diffchat_ui.worker import readable_error

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://alice:hunter2@127.0.0.1:{echo_server}/v1")
    monkeypatch.setenv("DIFFCHAT_CHAT_TIMEOUT", "5")
    rewriter = ChatAPIRewriter.from_env()
    with pytest.raises(DiffChatError) as raised:
        rewriter.rewrite("a cat", "make it night")
    for message in (str(raised.value), readable_error(raised.value, "This turn")):
        assert KEY not in message and "hunter2" not in message and "alice" not in message
    # Logs (httpx logs each request URL) pass the same filter in the app.
    record = logging.LogRecord(
        "httpx", logging.INFO, "", 0, "POST %s", (f"{KEY} http://alice:hunter2@h/v1",), None
    )
    RedactingFilter().filter(record)
    assert KEY not in record.getMessage() and "hunter2" not in record.getMessage()


def test_a_compare_failure_record_keeps_no_key(monkeypatch):
    from core.errors import ModelUnavailableError
    from diffchat_ui.compare_tab import Candidate

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    error = ModelUnavailableError(f"server said: {KEY}")
    candidate = Candidate(method="openai", error=redact_secrets(str(error)))
    assert KEY not in json.dumps(candidate.__dict__)
