"""The OpenAI-compatible rewriter against a local server that accepts and never answers:
a short configurable timeout with one retry, and Stop ends a waiting request."""

from __future__ import annotations

import threading
import time

import pytest
from silent_server import SilentServer

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


@pytest.fixture
def silent_api(monkeypatch):
    server = SilentServer()
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{server.port}/v1")
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
    with pytest.raises(ModelUnavailableError, match="chat API"):
        rewriter.rewrite("a cat", "make it night")
    # Two attempts of 0.5 s plus the client's short back-off; the old client took 3 x 60 s.
    assert time.monotonic() - started < 10


def test_stop_ends_a_waiting_request(silent_api, monkeypatch):
    monkeypatch.setenv("DIFFCHAT_CHAT_TIMEOUT", "60")
    rewriter = ChatAPIRewriter.from_env()
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(GenerationCancelled, match="Stopped"):
        rewrite_cancellable(rewriter, "a cat", "make it night", cancel)
    assert time.monotonic() - started < 5
    assert silent_api.connected.is_set()


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
    assert silent_api.connected.wait(60), "the chat API was never asked"
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


def test_a_cancellable_chat_request_gets_its_answer(monkeypatch):
    from silent_server import CountingChatServer

    server = CountingChatServer()
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{server.port}/v1")
    try:
        rewriter = ChatAPIRewriter.from_env()
        ask = lambda: [rewriter.complete("a cat"), rewriter.complete("a dog")]  # noqa: E731
        # Through the call's own connections (core.chat_connections), as Stop needs them.
        assert call_cancellable(ask, threading.Event()) == ["a cat, at night", "a dog, at night"]
        assert [request["messages"][-1]["content"] for request in server.requests] == [
            "a cat",
            "a dog",
        ]
    finally:
        server.close()


def test_rewrite_cancellable_returns_the_answer_and_raises_its_error():
    from core.rewrite import AppendRewriter

    never = threading.Event()
    assert rewrite_cancellable(AppendRewriter(), "a cat", "at night", never) == "a cat, at night"
    with pytest.raises(InputError, match="instruction is empty"):
        rewrite_cancellable(AppendRewriter(), "a cat", " ", never)
