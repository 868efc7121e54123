"""train/construct.py: DiffChat section 3.1 pipeline — template choice, filters, offline run."""

from __future__ import annotations

import json
import time

import pytest

from core.errors import DataError, InputError
from core.rewrite import first_line
from train import construct
from train.construct import (
    Decision,
    choose_template,
    construct_one,
    is_english,
    is_nsfw,
    load_nsfw_words,
)
from train.data import Triplet, load_triplets


@pytest.fixture
def language():
    """The keyword and CI homes (core/nlp.py, core/content_integrity.py) with offline data."""
    pytest.importorskip("core.nlp", reason="core/nlp.py is not in this checkout yet")
    pytest.importorskip("core.content_integrity", reason="core/content_integrity.py missing")


class ScriptedModel:
    """Answers each prompt by the first rule whose key appears in its last block."""

    def __init__(self, rules: dict[str, str]):
        self.rules = rules
        self.prompts: list[str] = []

    def complete(self, prompt: str) -> str:
        self.prompts.append(prompt)
        last_block = prompt.rsplit("\n\n", 1)[-1]
        for key, answer in self.rules.items():
            if key in last_block:
                return answer
        return ""


def test_first_line_takes_the_first_non_empty_line():
    assert first_line("\n  a castle, oil painting \nCaption: more") == "a castle, oil painting"
    assert first_line("   \n") == ""


def test_nsfw_list_matches_whole_words_and_plurals():
    words = load_nsfw_words()
    assert "nude" in words and all(w == w.lower() for w in words)
    assert is_nsfw("a NUDE figure, oil painting", words)
    assert is_nsfw("two corpses in a field", words)
    assert not is_nsfw("a nudibranch in a coral reef, sextant on the table", words)


def test_is_english_for_prompts_and_instructions():
    assert is_english("a majestic horse in a misty meadow, highly detailed, artstation, 8k")
    assert not is_english("Величественная лошадь на туманном лугу на рассвете")
    assert is_english("make the car blue", "instruction")
    assert not is_english("haz que el coche sea azul por favor", "instruction")


def test_template_follows_the_side_that_kept_more_keywords(monkeypatch):
    kept = {"x": 1, "y": 3}
    monkeypatch.setattr(construct, "kept_keywords", lambda simple, _b: kept[simple])
    assert choose_template("x", "bx", "y", "by") == "A"
    kept["x"] = 3
    assert choose_template("x", "bx", "y", "by") == "B"  # a tie trusts x: template B


def test_kept_keywords_counts_simple_keywords_found_again(language):
    assert construct.kept_keywords("a red car", "a shiny red car on a road, 8k") == 2
    assert construct.kept_keywords("a red car", "a blue boat") == 0


ORIGINAL = Triplet("a grey cat on a sofa", "make the cat orange", "an orange cat on a sofa")


def _beautifier():
    return ScriptedModel(
        {
            "Caption: a grey cat": "a fluffy grey cat sleeping on a velvet sofa, warm light, highly detailed",
            # loses "sofa": the raw side kept more keywords, so template B is chosen
            "Caption: an orange cat": "an orange cat, warm light, highly detailed",
        }
    )


def test_template_b_asks_for_the_target_and_keeps_a_good_row(language):
    chat = ScriptedModel(
        {
            "Modification: make the cat orange": (
                "a fluffy orange cat sleeping on a velvet sofa, warm light, highly detailed"
            )
        }
    )
    decision = construct_one(ORIGINAL, _beautifier(), chat, load_nsfw_words())
    assert decision.template == "B"
    assert "Description: a fluffy grey cat sleeping" in chat.prompts[0]
    assert decision.reason == "kept", decision
    assert decision.triplet == Triplet(
        "a fluffy grey cat sleeping on a velvet sofa, warm light, highly detailed",
        "make the cat orange",
        "a fluffy orange cat sleeping on a velvet sofa, warm light, highly detailed",
        None,
        "constructed",
    )
    assert decision.ci_raw >= 0.7


def test_low_ci_nsfw_and_empty_rows_are_dropped(language):
    words = load_nsfw_words()
    forgets_cat = ScriptedModel({"Modification": "a velvet sofa, warm light"})
    assert construct_one(ORIGINAL, _beautifier(), forgets_cat, words).reason == "low_ci"
    nsfw = ScriptedModel({"Modification": "a nude orange cat on a sofa"})
    assert construct_one(ORIGINAL, _beautifier(), nsfw, words).reason == "nsfw"
    silent = ScriptedModel({})
    assert construct_one(ORIGINAL, _beautifier(), silent, words).reason == "empty"


