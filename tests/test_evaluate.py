"""The evaluation harness: data errors, the average-rank table, and resume after a kill."""

from __future__ import annotations

import csv
import json
import math

import pytest

from core.errors import DataError, DiffChatError, ModelUnavailableError
from core.evaluate import (
    EvaluationConfig,
    Renderer,
    average_ranks,
    load_examples,
    markdown_table,
    run_evaluation,
)

SCORES = ("pickscore", "aesthetic", "hps", "clip_score", "directional_clip", "content_integrity")
# DiffChat Table 1 (average over five SD models) and its Avg. Rank. column.
TABLE_1 = {
    "ChatGPT": [19.569, 6.394, 20.822, 29.354, 15.802, 87.496],
    "InstructPix2Pix": [19.346, 5.726, 19.036, 22.670, 17.327, math.nan],
    "DiffChat (SFT only)": [19.571, 6.392, 20.836, 29.350, 16.596, 85.089],
    "DiffChat (full imp.)": [19.584, 6.416, 20.851, 29.397, 16.787, 87.314],
}


def test_average_rank_reproduces_paper_table_1():
    table = {method: dict(zip(SCORES, values, strict=True)) for method, values in TABLE_1.items()}
    ranks = average_ranks(table, SCORES)
    assert ranks == pytest.approx(
        {
            "ChatGPT": 2.5,
            "InstructPix2Pix": 3.4,
            "DiffChat (SFT only)": 16 / 6,
            "DiffChat (full imp.)": 8 / 6,
        }
    )


def test_ties_share_the_better_rank_and_the_mark():
    table = {"a": {"s": 2.0}, "b": {"s": 2.0}, "c": {"s": 1.0}, "d": {"s": 0.5}}
    assert average_ranks(table, ["s"]) == {"a": 1, "b": 1, "c": 3, "d": 4}
    text = markdown_table(
        {
            "means": {m: {"pickscore": r["s"]} for m, r in table.items()},
            "average_rank": average_ranks(table, ["s"]),
        },
        ["pickscore"],
    )
    lines = text.splitlines()
    assert lines[0] == "| Method | PickScore ↑ | Avg. Rank. ↓ |"
    assert lines[2] == "| a | **2.000** | **1.000** |"
    assert lines[4] == "| c | <u>1.000</u> | <u>3.000</u> |"
    assert lines[5] == "| d | 0.500 | 4.000 |"


def _write_data(path, rows):
    path.write_text(
        "".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows)
    )
    return path


GOOD = {"raw_prompt": "a cat", "instruction": "put it on a mat", "target_prompt": "a cat on a mat"}


def test_bad_rows_name_file_and_line(tmp_path, capsys):
    data = _write_data(
        tmp_path / "d.jsonl", [GOOD, "{not json", {"raw_prompt": "x", "instruction": "y"}, GOOD]
    )
    with pytest.raises(DataError, match=r"d\.jsonl:2: not valid JSON"):
        load_examples(data)
    examples = load_examples(data, skip_bad_rows=True)
    assert [e.line for e in examples] == [1, 4]
    assert "d.jsonl:3: column 'target_prompt' is missing" in capsys.readouterr().err
    assert len(load_examples(data, skip_bad_rows=True, limit=1)) == 1


def test_raw_image_that_does_not_decode_is_a_data_error(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"not a png")
    data = _write_data(tmp_path / "d.jsonl", [{**GOOD, "raw_image": "broken.png"}])
    with pytest.raises(DataError, match=r"d\.jsonl:1: raw_image .*broken\.png does not decode"):
        load_examples(data)


class AppendDouble:
    """A deterministic rewriter double: prompt + ', ' + instruction."""

    def rewrite_batch(self, pairs):
        return [f"{prompt}, {instruction}" for prompt, instruction in pairs]

    def sample(self, prompt, instruction, num_candidates, typical_p=0.97, seed=0):
        return [f"{prompt}, {instruction}", f"{prompt}, {instruction}, detailed"][:num_candidates]


