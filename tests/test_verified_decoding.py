"""Verified decoding (core/rewrite.py): check the greedy rewrite, rerank drawn candidates.

The fake rewriter's greedy answer and candidate list are fixed, so every choice below is
worked out by hand from core.instructions' reading of the instruction.
"""

from __future__ import annotations

import pytest
from app_fixtures import local_launch_options

from core.errors import InputError
from core.literal_edit import literal_edit
from core.rewrite import (
    DEFAULT_REWRITE_CANDIDATES,
    MAX_REWRITE_CANDIDATES,
    LocalCausalLMRewriter,
    Rewriter,
    VerifiedRewrite,
    expected_target,
    load_rewriter,
    rerank_score,
)
from tests.test_rewrite import smollm2_ready, tiny_models  # noqa: F401 (fixtures)

PROMPT = "a cabin in a forest in spring, oil painting"
INSTRUCTION = "make it winter"
# Adds the new season and keeps the old one: the failure issue 9 names.
BOTH_SEASONS = "a cabin in a forest in spring, in winter, oil painting"


class FixedRewriter(Rewriter):
    """A rewriter whose greedy answer and candidates are given; it records its calls."""

    name = "fixed"

    def __init__(self, greedy: str, candidates: list[str]):
        self.greedy = greedy
        self.fixed_candidates = candidates
        self.calls: list[str] = []

    def rewrite_batch(self, pairs):
        self.calls.append("greedy")
        return [self.greedy for _ in pairs]

    def draw_candidates(self, pairs, num_candidates):
        self.calls.append(f"draw {num_candidates}")
        return [self.fixed_candidates[:num_candidates] for _ in pairs]

    def sample(self, prompt, instruction, num_candidates, typical_p=0.97, seed=0):
        raise AssertionError("verified decoding draws through draw_candidates")


@pytest.fixture
def no_literal_edit(monkeypatch):
    """Verified decoding without the reader's literal edit: the tests of drawing and ranking."""
    import core.literal_edit

    monkeypatch.setattr(core.literal_edit, "literal_edit", lambda prompt, instruction: None)


def test_the_default_verifies_and_one_candidate_is_plain_greedy():
    assert DEFAULT_REWRITE_CANDIDATES == 4
    rewriter = FixedRewriter(BOTH_SEASONS, ["a cabin in a forest in winter, oil painting"])
    assert rewriter.rewrite(PROMPT, INSTRUCTION) == "a cabin in a forest in winter, oil painting"
    assert rewriter.calls == ["greedy"]  # the literal edit passed: nothing drawn
    assert rewriter.rewrite(PROMPT, INSTRUCTION, candidates=1) == BOTH_SEASONS


def test_the_reranker_picks_the_candidate_that_gains_winter_and_drops_spring(no_literal_edit):
    rewriter = FixedRewriter(
        BOTH_SEASONS,
        [
            PROMPT,  # unchanged: check score 0
            "a cabin in a forest in winter, oil painting",  # the edit, everything else kept
            "a cabin in winter",  # the edit, but forest and oil painting lost
        ],
    )
    assert rewriter.rewrite(PROMPT, INSTRUCTION, candidates=3) == (
        "a cabin in a forest in winter, oil painting"
    )
    assert rewriter.calls == ["greedy", "draw 3"]
    result = rewriter.rewrite_batch_verified([(PROMPT, INSTRUCTION)], 3)[0]
    assert result.searched and result.greedy == BOTH_SEASONS
    # check_edit: 1.0 for the full edit, (2 * 0.5 + 1) / 3 for the greedy one (spring left);
    # CI raw against the estimated target is 1.0 for both (every keyword kept).
    assert result.greedy_score == pytest.approx(2 / 3 + 1.0)
    assert result.scores[1] == pytest.approx(2.0)
    assert max(result.scores) == result.scores[1]