def test_template_a_trusts_the_target(language):
    beautifier = ScriptedModel(
        {
            "Caption: a grey cat": "a cute kitten, pastel colors",  # loses both "grey" and "sofa"
            "Caption: an orange cat": "an orange cat on a sofa, soft light, 8k",
        }
    )
    chat = ScriptedModel({"Modification": "a grey cat on a sofa, soft light, 8k"})
    decision = construct_one(ORIGINAL, beautifier, chat, load_nsfw_words())
    assert decision.template == "A"
    assert "Description: an orange cat on a sofa" in chat.prompts[0]
    assert decision.triplet.raw_prompt == "a grey cat on a sofa, soft light, 8k"
    assert decision.triplet.target_prompt == "an orange cat on a sofa, soft light, 8k"


def _ip2p_file(tmp_path, count=3):
    rows = [
        {
            "input": f"a grey cat number {n}",
            "edit": "make the cat orange",
            "output": f"an orange cat number {n}",
        }
        for n in range(count)
    ]
    path = tmp_path / "ip2p.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_command_runs_offline_on_a_tiny_random_llama(tmp_path, language, capsys):
    from tests.train_fixtures import save_tiny_llama
    from train.data_cli import main

    model = save_tiny_llama(tmp_path / "tiny")
    out, rejects = tmp_path / "built.jsonl", tmp_path / "rejects.jsonl"
    status = main(
        [
            "construct",
            "--input",
            str(_ip2p_file(tmp_path)),
            "--beautifier",
            str(model),
            "--chat-backend",
            "local",
            "--out",
            str(out),
            "--rejects",
            str(rejects),
            "--max-new-tokens",
            "8",
        ]
    )
    assert status == 0
    printed = capsys.readouterr().out
    assert "of 3 rows" in printed
    kept = out.read_text().splitlines()
    dropped = rejects.read_text().splitlines()
    # A random model writes noise: every row is accounted for, kept or dropped with a reason.
    assert len(kept) + len(dropped) == 3
    assert all(
        json.loads(line)["reason"] in ("empty", "non_english", "nsfw", "low_ci") for line in dropped
    )


def test_command_refuses_a_model_that_is_not_a_causal_lm(tmp_path):
    from transformers import ViTConfig

    from train.data_cli import main

    folder = tmp_path / "vit"
    ViTConfig(
        hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8
    ).save_pretrained(folder)
    with pytest.raises(InputError, match="not a causal"):
        main(
            [
                "construct",
                "--input",
                str(_ip2p_file(tmp_path)),
                "--beautifier",
                str(folder),
                "--out",
                str(tmp_path / "o.jsonl"),
            ]
        )


def test_openai_backend_uses_the_chat_api_rewriter_with_the_configured_key(tmp_path, monkeypatch):
    from core.rewrite import ChatAPIRewriter
    from train.construct import ConstructConfig, load_chat_api_model

    config = ConstructConfig(
        input=tmp_path / "in.jsonl",
        out=tmp_path / "out.jsonl",
        chat_backend="openai",
        chat_model="my-model",
        api_base="http://chat.invalid/v1",
        api_key_env="MY_CHAT_KEY",
        max_new_tokens=9,
    )
    monkeypatch.setenv("MY_CHAT_KEY", "sk-from-my-var")
    chat = load_chat_api_model(config)
    assert isinstance(chat.backend, ChatAPIRewriter) and chat.backend.model == "my-model"
    assert chat.backend.client.api_key == "sk-from-my-var"
    assert str(chat.backend.client.base_url).startswith("http://chat.invalid/v1")
    assert chat.overrides == {"max_tokens": 9}

    monkeypatch.delenv("MY_CHAT_KEY")
    with pytest.raises(InputError, match="MY_CHAT_KEY"):
        load_chat_api_model(
            ConstructConfig(
                input=config.input,
                out=config.out,
                chat_backend="openai",
                chat_model="my-model",
                api_key_env="MY_CHAT_KEY",
            )
        )


def test_command_refuses_bad_threshold(tmp_path):
    from train.data_cli import main

    with pytest.raises(DataError, match="ci-threshold"):
        main(
            [
                "construct",
                "--input",
                str(_ip2p_file(tmp_path)),
                "--out",
                "o.jsonl",
                "--ci-threshold",
                "2",
            ]
        )


@pytest.mark.slow
def test_command_runs_with_offline_smollm2(tmp_path, language):
    from core.assets import smollm2
    from train.construct import ConstructConfig, run_construct

    smollm2.fetch()  # a no-op when `python -m core.assets fetch` already ran

    started = time.monotonic()
    config = ConstructConfig(
        input=_ip2p_file(tmp_path),
        out=tmp_path / "built.jsonl",
        beautifier=str(smollm2.model_folder()),
        chat_backend="local",
    )
    counts = run_construct(config)
    assert sum(counts[k] for k in ("kept", "empty", "non_english", "nsfw", "low_ci")) == 3
    assert counts["template_A"] + counts["template_B"] == 3
    if counts["kept"]:
        assert all(row.source == "constructed" for row in load_triplets(config.out))
    print(f"smollm2 construct on 3 rows: {time.monotonic() - started:.0f}s, {dict(counts)}")


def test_decision_is_a_plain_record():
    assert Decision(None, "empty", "A").ci_raw is None
