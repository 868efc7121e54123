"""train/evaluate_rewriter.py: edit and chain success, conflicts, the CI reference, bad input,
and end-to-end runs with a fake rewriter (fixed outputs) and a tiny random model."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from core.errors import DataError, InputError
from core.rewrite import Rewriter, VerifiedRewrite
from tests.train_fixtures import save_tiny_llama, tiny_triplets, write_triplets_jsonl
from train import evaluate_rewriter
from train.data import EditCase, EditStep, load_cases
from train.evaluate_rewriter import EvaluateRewriterConfig, evaluate, judge_edits, score_case

RAW = "an oil painting of a red car parked on a quiet street, at midday, highly detailed"
INSTRUCTION = "make the car blue"
TARGET = "an oil painting of a blue car parked on a quiet street, at midday, highly detailed"

# A hand-worked chain: season, then subject, then an added object.
CHAIN_RAW = "a dog asleep on a porch in spring, golden hour, 35mm photo"
CHAIN_TURNS = [
    ("make it winter", "a dog asleep on a porch in winter, golden hour, 35mm photo"),
    ("make the dog a fox", "a fox asleep on a porch in winter, golden hour, 35mm photo"),
    ("add a red hat", "a fox in a red hat asleep on a porch in winter, golden hour, 35mm photo"),
]


class FakeRewriter(Rewriter):
    """Returns fixed outputs: answers[(prompt, instruction)], else the prompt unchanged."""

    name = "fake"

    def __init__(self, answers: dict[tuple[str, str], str]):
        self.answers = answers
        self.calls: list[tuple[str, str]] = []

    def rewrite_batch(self, pairs):
        self.calls += list(pairs)
        return [self.answers.get((prompt, instruction), prompt) for prompt, instruction in pairs]

    def sample(self, prompt, instruction, num_candidates, typical_p=0.97, seed=0):
        return self.rewrite_batch([(prompt, instruction)]) * num_candidates


class FakeVerifyingRewriter(FakeRewriter):
    """A FakeRewriter whose verified decoding answers `verified[(prompt, instruction)]` where
    given (else its greedy answer); records the candidate count of each call."""

    def __init__(self, answers, verified):
        super().__init__(answers)
        self.verified = verified
        self.candidate_counts: list[int] = []

    def rewrite_batch_verified(self, pairs, candidates):
        self.candidate_counts.append(candidates)
        greedy = self.rewrite_batch(pairs)
        return [
            VerifiedRewrite(prompt=self.verified.get(pair, text), greedy=text)
            for pair, text in zip(pairs, greedy, strict=True)
        ]


class GreedyOnlyRewriter:
    """A rewriter object without verified decoding (not a core.rewrite.Rewriter)."""

    def __init__(self):
        self.calls = []

    def rewrite_batch(self, pairs):
        self.calls += list(pairs)
        return [prompt for prompt, _ in pairs]


def _chain_row(turns=CHAIN_TURNS, **extra) -> dict:
    return {
        "id": "chain-1",
        "raw_prompt": CHAIN_RAW,
        "turns": [{"instruction": i, "target_prompt": y, "category": "x"} for i, y in turns],
    } | extra


def _write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def _config(tmp_path, **changes) -> EvaluateRewriterConfig:
    return EvaluateRewriterConfig(
        output_json=str(tmp_path / "results.json"),
        output_markdown=str(tmp_path / "results.md"),
        progress=False,
        **changes,
    )


# ---------------------------------------------------------------------------------------------
# Judging outputs


@pytest.mark.parametrize(
    ("candidate", "success", "unchanged", "conflict"),
    [
        (TARGET, True, False, False),  # the reference edit itself
        (RAW, False, True, False),  # copied the input
        (RAW + ", make the car blue", False, False, True),  # appended: "red" and "blue" both
        ("a blue car", False, False, False),  # lost most of the prompt: CI below 0.7
    ],
)
def test_edit_success_needs_ci_a_change_the_new_keywords_and_the_old_ones_gone(
    candidate, success, unchanged, conflict
):
    judgement = judge_edits(RAW, [(INSTRUCTION, TARGET)], candidate)
    assert (judgement.success, judgement.unchanged, judgement.conflict) == (
        success,
        unchanged,
        conflict,
    )
    assert bool(judgement.reasons(0.7)) == (not success)


def test_a_kept_old_slot_value_next_to_the_new_one_is_a_conflict():
    judgement = judge_edits(
        CHAIN_RAW,
        CHAIN_TURNS[:1],
        "a dog asleep on a porch in spring, in winter, golden hour, 35mm photo",
    )
    assert judgement.conflict and not judgement.success
    assert judgement.left_over == ("spring",) and judgement.missing == ()


def test_a_chain_whose_later_turn_drops_turn_one_fails_on_the_last_output():
    back_to_spring = [
        CHAIN_TURNS[0][1],  # turn 1 right
        "a fox asleep on a porch in spring, golden hour, 35mm photo",  # turn 2 undoes turn 1
        "a fox in a red hat asleep on a porch in spring, golden hour, 35mm photo",
    ]
    judgement = judge_edits(CHAIN_RAW, CHAIN_TURNS, back_to_spring[-1])
    assert not judgement.success
    assert judgement.missing == ("winter",) and judgement.left_over == ("spring",)
    # Spring came back while winter is gone: a lost edit, not old and new side by side.
    assert not judgement.conflict
    assert judge_edits(CHAIN_RAW, CHAIN_TURNS, CHAIN_TURNS[-1][1]).success


def test_a_keyword_a_later_turn_removes_is_not_required_at_the_end():
    turns = [
        ("add a red hat", "a dog in a red hat asleep on a porch"),
        ("remove the hat", "a dog asleep on a porch"),
    ]
    judgement = judge_edits("a dog asleep on a porch, photo", turns, "a dog asleep on a porch")
    assert judgement.missing == () and judgement.left_over == ()


def test_ci_runs_on_the_captions_when_the_row_has_them_else_on_the_prompts():
    step = EditStep(
        "make the dog a fox",
        "a fox asleep on a porch, golden hour, 35mm photo",
        target_caption="a fox asleep on a porch",
    )
    with_captions = EditCase(
        "a dog asleep on a porch, golden hour, 35mm photo", (step,), "a dog asleep on a porch"
    )
    without = EditCase(with_captions.raw_prompt, (step,))
    output = "a fox asleep on a porch"  # the caption's content, without the prompt's style tags

    captioned = score_case(with_captions, [output])
    plain = score_case(without, [output])
    assert (captioned["ci_reference"], captioned["ci"], captioned["ci_raw"]) == (
        "caption",
        1.0,
        1.0,
    )
    assert plain["ci_reference"] == "prompt" and plain["ci"] == 0.0 and plain["ci_raw"] < 0.7
    # Edit success is judged on the prompts either way: the style tags are lost.
    assert captioned["edit_success"] == plain["edit_success"] == 0.0


def test_reader_ok_comes_from_check_edit_when_it_is_given():
    case = EditCase(RAW, (EditStep(INSTRUCTION, TARGET),))

    def check_edit(prompt, instruction, candidate):
        return SimpleNamespace(ok="blue" in candidate)

    assert score_case(case, [TARGET], check_edit=check_edit)["reader_ok"] == 1.0
    assert score_case(case, [RAW], check_edit=check_edit)["reader_ok"] == 0.0
    assert "reader_ok" not in score_case(case, [RAW])


# ---------------------------------------------------------------------------------------------
# Bad input


def _load_error(tmp_path, rows, chains=True) -> str:
    path = _write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(DataError) as caught:
        load_cases(str(path), chains=chains)
    return str(caught.value)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            _chain_row([CHAIN_TURNS[0], ("make the dog a fox", "")]),
            "bad.jsonl:2: turn 2: field 'target_prompt' is empty",
        ),
        (
            _chain_row() | {"turns": [_chain_row()["turns"][0], {"instruction": "make it red"}]},
            "bad.jsonl:2: turn 2: missing field 'target_prompt'",
        ),
        (
            _chain_row() | {"turns": [_chain_row()["turns"][0], {}]},
            "bad.jsonl:2: turn 2: the turn is empty",
        ),
        (_chain_row(num_turns=4), "bad.jsonl:2: num_turns says 4 but the chain has 3 turns"),
        (_chain_row(CHAIN_TURNS[:1]), "bad.jsonl:2: 'turns' must be a list of at least two"),
        (_chain_row(raw_caption="a dog on a porch"), "bad.jsonl:2: turn 1: missing target_caption"),
        ('{"raw_prompt": "a dog", ', "bad.jsonl:2: not valid JSON"),
    ],
)
def test_a_bad_chain_is_refused_with_file_and_line(tmp_path, row, message):
    assert message in _load_error(tmp_path, [_chain_row(), row])


def test_a_bad_single_edit_is_refused_with_file_and_line(tmp_path):
    good = {"raw_prompt": RAW, "instruction": INSTRUCTION, "target_prompt": TARGET}
    message = _load_error(tmp_path, [good, good | {"instruction": " "}], chains=False)
    assert "bad.jsonl:2: field 'instruction' is empty" in message
    message = _load_error(tmp_path, [good | {"target_caption": "a blue car"}], chains=False)
    assert "bad.jsonl:1: missing raw_caption" in message


@pytest.mark.parametrize(
    ("systems", "message"),
    [
        ("adapter,gpt9", "unknown system 'gpt9'"),
        ("chat:", "unknown system 'chat:'"),
        ("adapter:", "unknown system 'adapter:'"),
        ("append+verify", "append baseline has no candidates"),
        ("", "no systems chosen"),
    ],
)
def test_an_unknown_system_is_refused(systems, message):
    with pytest.raises(InputError, match=message):
        EvaluateRewriterConfig(systems=systems).system_list()


@pytest.mark.parametrize("candidates", [0, 17])
def test_a_candidate_count_outside_1_to_16_is_refused(candidates):
    with pytest.raises(InputError, match="from 1 to 16"):
        EvaluateRewriterConfig(candidates=candidates)


def test_verified_decoding_without_the_candidates_api_is_refused_before_generating(tmp_path):
    single = _write_jsonl(
        tmp_path / "single.jsonl",
        [{"raw_prompt": RAW, "instruction": INSTRUCTION, "target_prompt": TARGET}],
    )
    fake = GreedyOnlyRewriter()
    config = _config(
        tmp_path, test_files=str(single), chain_files="", systems="adapter,adapter+verify"
    )
    with pytest.raises(InputError, match="adapter\\+verify needs verified decoding"):
        evaluate(config, rewriters={"adapter": fake})
    assert fake.calls == [] and not (tmp_path / "results.json").exists()


def test_a_missing_data_file_is_refused(tmp_path):
    config = _config(
        tmp_path, test_files=str(tmp_path / "nope.jsonl"), chain_files="", systems="append"
    )
    with pytest.raises(DataError, match="nope.jsonl: no such file"):
        evaluate(config)


# ---------------------------------------------------------------------------------------------
# End to end with fixed outputs


def _fixture_files(tmp_path) -> tuple[Path, Path, Path]:
    """A generated-style single-edit file, a held-out one with captions, and a chain file."""
    generated = _write_jsonl(
        tmp_path / "generated.jsonl",
        [
            {
                "raw_prompt": RAW,
                "instruction": INSTRUCTION,
                "target_prompt": TARGET,
                "category": "recolour",
            },
            {  # the fake has no answer and copies it: output = input
                "raw_prompt": CHAIN_RAW,
                "instruction": "winter, please",
                "target_prompt": CHAIN_TURNS[0][1],
                "category": "season",
            },
        ],
    )
    heldout = _write_jsonl(
        tmp_path / "heldout.jsonl",
        [
            {  # the fake keeps spring beside winter: a conflict
                "raw_prompt": CHAIN_RAW,
                "instruction": "it should be winter",
                "target_prompt": CHAIN_TURNS[0][1],
                "category": "season",
                "raw_caption": "a dog asleep on a porch in spring",
                "target_caption": "a dog asleep on a porch in winter",
            }
        ],
    )
    chains = _write_jsonl(
        tmp_path / "chains.jsonl",
        [
            _chain_row(),  # the fake loses turn 1's winter at turn 2
            _chain_row(id="chain-2", raw_prompt=CHAIN_RAW + ","),  # every turn right
        ],
    )
    return generated, heldout, chains


def _fake_answers() -> dict:
    winter, fox, hat = (target for _, target in CHAIN_TURNS)
    spring_fox = "a fox asleep on a porch in spring, golden hour, 35mm photo"
    return {
        (RAW, INSTRUCTION): TARGET,
        (CHAIN_RAW, "it should be winter"): CHAIN_RAW.replace("in spring", "in spring, in winter"),
        # chain 1: turn 2 undoes turn 1
        (CHAIN_RAW, "make it winter"): winter,
        (winter, "make the dog a fox"): spring_fox,
        (spring_fox, "add a red hat"): spring_fox.replace("fox", "fox in a red hat"),
        # chain 2
        (CHAIN_RAW + ",", "make it winter"): winter + ",",
        (winter + ",", "make the dog a fox"): fox,
        (fox, "add a red hat"): hat,
    }


def test_evaluate_reports_each_file_separately_with_hand_worked_numbers(tmp_path, monkeypatch):
    generated, heldout, chains = _fixture_files(tmp_path)
    monkeypatch.setattr(evaluate_rewriter, "load_edit_checker", lambda: None)
    # Verified decoding fixes the one row the greedy fake copies.
    fake = FakeVerifyingRewriter(
        _fake_answers(), verified={(CHAIN_RAW, "winter, please"): CHAIN_TURNS[0][1]}
    )
    config = _config(
        tmp_path,
        test_files=f"{generated},{heldout}",
        chain_files=str(chains),
        systems="adapter,adapter+verify,append",
        candidates=3,
    )
    report = evaluate(config, rewriters={"adapter": fake})

    gen, held = report["single"][str(generated)], report["single"][str(heldout)]
    adapter = gen["results"]["adapter"]
    assert gen["rows"] == 2 and adapter["edit_success"] == 0.5 and adapter["unchanged"] == 0.5
    assert adapter["conflict"] == 0.0 and "reader_ok" not in adapter
    assert gen["by_category"]["recolour"]["edit_success"]["adapter"] == 1.0
    assert gen["by_category"]["season"]["edit_success"]["adapter"] == 0.0
    assert gen["ci_reference"] == {"caption": 0, "prompt": 2}
    assert [f["instruction"] for f in gen["failures"]["adapter"]] == ["winter, please"]
    assert gen["failures"]["adapter"][0]["why"][0] == "output = input"

    assert held["ci_reference"] == {"caption": 1, "prompt": 0}
    assert held["results"]["adapter"]["conflict"] == 1.0
    assert held["results"]["adapter"]["edit_success"] == 0.0

    chain_section = report["chains"][str(chains)]
    assert chain_section["rows"] == 2 and chain_section["turns"] == 6
    chain_adapter = chain_section["results"]["adapter"]
    assert chain_adapter["chain_success"] == 0.5 and chain_adapter["turn_unchanged"] == 0.0
    assert chain_adapter["conflict"] == 0.0
    (failure,) = chain_section["failures"]["adapter"]
    assert failure["id"] == "chain-1" and len(failure["outputs"]) == 3
    assert "missing: winter" in failure["why"]
    # Append keeps every old value beside the new ones: conflicts, no success.
    assert chain_section["results"]["append"]["chain_success"] == 0.0
    assert chain_section["results"]["append"]["conflict"] == 1.0

    # Verified decoding, in batches with candidates=3: one call per file and chain turn.
    assert gen["results"]["adapter+verify"]["edit_success"] == 1.0
    assert report["verify_replaced"]["adapter+verify"][str(generated)] == 0.5
    assert report["verify_replaced"]["adapter+verify"][str(chains)] == 0.0
    assert fake.candidate_counts == [3] * 5

    markdown = (tmp_path / "results.md").read_text()
    assert f"### Chains: `{chains}` (2 chains, 6 turns" in markdown
    assert "| recolour | 1 | 100.0% | 100.0% | 0.0% |" in markdown
    assert "| season | 1 | 0.0% | 100.0% | 0.0% |" in markdown
    assert "adapter+verify chose another rewrite than the greedy one for 50.0%" in markdown
    assert json.loads((tmp_path / "results.json").read_text())["systems"] == [
        "adapter",
        "adapter+verify",
        "append",
    ]


def test_reader_ok_column_appears_when_core_instructions_has_check_edit(tmp_path, monkeypatch):
    generated, _, _ = _fixture_files(tmp_path)
    monkeypatch.setattr(
        evaluate_rewriter,
        "load_edit_checker",
        lambda: lambda prompt, instruction, candidate: SimpleNamespace(ok=candidate != prompt),
    )
    config = _config(tmp_path, test_files=str(generated), chain_files="", systems="append")
    report = evaluate(config)
    assert report["reader"] == "core.instructions.check_edit"
    assert report["single"][str(generated)]["results"]["append"]["reader_ok"] == 1.0


def test_a_chat_system_asks_the_named_model_and_needs_a_key(tmp_path, monkeypatch):
    import httpx
    from openai import OpenAI

    from core.errors import ModelUnavailableError
    from core.rewrite import ChatAPIRewriter

    generated, _, _ = _fixture_files(tmp_path)
    config = _config(tmp_path, test_files=str(generated), chain_files="", systems="chat:my-model")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ModelUnavailableError, match="OPENAI_API_KEY"):
        evaluate(config)

    models = []

    def handler(request):
        body = json.loads(request.content)
        models.append(body["model"])
        prompt = body["messages"][1]["content"].splitlines()[0].removeprefix("Current prompt: ")
        message = {
            "role": "assistant",
            "content": _fake_answers().get((prompt, INSTRUCTION), prompt),
        }
        choice = {"index": 0, "message": message, "finish_reason": "stop"}
        return httpx.Response(
            200,
            json={
                "id": "1",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [choice],
            },
        )

    client = OpenAI(
        api_key="sk-test",
        base_url="http://chat.invalid/v1",
        max_retries=0,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    from_env = ChatAPIRewriter.from_env.__func__
    monkeypatch.setattr(
        ChatAPIRewriter,
        "from_env",
        classmethod(lambda cls, model=None: from_env(cls, model, client)),
    )
    report = evaluate(config)
    assert models == ["my-model", "my-model"]
    assert report["single"][str(generated)]["results"]["chat:my-model"]["edit_success"] == 0.5


def test_saved_outputs_are_rescored_without_a_rewriter(tmp_path):
    generated, _, chains = _fixture_files(tmp_path)
    config = _config(
        tmp_path,
        test_files=str(generated),
        chain_files=str(chains),
        systems="adapter,append",
        predictions_out=str(tmp_path / "predictions.json"),
        generate_only=True,
    )
    evaluate(config, rewriters={"adapter": FakeRewriter(_fake_answers())})
    assert not (tmp_path / "results.json").exists()

    config.generate_only = False
    config.predictions_in, config.predictions_out = config.predictions_out, ""
    report = evaluate(config, rewriters={})  # nothing to generate: no rewriter is loaded
    assert report["chains"][str(chains)]["results"]["adapter"]["chain_success"] == 0.5


def test_evaluate_runs_the_local_models_end_to_end_on_a_tiny_random_llama(tmp_path):
    model = save_tiny_llama(tmp_path / "model")
    test_file = write_triplets_jsonl(tmp_path / "test.jsonl", tiny_triplets(3))
    config = _config(
        tmp_path,
        test_files=str(test_file),
        chain_files="",
        adapter=str(model),  # a full model folder stands in for a fine-tuned rewriter
        base_model=str(model),
        systems="adapter,zero-shot,append",
        max_new_tokens=4,
    )
    report = evaluate(config)
    results = report["single"][str(test_file)]["results"]
    assert set(results) == {"adapter", "zero-shot", "append"}
    assert results["append"]["unchanged"] == 0.0
    assert "| append |" in (tmp_path / "results.md").read_text()


@pytest.mark.slow
def test_the_shipped_adapter_rewrites_a_tiny_chain_turn_by_turn(tmp_path):
    from core.registry import MODELS

    adapter = MODELS["diffchat-offline"].local_path()
    if not (adapter / "adapter_config.json").is_file():
        pytest.skip("the shipped adapter is not in this checkout")
    chains = _write_jsonl(tmp_path / "chains.jsonl", [_chain_row()])
    config = _config(
        tmp_path,
        test_files="",
        chain_files=str(chains),
        adapter=str(adapter),
        systems="adapter",
        predictions_out=str(tmp_path / "predictions.json"),
    )
    report = evaluate(config)
    (outputs,) = json.loads((tmp_path / "predictions.json").read_text())["chains"][str(chains)][
        "adapter"
    ]
    assert len(outputs) == 3 and all(outputs)
    assert report["chains"][str(chains)]["ci_reference"] == {"caption": 0, "prompt": 1}


def test_a_run_stopped_midway_keeps_what_it_generated_and_resumes_from_it(tmp_path):
    generated, _, chains = _fixture_files(tmp_path)
    predictions = tmp_path / "predictions.json"

    class StoppedOnChains(FakeRewriter):
        def rewrite_batch(self, pairs):
            if any(instruction == "make it winter" for _, instruction in pairs):
                raise KeyboardInterrupt  # stopped on the chains, after the single edits
            return super().rewrite_batch(pairs)

    config = _config(
        tmp_path,
        test_files=str(generated),
        chain_files=str(chains),
        systems="adapter",
        predictions_out=str(predictions),
    )
    with pytest.raises(KeyboardInterrupt):
        evaluate(config, rewriters={"adapter": StoppedOnChains(_fake_answers())})
    saved = json.loads(predictions.read_text())
    assert saved["single"][str(generated)]["adapter"] == [TARGET, CHAIN_RAW]
    assert "adapter" not in saved["chains"].get(str(chains), {})

    config.predictions_in = str(predictions)
    fake = FakeRewriter(_fake_answers())
    report = evaluate(config, rewriters={"adapter": fake})
    assert report["chains"][str(chains)]["results"]["adapter"]["chain_success"] == 0.5
    assert (RAW, INSTRUCTION) not in fake.calls  # the single edits were not generated again


def test_sign_test_on_hand_values():
    from train.evaluate_rewriter import paired_comparisons, sign_test_p

    assert sign_test_p(0, 0) == 1.0
    assert sign_test_p(3, 3) == 1.0
    # 8 of 8 differing rows one way: 2 * (1/2)^8
    assert abs(sign_test_p(8, 0) - 2 / 256) < 1e-12
    # 9 vs 1: 2 * (1 + 10) / 1024
    assert abs(sign_test_p(9, 1) - 22 / 1024) < 1e-12
    paired = paired_comparisons(
        {"sft": [True, True, False, False, True], "ppo": [True, False, True, True, False]}
    )
    assert paired["ppo"]["baseline"] == "sft"
    assert (paired["ppo"]["only_this"], paired["ppo"]["only_baseline"]) == (2, 2)
    assert paired_comparisons({"sft": [True]}) == {}


def test_a_second_adapter_is_a_system_of_its_own(monkeypatch):
    """adapter:FOLDER loads that folder beside --adapter: SFT and SFT+PPO in one run."""
    from core.rewrite import LocalCausalLMRewriter
    from train.evaluate_rewriter import build_rewriter

    loaded = []
    monkeypatch.setattr(
        LocalCausalLMRewriter,
        "from_pretrained",
        classmethod(lambda cls, folder, name, settings: loaded.append((folder, name))),
    )
    config = EvaluateRewriterConfig(adapter="runs/sft", systems="adapter,adapter:runs/ppo/final")
    assert config.system_list() == ["adapter", "adapter:runs/ppo/final"]
    for system in config.system_list():
        build_rewriter(system, config)
    assert loaded == [("runs/sft", "adapter"), ("runs/ppo/final", "adapter:runs/ppo/final")]