def _load_rewriter(name):
    if name == "openai":
        raise ModelUnavailableError("OPENAI_API_KEY is not set")
    return AppendDouble()


class KillAfter(Renderer):
    """The real renderer (tiny-sd), interrupted like a killed process after `limit` target images."""

    def __init__(self, config, limit=None):
        super().__init__(config)
        self.limit, self.targets = limit, []

    def text_to_image(self, prompt, tis_model):
        if self.limit is not None and len(self.targets) >= self.limit:
            raise KeyboardInterrupt
        self.targets.append(prompt)
        return super().text_to_image(prompt, tis_model)


@pytest.fixture(scope="module")
def tiny_pipelines_ready():
    from core.assets import tiny_pipelines

    tiny_pipelines.fetch()


def test_resume_after_interruption_recomputes_nothing(tmp_path, tiny_pipelines_ready):
    data = _write_data(
        tmp_path / "d.jsonl",
        [GOOD, {**GOOD, "raw_prompt": "a dog", "target_prompt": "a dog on a mat"}],
    )
    config = EvaluationConfig(
        data=data,
        out=tmp_path / "out",
        methods=("diffchat", "chatgpt"),
        tis_models=("tiny-sd",),
        num_inference_steps=2,
        tiny_scorers=True,
        batch_size=1,
        scores=("pickscore", "clip_score", "directional_clip"),
    )
    # Renders: raw 1, target 1, raw 2, then the "kill" on target 2.
    with pytest.raises(KeyboardInterrupt):
        run_evaluation(config, KillAfter(config, limit=3), _load_rewriter, progress=False)
    with (config.out / "examples.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == 1

    resumed = KillAfter(config)
    summary = run_evaluation(config, resumed, _load_rewriter, progress=False)

    assert resumed.targets == ["a dog, put it on a mat"]  # raw images came from the PNG cache
    with (config.out / "examples.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert sorted((r["method"], r["example_id"]) for r in rows) == [
        ("diffchat", "1"),
        ("diffchat", "2"),
    ]
    assert all(r["pickscore"] and r["clip_score"] and r["directional_clip"] for r in rows)
    assert summary["skipped_methods"] == {"chatgpt": "OPENAI_API_KEY is not set"}
    markdown = (config.out / "summary.md").read_text()
    assert "meaningless" in markdown and "Method chatgpt was skipped" in markdown
    assert (config.out / "distributions.png").stat().st_size > 0
    assert (config.out / "per_tis_model.png").stat().st_size > 0
    # Resuming with other settings would mix incomparable rows.
    config.seed = 1
    with pytest.raises(DiffChatError, match="other settings"):
        run_evaluation(config, resumed, _load_rewriter, progress=False)


@pytest.mark.slow
def test_evaluate_command_end_to_end_on_tiny_models(tmp_path):
    import argparse

    from core.assets import fetch_all
    from core.commands import evaluate as command

    fetch_all(steps=("tiny_pipelines", "tiny_scorers", "smollm2"))
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    data = _write_data(
        tmp_path / "d.jsonl",
        [GOOD, {**GOOD, "raw_prompt": "a dog", "target_prompt": "a dog on a mat"}],
    )
    out = tmp_path / "out"
    args = parser.parse_args(
        [
            "--data",
            str(data),
            "--out",
            str(out),
            "--tiny-scorers",
            "--no-progress",
            "--methods",
            "diffchat,chatgpt,append,best-of-n,instructpix2pix",
            "--tis-models",
            "tiny-sd",
            "--num-inference-steps",
            "2",
            "--best-of-n",
            "2",
        ]
    )
    assert command.run(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    means = summary["overall"]["means"]
    assert set(means) >= {"diffchat", "append", "best-of-n", "instructpix2pix"}
    assert means["instructpix2pix"]["content_integrity"] is None  # the paper's "-"
    assert all(value is not None for value in means["append"].values())