def test_greedy_is_kept_on_ties_and_when_nothing_scores_higher(no_literal_edit):
    # Same words as the greedy rewrite in another case: the same score, greedy stays.
    tie = BOTH_SEASONS.upper()
    rewriter = FixedRewriter(BOTH_SEASONS, [tie, PROMPT])
    result = rewriter.rewrite_batch_verified([(PROMPT, INSTRUCTION)], 2)[0]
    assert result.scores[0] == pytest.approx(result.greedy_score)
    assert result.prompt == BOTH_SEASONS


def test_a_greedy_rewrite_that_passes_its_check_draws_nothing():
    done = "a cabin in a snowy forest in winter, oil painting"
    rewriter = FixedRewriter(done, ["a cabin in winter"])
    assert rewriter.rewrite(PROMPT, INSTRUCTION, candidates=8) == done
    assert rewriter.calls == ["greedy"]
    assert rewriter.rewrite_batch_verified([(PROMPT, INSTRUCTION)], 8) == [
        VerifiedRewrite(prompt=done, greedy=done)
    ]


def test_a_passing_greedy_rewrite_that_loses_an_earlier_edit_gives_way(no_literal_edit):
    # Turn 3 of a chat: "enormous" came from turn 2; the greedy rewrite does the edit but
    # paraphrases it away, the drawn candidate keeps it.
    prompt = "an enormous jellyfish floating over a city, at sunset"
    kept = "an enormous pink jellyfish floating over a city, at sunset"
    rewriter = FixedRewriter("a huge pink jellyfish floating over a city, at sunset", [kept])
    result = rewriter.rewrite_batch_verified([(prompt, "make the jellyfish pink")], 4)[0]
    assert result.searched and result.prompt == kept
    assert rewriter.calls == ["greedy", "draw 4"]


def test_batch_draws_only_for_the_pairs_that_failed(no_literal_edit):
    class PerPair(FixedRewriter):
        def rewrite_batch(self, pairs):
            return ["a man riding a horse" if "bike" in p else p for p, _ in pairs]

    rewriter = PerPair("", ["a cabin in a forest in winter, oil painting"])
    results = rewriter.rewrite_batch_verified(
        [("a man riding a bike", "replace the bike with a horse"), (PROMPT, INSTRUCTION)], 4
    )
    assert rewriter.calls == ["draw 4"]
    assert [r.searched for r in results] == [False, True]
    assert results[1].prompt == "a cabin in a forest in winter, oil painting"


def test_a_literal_edit_that_passes_its_check_is_taken_without_drawing():
    rewriter = FixedRewriter(BOTH_SEASONS, ["a cabin in winter"])
    result = rewriter.rewrite_batch_verified([(PROMPT, INSTRUCTION)], 4)[0]
    # core.literal_edit puts winter where spring stood; check_edit passes it (score 1.0 + CI
    # 1.0), above the greedy rewrite that keeps spring (2/3 + 1.0).
    assert result.prompt == "a cabin in a forest in winter, oil painting"
    assert result.candidates == (result.prompt,) and result.scores == (pytest.approx(2.0),)
    assert rewriter.calls == ["greedy"]


def test_candidates_are_drawn_where_there_is_no_literal_edit():
    # The deer is the clause's subject: the literal edit declines, candidates are drawn.
    prompt, instruction = "a deer in a forest clearing, photo", "remove the deer"
    drawn = [prompt, "a forest clearing, photo"]
    rewriter = FixedRewriter(prompt, drawn)
    result = rewriter.rewrite_batch_verified([(prompt, instruction)], 2)[0]
    assert rewriter.calls == ["greedy", "draw 2"]
    assert result.searched and result.prompt == "a forest clearing, photo"


@pytest.mark.parametrize("candidates", [0, -1, MAX_REWRITE_CANDIDATES + 1, 2.5, True, "4"])
def test_bad_candidate_counts_are_refused_before_anything_runs(candidates):
    rewriter = FixedRewriter(BOTH_SEASONS, [])
    with pytest.raises(InputError, match="from 1 to 16"):
        rewriter.rewrite(PROMPT, INSTRUCTION, candidates=candidates)
    with pytest.raises(InputError, match="from 1 to 16"):
        rewriter.rewrite_batch_verified([(PROMPT, INSTRUCTION)], candidates)
    assert rewriter.calls == []


