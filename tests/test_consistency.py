"""InstructPE v2 consistency rules (train.consistency): one hand-worked row per rule."""

from __future__ import annotations

import json

import pytest

from core.errors import DataError
from train.consistency import check_row, validate_file


@pytest.mark.parametrize(
    ("raw", "instruction", "target", "rule"),
    [
        ("a dog asleep on a porch", "make the dog a fox", "a dog asleep on a porch", "unchanged"),
        (
            "a dog asleep on a porch",
            "make the dog a fox",
            "a cat asleep on a porch",
            "missing-new-word",
        ),
        (
            "a dog on a beach, a kite in the sky",
            "remove the kite",
            "a dog on a beach, a red kite in the sky",
            "kept-removed",
        ),
        (
            "a cabin in a forest, in spring",
            "make it winter",
            "a cabin in a forest, in spring, in winter",
            "slot-conflict",
        ),
        (
            "a fox in the snow, 35mm photo, photorealistic",
            "make it a watercolor painting",
            "a watercolor painting of a fox in the snow, 35mm photo, photorealistic",
            "slot-conflict",
        ),
    ],
)
def test_each_rule_catches_its_violation(raw, instruction, target, rule):
    assert rule in {broken for broken, _ in check_row(raw, instruction, target)}


@pytest.mark.parametrize(
    ("raw", "instruction", "target"),
    [
        ("a dog asleep on a porch", "make the dog a fox", "a fox asleep on a porch"),
        ("a cabin in a forest, in spring", "make it winter", "a cabin in a forest, in winter"),
        ("a dog on a beach, a kite in the sky", "remove the kite", "a dog on a beach"),
    ],
)
def test_a_consistent_row_passes(raw, instruction, target):
    assert check_row(raw, instruction, target) == []


def test_validate_file_reports_file_line_and_rule(tmp_path):
    path = tmp_path / "rows.jsonl"
    rows = [
        {
            "raw_prompt": "a cabin, in spring",
            "instruction": "make it winter",
            "target_prompt": "a cabin, in winter",
        },
        {
            "raw_prompt": "a cabin, in spring",
            "instruction": "make it winter",
            "target_prompt": "a cabin, in spring",
        },
    ]
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    violations = validate_file(path)
    assert violations and all(v.line == 2 for v in violations)
    assert str(violations[0]).startswith(f"{path}:2: ")


def test_chains_are_checked_turn_by_turn(tmp_path):
    path = tmp_path / "chains.jsonl"
    chain = {
        "raw_prompt": "a cabin in a forest, in spring",
        "turns": [
            {"instruction": "make it winter", "target_prompt": "a cabin in a forest, in winter"},
            {"instruction": "add a moon", "target_prompt": "a cabin in a forest, in winter"},
        ],
    }
    path.write_text(json.dumps(chain) + "\n")
    violations = validate_file(path)
    assert {(v.line, v.turn) for v in violations} == {(1, 2)}


def test_a_chain_turn_without_its_target_is_refused_with_file_and_line(tmp_path):
    path = tmp_path / "chains.jsonl"
    chain = {"raw_prompt": "a cabin", "turns": [{"instruction": "make it winter"}]}
    path.write_text("\n" + json.dumps(chain) + "\n")
    with pytest.raises(
        DataError, match=r"chains.jsonl:2: turn 1: field 'target_prompt' is missing"
    ):
        validate_file(path)


def test_data_validate_command_prints_each_violation_and_fails(tmp_path, capsys):
    from train.data_cli import main

    path = tmp_path / "rows.jsonl"
    row = {
        "raw_prompt": "a cabin, in spring",
        "instruction": "make it winter",
        "target_prompt": "a cabin, in spring",
    }
    path.write_text(json.dumps(row) + "\n")
    assert main(["validate", str(path)]) == 1
    assert f"{path}:1: unchanged" in capsys.readouterr().out
    assert main(["validate", str(path), "--no-rules"]) == 0
