"""The OpenAI-compatible rewriter against local HTTPS servers (issue 11): the configured
timeout with one retry and Stop hold over TLS as over plain HTTP, and a certificate the
client does not trust is a sentence, not a traceback. The key (from OPENAI_API_KEY only)
reaches the server and nothing else: no message, no log line."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from silent_server import CountingChatServer, SilentServer, self_signed_certificate, server_tls

from core.errors import GenerationCancelled, ModelUnavailableError
from core.rewrite import ChatAPIRewriter, call_cancellable, rewrite_cancellable

pytest.importorskip("openai")

KEY = "sk-https-test-0123456789abcdef"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    made = self_signed_certificate(tmp_path_factory.mktemp("tls"))
    if made is None:
        pytest.skip("neither the cryptography package nor the openssl command can make a cert")
    return made


@pytest.fixture
def key_in_environment(monkeypatch, caplog):
    """The key in OPENAI_API_KEY, every log record kept (caplog) to show it is never logged."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    caplog.set_level(logging.DEBUG)
    yield
    assert KEY not in caplog.text


@pytest.fixture
def silent_https(certificate, monkeypatch, key_in_environment):
    """A TLS server that completes the handshake and never answers, its certificate trusted."""
    server = SilentServer(server_tls(*certificate))
    monkeypatch.setenv("OPENAI_BASE_URL", f"https://127.0.0.1:{server.port}/v1")
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))  # read by httpx's clients
    yield server
    server.close()


@pytest.fixture
def answering_https(certificate, monkeypatch, key_in_environment):
    """A TLS chat server that answers at once; whether its certificate is trusted is the
    test's choice (SSL_CERT_FILE)."""
    server = CountingChatServer(server_tls(*certificate))
    monkeypatch.setenv("OPENAI_BASE_URL", f"https://127.0.0.1:{server.port}/v1")
    yield server
    server.close()


def test_a_trusted_https_server_answers_a_cancellable_call(
    answering_https, certificate, monkeypatch
):
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    rewriter = ChatAPIRewriter.from_env()
    answer = call_cancellable(lambda: rewriter.complete("a cat"), threading.Event())
    assert answer == "a cat, at night"
    assert answering_https.authorizations == [f"Bearer {KEY}"]  # from the environment


def test_a_silent_https_server_times_out_after_one_retry(silent_https, monkeypatch):
    monkeypatch.setenv("DIFFCHAT_CHAT_TIMEOUT", "0.5")
    rewriter = ChatAPIRewriter.from_env()
    started = time.monotonic()
    with pytest.raises(ModelUnavailableError, match="chat API") as raised:
        rewrite_cancellable(rewriter, "a cat", "make it night", threading.Event())
    # Two attempts of 0.5 s plus the client's short back-off, each on its own connection.
    assert time.monotonic() - started < 10
    assert silent_https.connection_count == 2
    assert KEY not in str(raised.value)


def test_stop_closes_a_waiting_https_connection(silent_https, monkeypatch):
    monkeypatch.setenv("DIFFCHAT_CHAT_TIMEOUT", "600")
    rewriter = ChatAPIRewriter.from_env()
    cancel, outcome = threading.Event(), {}

    def turn():
        try:
            rewrite_cancellable(rewriter, "a cat", "make it night", cancel)
        except GenerationCancelled as error:
            outcome["cancelled"] = error

    thread = threading.Thread(target=turn)
    thread.start()
    assert silent_https.connected.wait(60), "the chat API was never asked"
    time.sleep(0.5)  # the handshake done, the request sent: the client waits for an answer
    assert silent_https.closed_count == 0
    cancel.set()
    thread.join(60)
    assert "Stopped" in str(outcome["cancelled"])
    assert silent_https.wait_closed(1, timeout=60), "the stopped request's socket stayed open"
    for abandoned in [t for t in threading.enumerate() if t.name == "diffchat-rewrite"]:
        abandoned.join(60)
        assert not abandoned.is_alive()
    assert silent_https.connection_count == 1


def test_an_untrusted_certificate_is_a_clear_message(answering_https, monkeypatch):
    from diffchat_ui.worker import readable_error

    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    monkeypatch.setenv("DIFFCHAT_CHAT_TIMEOUT", "5")
    rewriter = ChatAPIRewriter.from_env()
    with pytest.raises(ModelUnavailableError) as raised:
        rewrite_cancellable(rewriter, "a cat", "make it night", threading.Event())
    said = readable_error(raised.value, "This turn")
    assert "certificate" in said and "not trust" in said and "SSL_CERT_FILE" in said, said
    assert "Traceback" not in said and KEY not in said
    assert answering_https.requests == []  # nothing was sent over the untrusted connection
