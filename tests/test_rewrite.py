"""core/rewrite.py: the paper template, the backends, adapter loading, loading by name."""

from __future__ import annotations

import json

import httpx
import pytest
import torch

from core.errors import DiffChatError, InputError, ModelUnavailableError, UnknownModelError
from core.rewrite import (
    PAPER_TEMPLATE,
    AppendRewriter,
    ChatAPIRewriter,
    LocalCausalLMRewriter,
    _resolve_base_model,
    first_line,
    format_rewrite_prompt,
    load_rewriter,
)
from tests.train_fixtures import save_tiny_llama


def test_paper_template_is_verbatim():
    # DiffChat section 3.2, footnote 7.
    assert PAPER_TEMPLATE == (
        "Instruction: Give a description of the image and a modification to generate a "
        "drawing prompt.\nInput: {x}\nModification: {i}\nOutput:"
    )


def test_format_rewrite_prompt_fills_and_strips():
    assert format_rewrite_prompt(" a red fox ", "make it night\n") == (
        "Instruction: Give a description of the image and a modification to generate a "
        "drawing prompt.\nInput: a red fox\nModification: make it night\nOutput:"
    )


@pytest.mark.parametrize(
    ("generated", "expected"),
    [(" a fox at night\nInput: more", "a fox at night"), ("\n\n  a fox \n", "a fox"), (" \n", "")],
)
def test_first_line_keeps_the_first_non_empty_line(generated, expected):
    assert first_line(generated) == expected


def test_append_rewriter():
    rewriter = load_rewriter("append")
    assert isinstance(rewriter, AppendRewriter)
    assert rewriter.rewrite(" a red fox ", " at night ") == "a red fox, at night"
    assert rewriter.rewrite_batch([("", "a cat"), ("a", "b")]) == ["a cat", "a, b"]
    assert rewriter.sample("a", "b", 3) == ["a, b"] * 3
    with pytest.raises(InputError, match="instruction is empty"):
        rewriter.rewrite("a", "  ")
    with pytest.raises(InputError, match="num_candidates"):
        rewriter.sample("a", "b", 0)


def test_load_rewriter_refuses_unknown_and_non_rewriter_names():
    with pytest.raises(UnknownModelError, match="diffchat-offline"):
        load_rewriter("no-such-rewriter")
    with pytest.raises(InputError, match="not a rewriter"):
        load_rewriter("tiny-sd")