def test_expected_target_drops_what_is_lost_and_adds_what_is_gained():
    assert expected_target(PROMPT, INSTRUCTION) == "a cabin in a forest in oil painting winter"
    assert expected_target("a man riding a bike", "replace the bike with a horse") == (
        "a man riding a horse"
    )


def test_rerank_score_of_an_empty_candidate_is_zero():
    assert rerank_score(PROMPT, INSTRUCTION, "") == 0.0


def test_append_baseline_keeps_its_answer():
    rewriter = load_rewriter("append")
    assert rewriter.rewrite("a dog", "make it a fox", candidates=4) == "a dog, make it a fox"
    # Not even the reader's literal edit repairs the baseline ("in spring" stays here).
    assert rewriter.rewrite(PROMPT, INSTRUCTION) == f"{PROMPT}, {INSTRUCTION}"


# --- a tiny random Llama: beam n-best through the real generate() path


def test_local_draw_candidates_is_beam_n_best(tiny_models):  # noqa: F811
    base, _ = tiny_models
    rewriter = load_rewriter(str(base)).with_settings(max_new_tokens=8)
    assert isinstance(rewriter, LocalCausalLMRewriter)
    pairs = [("a red cat", "make the cat blue"), ("a house", "add a tree")]
    drawn = rewriter.draw_candidates(pairs, 3)
    assert [len(options) for options in drawn] == [3, 3]
    assert all("\n" not in text for options in drawn for text in options)
    # Beam search is deterministic, and a pair's list does not depend on its batch.
    assert rewriter.draw_candidates(pairs[:1], 3) == drawn[:1]
    verified = rewriter.rewrite_batch_verified(pairs, 3)
    greedy = rewriter.rewrite_batch(pairs)
    for pair, result, greedy_text, options in zip(pairs, verified, greedy, drawn, strict=True):
        assert result.greedy == greedy_text
        assert result.prompt in (greedy_text, *options, literal_edit(*pair))


def test_drawn_and_sampled_rewrites_lose_their_looped_clauses(tiny_models, monkeypatch):  # noqa: F811
    # The shipped adapter's n-best list once held "..., in winter, in winter, ..." (96
    # tokens), which the reader passed ("make it a watercolor" on a watercolor gains nothing)
    # and the Create tab rendered; greedy rewrites already lost such loops.
    base, _ = tiny_models
    rewriter = load_rewriter(str(base))
    looped = "a watercolor of a cabin, in winter, in winter, in winter"

    def generate(self, texts, seed=None, **overrides):
        return [looped] * (len(texts) * overrides.get("num_return_sequences", 1))

    monkeypatch.setattr(LocalCausalLMRewriter, "_generate", generate)
    pair = ("a cabin, in winter, watercolor", "make it a watercolor")
    assert rewriter.draw_candidates([pair], 2) == [["a watercolor of a cabin, in winter"] * 2]
    assert rewriter.sample(*pair, 2) == ["a watercolor of a cabin, in winter"] * 2


# --- the shipped adapter (real SmolLM2-135M weights): few generations


@pytest.mark.slow
def test_shipped_adapter_verified_rewrite(smollm2_ready):  # noqa: F811
    rewriter = load_rewriter()
    if rewriter.is_fallback:
        pytest.skip("the shipped adapter is not installed")
    pair = ("a dog asleep on a porch, photo", "make the dog a fox")
    drawn = rewriter.draw_candidates([pair], 4)[0]
    assert len(drawn) == 4 and all(text and "\n" not in text for text in drawn)
    result = rewriter.rewrite_batch_verified([pair], 4)[0]
    if result.searched:
        # The chosen rewrite scores at least as high as every other one.
        assert rerank_score(*pair, result.prompt) >= max(result.scores + (result.greedy_score,))
        assert set(result.candidates) <= set(drawn)
    else:
        from core.instructions import check_edit

        assert check_edit(*pair, result.greedy).ok and result.prompt == result.greedy


# --- python -m core rewrite --candidates K


