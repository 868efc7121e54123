"""train/evaluate_rewriter.py: the edit-success definition and an end-to-end run on tiny models."""

from __future__ import annotations

import json

import pytest

from core.errors import InputError
from tests.train_fixtures import save_tiny_llama, tiny_triplets, write_triplets_jsonl
from train.evaluate_rewriter import EvaluateRewriterConfig, evaluate, score_row

RAW = "an oil painting of a red car parked on a quiet street, at midday, highly detailed"
INSTRUCTION = "make the car blue"
TARGET = "an oil painting of a blue car parked on a quiet street, at midday, highly detailed"


@pytest.mark.parametrize(
    ("candidate", "success", "unchanged"),
    [
        (TARGET, 1.0, 0.0),  # the reference edit itself
        (RAW, 0.0, 1.0),  # copied the input
        (RAW + ", make the car blue", 0.0, 0.0),  # appended: the replaced "red" is still there
        ("a blue car", 0.0, 0.0),  # lost most of the prompt: CI below 0.7
    ],
)
def test_edit_success_needs_ci_a_change_the_new_keywords_and_the_old_ones_gone(
    candidate, success, unchanged
):
    row = score_row(RAW, INSTRUCTION, TARGET, candidate)
    assert (row["edit_success"], row["unchanged"]) == (success, unchanged)


def test_an_unknown_system_is_refused():
    with pytest.raises(InputError, match="unknown systems"):
        EvaluateRewriterConfig(systems="adapter,gpt9").system_list()


def test_evaluate_writes_a_table_and_json_and_rescores_saved_outputs(tmp_path):
    model = save_tiny_llama(tmp_path / "model")
    test_file = write_triplets_jsonl(tmp_path / "test.jsonl", tiny_triplets(4))
    config = EvaluateRewriterConfig(
        test_file=str(test_file),
        adapter=str(model),  # a full model folder stands in for a fine-tuned rewriter
        base_model=str(model),
        max_new_tokens=4,
        predictions_out=str(tmp_path / "predictions.json"),
        output_json=str(tmp_path / "results.json"),
        output_markdown=str(tmp_path / "results.md"),
    )
    report = evaluate(config)

    assert set(report["results"]) == {"adapter", "zero-shot", "append"}
    assert report["results"]["append"]["unchanged"] == 0.0
    assert "| append |" in (tmp_path / "results.md").read_text()
    assert json.loads((tmp_path / "results.json").read_text())["rows"] == 4

    config.predictions_in, config.predictions_out = config.predictions_out, ""
    assert evaluate(config)["results"] == report["results"]
