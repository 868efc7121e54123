"""Compare with a chat API: Best-of-N samples are drawn in the Compare handler, outside the
model worker, and Stop ends the wait for them (issue 11, item 3)."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest
from PIL import Image

from core import images, rewrite
from core.errors import GenerationCancelled
from diffchat_ui.compare_tab import (
    BEST_OF_N_SAMPLES,
    ComparePlan,
    check_plan,
    remote_rewrites,
    run_comparison,
)

pytest.importorskip("openai")


class FakeChatClient:
    """Answers like an OpenAI-compatible server: n distinct night versions of the prompt."""

    def __init__(self):
        self.calls: list[dict] = []
        self.chat = SimpleNamespace(completions=SimpleNamespace(create=self.create))

    def create(self, model, messages, **options):
        self.calls.append({"thread": threading.current_thread().name, **options})
        count = options.get("n", 1)
        texts = [f"a windmill at night, {word} moon" for word in ("full", "crescent", "red")]
        choices = [SimpleNamespace(message=SimpleNamespace(content=text)) for text in texts]
        return SimpleNamespace(choices=choices[:count])


@pytest.fixture
def fake_chat_api():
    client = FakeChatClient()
    rewrite._cache["openai"] = rewrite.ChatAPIRewriter(client, "fake-model")
    yield client
    rewrite._cache.pop("openai", None)


def test_best_of_n_from_a_chat_api_is_sampled_in_the_handler(fake_chat_api, monkeypatch, tmp_path):
    def generate(request, progress=None, cancel_event=None):  # no model: a flat image
        return SimpleNamespace(image=Image.new("RGB", (8, 8), "gray"))

    monkeypatch.setattr(images, "generate", generate)
    plan = ComparePlan(
        "a windmill",
        "make it night",
        ("tiny-sd",),
        ("openai",),
        False,
        "",
        score=False,
        best_of_n=3,
        best_of_n_weights="content_integrity=1",
    )
    check_plan(plan)  # no longer refused
    said = []
    answers = remote_rewrites(plan, threading.Event(), lambda _, desc: said.append(desc))
    assert answers[BEST_OF_N_SAMPLES] == [
        "a windmill at night, full moon",
        "a windmill at night, crescent moon",
        "a windmill at night, red moon",
    ]
    assert said[-1] == "waiting for 3 samples from the openai rewriter"
    asked = len(fake_chat_api.calls)
    folders = run_comparison(plan, tmp_path, lambda *args: None, threading.Event(), answers)
    assert len(fake_chat_api.calls) == asked  # the worker's job asked the API nothing
    record = (folders[0] / "comparison.json").read_text()
    assert "best-of-3" in record and "moon" in record


def test_stop_ends_the_wait_for_chat_api_samples():
    release = threading.Event()

    class SlowRewriter:
        def sample(self, prompt, instruction, num_candidates, seed=0):
            release.wait(30)
            return ["late"]

    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    try:  # without Stop the call would block until `release`, then return ["late"]
        with pytest.raises(GenerationCancelled):
            rewrite.sample_cancellable(SlowRewriter(), "a mill", "make it night", 4, stop)
    finally:
        release.set()


def test_a_slow_model_load_does_not_hold_up_another_rewriter(monkeypatch):
    """load_rewriter locks per name: while one name loads (a local model takes seconds),
    another name (the chat API client) loads at once."""
    loading, release = threading.Event(), threading.Event()
    real_load = rewrite._load_uncached

    def load(key):
        if key == "slow-local":
            loading.set()
            release.wait(30)
        return real_load("append") if key == "slow-local" else SimpleNamespace(name=key)

    monkeypatch.setattr(rewrite, "_load_uncached", load)
    for key in ("slow-local", "quick"):
        rewrite._cache.pop(key, None)
    slow = threading.Thread(target=rewrite.load_rewriter, args=("slow-local",))
    slow.start()
    try:
        assert loading.wait(10)
        quick = {}
        other = threading.Thread(target=lambda: quick.update(r=rewrite.load_rewriter("quick")))
        other.start()
        other.join(10)
        # with one global lock, "quick" would still wait for "slow-local" here
        assert quick["r"].name == "quick" and slow.is_alive()
    finally:
        release.set()
        slow.join(10)
        for key in ("slow-local", "quick"):
            rewrite._cache.pop(key, None)