def test_cli_refuses_a_bad_candidate_count_and_a_second_decoding():
    from tests.test_rewrite_command import _run

    for candidates in ("0", "17"):
        done = _run(
            "--prompt", "a", "--instruction", "b", "--model", "append", "--candidates", candidates
        )
        assert done.returncode == 2 and "from 1 to 16" in done.stderr and done.stdout == ""
    both = _run("--prompt", "a", "--instruction", "b", "--candidates", "2", "--typical-p", "0.9")
    assert both.returncode == 2 and "give one of them" in both.stderr


@pytest.mark.slow
def test_cli_verified_batch_gives_one_line_per_input_line(tiny_models, tmp_path):  # noqa: F811
    import json

    from tests.test_rewrite_command import _run

    base, _ = tiny_models
    batch = tmp_path / "in.jsonl"
    pairs = [("a red cat", "make the cat blue"), ("a house", "add snow")]
    batch.write_text("".join(json.dumps({"prompt": p, "instruction": i}) + "\n" for p, i in pairs))
    done = _run(
        "--batch", str(batch), "--model", str(base), "--max-new-tokens", "6", "--candidates", "3"
    )
    assert done.returncode == 0, done.stderr
    assert len([json.loads(line) for line in done.stdout.splitlines()]) == 2


# --- the Create tab: the advanced setting reaches the rewriter


def test_create_tab_turn_passes_its_candidate_count_to_the_rewriter(monkeypatch, no_literal_edit):
    import core.rewrite
    from core.images import EditRequest
    from diffchat_ui.create_tab import TurnSettings
    from diffchat_ui.turns import rewrite_for_turn

    fixed = FixedRewriter(BOTH_SEASONS, ["a cabin in a forest in winter, oil painting"])
    monkeypatch.setattr(core.rewrite, "load_rewriter", lambda name=None: fixed)
    request = EditRequest(image=None, instruction=INSTRUCTION, prompt=PROMPT, rewriter="fixed")
    assert request.rewrite_candidates == DEFAULT_REWRITE_CANDIDATES
    assert TurnSettings.__dataclass_fields__["rewrite_candidates"].default == 4
    request.rewrite_candidates = 1
    assert rewrite_for_turn(request) == BOTH_SEASONS
    request.rewrite_candidates = 2
    assert rewrite_for_turn(request) == "a cabin in a forest in winter, oil painting"
    assert fixed.calls == ["greedy", "greedy", "draw 2"]


def test_create_tab_send_api_has_the_candidates_setting(offline_assets, tmp_path, monkeypatch):
    from gradio_client import Client

    from diffchat_ui.context import AppContext
    from diffchat_ui.layout import build_demo, launch_options, queue
    from diffchat_ui.settings import detect_settings

    monkeypatch.setenv("DIFFCHAT_WORKSPACE", str(tmp_path))
    context = AppContext(detect_settings(force_offline=True, concurrency=1))
    demo = queue(build_demo(context), 1)
    _, url, _ = demo.launch(**local_launch_options(), **launch_options(context))
    try:
        api = Client(url, verbose=False).view_api(return_format="dict", print_info=False)
        parameters = api["named_endpoints"]["/send"]["parameters"]
        candidates = [p for p in parameters if "Rewrite candidates" in (p.get("label") or "")]
        assert len(candidates) == 1
        assert (
            candidates[0]["parameter_has_default"]
            and candidates[0]["parameter_default"] == DEFAULT_REWRITE_CANDIDATES
        )
    finally:
        demo.close()


def test_try_again_takes_the_sample_the_reader_accepts():
    from core.rewrite import choose_sample

    prompt, instruction = "a castle on a hill at sunset", "make it night"
    samples = ["a castle on a hill at sunset, at night", "a castle on a hill at night"]
    assert choose_sample(prompt, instruction, samples) == "a castle on a hill at night"
    # the first sample stays where no other one does better, and one sample is taken as it is
    assert choose_sample(prompt, instruction, samples[::-1]) == "a castle on a hill at night"
    assert choose_sample(prompt, instruction, samples[:1]) == samples[0]