def test_adapter_base_names_resolve_to_the_offline_smollm2_folder(tmp_path):
    from core.assets.smollm2 import model_folder

    assert _resolve_base_model("smollm2-base") == str(model_folder())
    # A path written on the training machine maps to this machine's copy.
    assert _resolve_base_model("/root/cache/smollm2-135m-instruct") == str(model_folder())
    assert _resolve_base_model(str(tmp_path)) == str(tmp_path)
    assert _resolve_base_model("HuggingFaceTB/SmolLM2-135M") == "HuggingFaceTB/SmolLM2-135M"


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """A tiny random Llama folder and a LoRA adapter on it with non-zero (random) B."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    root = tmp_path_factory.mktemp("tiny-rewriter")
    base = save_tiny_llama(root / "base", seed=3)
    torch.manual_seed(4)
    model = AutoModelForCausalLM.from_pretrained(base)
    lora = LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False
    )
    get_peft_model(model, lora).save_pretrained(root / "adapter")
    return base, root / "adapter"


PAIRS = [
    ("a red cat, oil painting, detailed", "make the cat blue"),
    ("a house", "make the house golden"),
]


def test_local_rewriter_batch_matches_single_requests(tiny_models):
    base, _ = tiny_models
    rewriter = load_rewriter(str(base))
    assert isinstance(rewriter, LocalCausalLMRewriter)
    batch = rewriter.with_settings(max_new_tokens=12).rewrite_batch(PAIRS)
    singles = [rewriter.with_settings(max_new_tokens=12).rewrite_batch([pair])[0] for pair in PAIRS]
    # Left padding must not change what a row generates.
    assert batch == singles
    assert all(isinstance(text, str) and "\n" not in text for text in batch)


def test_local_complete_is_a_greedy_first_line_of_the_plain_prompt(tiny_models):
    base, _ = tiny_models
    rewriter = load_rewriter(str(base)).with_settings(max_new_tokens=12)
    text = "Caption: a dog on a beach\nPrompt:"
    answer = rewriter.complete(text, no_repeat_ngram_size=3)
    assert answer == rewriter._generate([text], no_repeat_ngram_size=3)[0]
    assert answer == answer.strip() and "\n" not in answer
    # Greedy even when the rewriter is set to sample.
    sampler = rewriter.with_settings(typical_p=0.5)
    assert sampler.complete(text) == rewriter.complete(text)


def test_lora_adapter_is_loaded_on_its_base_and_merged(tiny_models):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base, adapter = tiny_models
    assert json.loads((adapter / "adapter_config.json").read_text())[
        "base_model_name_or_path"
    ] == str(base)
    rewriter = load_rewriter(str(adapter))
    assert not isinstance(rewriter.model, PeftModel)  # merged: bare-model speed

    inputs = rewriter.tokenizer([format_rewrite_prompt(*PAIRS[0])], return_tensors="pt")
    with torch.no_grad():
        merged = rewriter.model(**inputs).logits
        plain = AutoModelForCausalLM.from_pretrained(base)(**inputs).logits
        reference = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), adapter)
        with_adapter = reference(**inputs).logits
    torch.testing.assert_close(merged, with_adapter, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(merged, plain)  # the adapter really changes the model


def test_training_output_folder_with_final_is_accepted(tiny_models, tmp_path):
    import shutil

    _, adapter = tiny_models
    shutil.copytree(adapter, tmp_path / "run" / "final")
    rewriter = LocalCausalLMRewriter.from_pretrained(str(tmp_path / "run"))
    assert len(rewriter.with_settings(max_new_tokens=4).rewrite_batch(PAIRS)) == 2
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="neither a model"):
        LocalCausalLMRewriter.from_pretrained(str(tmp_path / "empty"))


def test_sampling_is_reproducible_and_leaves_the_global_rng_alone(tiny_models):
    rewriter = load_rewriter(str(tiny_models[0])).with_settings(max_new_tokens=8)
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    first = rewriter.sample(*PAIRS[0], num_candidates=3, typical_p=0.9, seed=5)
    assert torch.rand(1) == expected_next
    assert rewriter.sample(*PAIRS[0], num_candidates=3, typical_p=0.9, seed=5) == first
    assert len(first) == 3
    with pytest.raises(InputError, match="typical_p"):
        rewriter.sample(*PAIRS[0], num_candidates=2, typical_p=1.5)


def test_empty_rewrite_is_an_error_for_single_requests():
    class Silent(AppendRewriter):
        def rewrite_batch(self, pairs):
            return [""]

    with pytest.raises(DiffChatError, match="empty prompt"):
        Silent().rewrite("a", "b")


# --- OpenAI-compatible chat API, against a mock transport (no network)


def _chat_client(handler):
    from openai import OpenAI

    return OpenAI(
        api_key="sk-secret-test-key",
        base_url="http://chat.invalid/v1",
        max_retries=0,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )


def test_chat_api_rewriter_sends_the_system_prompt_and_keeps_the_first_line():
    requests = []

    def handler(request):
        body = json.loads(request.content)
        requests.append(body)
        choices = [
            {
                "index": n,
                "message": {"role": "assistant", "content": "a red fox at night\nDone."},
                "finish_reason": "stop",
            }
            for n in range(body.get("n", 1))
        ]
        return httpx.Response(
            200,
            json={
                "id": "1",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": choices,
            },
        )

    rewriter = ChatAPIRewriter.from_env(model="my-model", client=_chat_client(handler))
    assert rewriter.rewrite("a red fox", "make it night") == "a red fox at night"
    assert rewriter.sample("a red fox", "make it night", 2, seed=3) == ["a red fox at night"] * 2
    assert requests[0]["model"] == "my-model" and requests[0]["temperature"] == 0
    assert requests[0]["messages"][0]["role"] == "system"
    assert "a red fox" in requests[0]["messages"][1]["content"]
    assert requests[1]["n"] == 2 and requests[1]["seed"] == 3


def test_chat_api_complete_sends_the_text_alone_at_temperature_zero():
    requests = []

    def handler(request):
        body = json.loads(request.content)
        requests.append(body)
        message = {"role": "assistant", "content": "  a castle at dawn  \nmore"}
        return httpx.Response(
            200,
            json={
                "id": "1",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            },
        )

    rewriter = ChatAPIRewriter.from_env(model="my-model", client=_chat_client(handler))
    assert rewriter.complete("Caption: a castle\nPrompt:", max_tokens=7) == "a castle at dawn"
    assert requests[0]["messages"] == [{"role": "user", "content": "Caption: a castle\nPrompt:"}]
    assert requests[0]["temperature"] == 0 and requests[0]["max_tokens"] == 7


def test_chat_api_errors_are_clear_and_never_show_the_key(monkeypatch):
    def refuse(request):
        return httpx.Response(401, json={"error": {"message": "bad key"}})

    rewriter = ChatAPIRewriter.from_env(client=_chat_client(refuse))
    with pytest.raises(ModelUnavailableError, match="authentication failed") as caught:
        rewriter.rewrite("a", "b")
    assert "sk-secret" not in str(caught.value)

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ModelUnavailableError, match="OPENAI_API_KEY"):
        ChatAPIRewriter.from_env()


# --- the real SmolLM2-135M-Instruct (converted by the fetch step)


@pytest.fixture(scope="module")
def smollm2_ready():
    from core.assets import smollm2

    smollm2.fetch()
    return True


def test_real_smollm2_rewrites_to_one_line(smollm2_ready):
    rewriter = load_rewriter("smollm2-base")
    assert rewriter is load_rewriter("smollm2-base")  # cached
    result = rewriter.rewrite("a castle on a hill at sunset, oil painting", "change it to night")
    assert result and "\n" not in result and result == result.strip()
