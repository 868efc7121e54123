"""Credentials never reach a message, a log line or a saved record (issue 11, item 7)."""

from __future__ import annotations

import base64
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


def test_the_chat_urls_login_is_redacted_in_every_form_it_is_sent_in(monkeypatch):
    """An endpoint echoing its request said the login of OPENAI_BASE_URL as the Basic
    Authorization httpx sent it in (base64 of alice:hunter2), or its password alone."""
    monkeypatch.setenv("OPENAI_BASE_URL", "https://alice:hunt%40er2@10.0.0.1/v1")
    basic = base64.b64encode(b"alice:hunt@er2").decode()
    assert redact_secrets(f"Authorization: Basic {basic}") == "Authorization: Basic ***"
    assert redact_secrets(f"authorization: basic {basic}") == "authorization: basic ***"
    for said in ("hunt@er2", "hunt%40er2"):
        assert redact_secrets(f"wrong password {said}!") == "wrong password ***!"
    # Only credentials: a prompt's "basic shapes" and a plain base64 word stay.
    for text in ("a basic shapes study", "Basic colours, basic 1234", "Basic dGVzdA=="):
        assert redact_secrets(text) == text


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
    basic = base64.b64encode(b"alice:hunter2").decode()  # how httpx sends the URL's login
    for message in (str(raised.value), readable_error(raised.value, "This turn")):
        assert KEY not in message and "hunter2" not in message and "alice" not in message
        assert basic not in message, message
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
