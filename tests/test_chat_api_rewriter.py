"""The OpenAI-compatible rewriter against local servers, over HTTP and over HTTPS (a
self-signed certificate for 127.0.0.1, trusted through SSL_CERT_FILE): one that accepts and
never answers gets a short configurable timeout with one retry, and Stop ends a waiting
request and closes its connection; one that answers does so through a cancellable call. A
certificate the client does not trust is a sentence, not a traceback. The key (from
OPENAI_API_KEY only) reaches the server's Authorization header and nothing else: no message,
no log line."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from silent_server import CountingChatServer, SilentServer, self_signed_certificate, server_tls

from core.errors import GenerationCancelled, InputError, ModelUnavailableError
from core.rewrite import (
    DEFAULT_CHAT_TIMEOUT,
    ChatAPIRewriter,
    call_cancellable,
    chat_timeout,
    is_network_rewriter,
    rewrite_cancellable,
)

pytest.importorskip("openai")


KEY = "sk-chat-test-0123456789abcdef"
SCHEMES = ["http", "https"]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    made = self_signed_certificate(tmp_path_factory.mktemp("tls"))
    if made is None:
        pytest.skip("neither the cryptography package nor the openssl command can make a cert")
    return made


@pytest.fixture
def key_in_environment(monkeypatch, caplog):
    """The key in OPENAI_API_KEY, every log record kept, to show none of them holds it."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    caplog.set_level(logging.DEBUG)
    yield
    assert KEY not in caplog.text


def serve(request, monkeypatch, make_server):
    """Return make_server(tls) on request.param's scheme; for "https" with a certificate the
    client trusts (SSL_CERT_FILE, which httpx's clients read)."""
    tls = None
    if request.param == "https":
        certificate = request.getfixturevalue("certificate")
        tls = server_tls(*certificate)
        monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    server = make_server(tls)
    monkeypatch.setenv("OPENAI_BASE_URL", f"{request.param}://127.0.0.1:{server.port}/v1")
    return server


@pytest.fixture(params=SCHEMES)
def silent_api(request, monkeypatch, key_in_environment):
    server = serve(request, monkeypatch, SilentServer)
    yield server
    server.close()


@pytest.fixture(params=SCHEMES)
def answering_api(request, monkeypatch, key_in_environment):
    server = serve(request, monkeypatch, CountingChatServer)
    yield server
    server.close()


def test_chat_timeout_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("DIFFCHAT_CHAT_TIMEOUT", raising=False)
    assert chat_timeout() == DEFAULT_CHAT_TIMEOUT
    monkeypatch.setenv("DIFFCHAT_CHAT_TIMEOUT", "2.5")
    assert chat_timeout() == 2.5
    for bad in ("0", "-1", "soon"):
        monkeypatch.setenv("DIFFCHAT_CHAT_TIMEOUT", bad)
        with pytest.raises(InputError, match="DIFFCHAT_CHAT_TIMEOUT"):
            chat_timeout()


def test_the_client_gets_the_timeout_and_one_retry(silent_api, monkeypatch):
    monkeypatch.setenv("DIFFCHAT_CHAT_TIMEOUT", "7")
    rewriter = ChatAPIRewriter.from_env()
    assert rewriter.client.timeout == 7 and rewriter.client.max_retries == 1


def test_only_the_chat_api_counts_as_a_network_rewriter():
    assert is_network_rewriter("openai")
    assert not any(is_network_rewriter(name) for name in (None, "append", "diffchat-offline"))


def test_a_silent_server_times_out_after_one_retry(silent_api, monkeypatch):
    monkeypatch.setenv("DIFFCHAT_CHAT_TIMEOUT", "0.5")
    rewriter = ChatAPIRewriter.from_env()
    started = time.monotonic()
    with pytest.raises(ModelUnavailableError, match="chat API") as raised:
        rewriter.rewrite("a cat", "make it night")
    # Two attempts of 0.5 s plus the client's short back-off; the old client took 3 x 60 s.
    assert time.monotonic() - started < 10
    # Each attempt on a connection of its own (accepted by the server's thread: on a loaded
    # machine a moment after the client gave up).
    assert silent_api.wait_connections(2, timeout=10) and silent_api.connection_count == 2
    assert KEY not in str(raised.value)


def test_stop_ends_a_waiting_request(silent_api, monkeypatch):
    monkeypatch.setenv("DIFFCHAT_CHAT_TIMEOUT", "60")
    rewriter = ChatAPIRewriter.from_env()
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(GenerationCancelled, match="Stopped"):
        rewrite_cancellable(rewriter, "a cat", "make it night", cancel)
    assert time.monotonic() - started < 5
    assert silent_api.connected.wait(10)  # it was asked (accepted late on a loaded machine)


def test_stop_closes_the_waiting_connection(silent_api, monkeypatch):
    """Stop abandoned the request but its socket stayed open, unanswered, until the chat
    timeout (here 600 s): the server must see it closed soon after Stop."""
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
    assert silent_api.asked.wait(60), "the chat API was never asked"
    assert silent_api.closed_count == 0  # the request waits on an open connection
    cancel.set()
    thread.join(60)
    assert "Stopped" in str(outcome["cancelled"])
    assert silent_api.wait_closed(1, timeout=60), "the stopped request's socket stayed open"
    # The abandoned call ends (its client's retry finds the call stopped) without connecting
    # again: a retry would hold a new socket for another whole timeout.
    for abandoned in [t for t in threading.enumerate() if t.name == "diffchat-rewrite"]:
        abandoned.join(60)
        assert not abandoned.is_alive()
    assert silent_api.connection_count == 1


def test_a_cancellable_chat_request_gets_its_answer(answering_api):
    rewriter = ChatAPIRewriter.from_env()
    ask = lambda: [rewriter.complete("a cat"), rewriter.complete("a dog")]  # noqa: E731
    # Through the call's own connections (core.chat_connections), as Stop needs them.
    assert call_cancellable(ask, threading.Event()) == ["a cat, at night", "a dog, at night"]
    assert [request["messages"][-1]["content"] for request in answering_api.requests] == [
        "a cat",
        "a dog",
    ]
    assert answering_api.authorizations == [f"Bearer {KEY}"] * 2  # the environment's key


def test_an_untrusted_certificate_is_a_clear_message(certificate, monkeypatch, key_in_environment):
    """The openai client said only "Connection error." for a self-signed certificate."""
    from diffchat_ui.worker import readable_error

    server = CountingChatServer(server_tls(*certificate))
    monkeypatch.setenv("OPENAI_BASE_URL", f"https://127.0.0.1:{server.port}/v1")
    for trusted in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(trusted, raising=False)
    monkeypatch.setenv("DIFFCHAT_CHAT_TIMEOUT", "5")
    try:
        rewriter = ChatAPIRewriter.from_env()
        with pytest.raises(ModelUnavailableError) as raised:
            rewrite_cancellable(rewriter, "a cat", "make it night", threading.Event())
    finally:
        server.close()
    said = readable_error(raised.value, "This turn")
    assert "certificate" in said and "not trust" in said and "SSL_CERT_FILE" in said, said
    assert "Traceback" not in said and KEY not in said
    assert server.requests == []  # nothing was sent over the untrusted connection


def test_rewrite_cancellable_returns_the_answer_and_raises_its_error():
    from core.rewrite import AppendRewriter

    never = threading.Event()
    assert rewrite_cancellable(AppendRewriter(), "a cat", "at night", never) == "a cat, at night"
    with pytest.raises(InputError, match="instruction is empty"):
        rewrite_cancellable(AppendRewriter(), "a cat", " ", never)
