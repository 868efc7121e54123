"""train/data.py: loaders for each format, bad rows with line numbers, dedupe, split."""

from __future__ import annotations

import json

import pytest

from core.errors import DataError
from train.data import Triplet, deduplicate, load_triplets, save_triplets, split_train_test


def _write(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "columns",
    [
        ("raw_prompt", "instruction", "target_prompt"),
        ("x", "i", "y"),
        ("input", "edit", "output"),
        ("original_prompt", "edit_prompt", "edited_prompt"),
    ],
)
def test_jsonl_accepts_each_column_naming(tmp_path, columns):
    row = dict(zip(columns, ("a red car", "make it blue", "a blue car"), strict=True))
    path = _write(tmp_path / "rows.jsonl", [json.dumps(row)])
    assert load_triplets(path) == [Triplet("a red car", "make it blue", "a blue car")]


def test_csv_with_quoted_commas_and_optional_category(tmp_path):
    path = _write(
        tmp_path / "rows.csv",
        [
            "input,edit,output,category",
            '"a cat, oil painting",make it a dog,"a dog, oil painting",replace',
        ],
    )
    assert load_triplets(path) == [
        Triplet("a cat, oil painting", "make it a dog", "a dog, oil painting", "replace")
    ]


def test_json_list_file(tmp_path):
    path = tmp_path / "rows.json"
    path.write_text(json.dumps([{"x": "a", "i": "b", "y": "c"}]))
    assert load_triplets(path) == [Triplet("a", "b", "c")]


@pytest.mark.parametrize(
    "bad_line, message",
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"raw_prompt": "a", "instruction": "b"}), "missing field 'target_prompt'"),
        (json.dumps({"x": "a", "i": "  ", "y": "c"}), "field 'i' is empty"),
        (json.dumps({"x": "a", "i": 3, "y": "c"}), "field 'i' must be a string"),
        (json.dumps(["a", "b", "c"]), "not a JSON object"),
    ],
)
def test_bad_row_names_file_and_line(tmp_path, bad_line, message):
    good = json.dumps({"x": "a", "i": "b", "y": "c"})
    path = _write(tmp_path / "rows.jsonl", [good, "", bad_line])
    with pytest.raises(DataError) as caught:
        load_triplets(path)
    assert f"{path}:3:" in str(caught.value)
    assert message in str(caught.value)
    assert caught.value.line == 3


def test_bad_csv_row_reports_its_line(tmp_path):
    path = _write(tmp_path / "rows.csv", ["x,i,y", "a,b,c", "d,,f"])
    with pytest.raises(DataError, match=r"rows\.csv:3: field 'i' is empty"):
        load_triplets(path)


def test_skip_bad_collects_problems_and_keeps_good_rows(tmp_path):
    good = json.dumps({"x": "a", "i": "b", "y": "c"})
    path = _write(tmp_path / "rows.jsonl", ["{oops", good, json.dumps({"x": "a"})])
    problems: list[str] = []
    rows = load_triplets(path, skip_bad=True, problems=problems)
    assert rows == [Triplet("a", "b", "c")]
    assert [p.split(": ")[0] for p in problems] == [f"{path}:1", f"{path}:3"]


def test_empty_dataset_is_refused(tmp_path):
    path = _write(tmp_path / "empty.jsonl", [""])
    with pytest.raises(DataError, match="empty"):
        load_triplets(path)
    only_bad = _write(tmp_path / "bad.jsonl", ["{oops"])
    with pytest.raises(DataError, match="empty"):
        load_triplets(only_bad, skip_bad=True)


def test_missing_file_and_offline_hub_id(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_triplets(tmp_path / "nope.jsonl")
    # conftest sets HF_DATASETS_OFFLINE=1: an uncached dataset id must fail with a sentence.
    with pytest.raises(DataError, match="needs the network"):
        load_triplets("nobody-here/not-a-dataset")


def test_save_and_reload_roundtrip(tmp_path):
    rows = [Triplet("a, b", 'say "c"', "d", "colour", "handwritten"), Triplet("e", "f", "g")]
    for name in ("rows.jsonl", "rows.csv"):
        assert load_triplets(save_triplets(rows, tmp_path / name)) == rows


def test_deduplicate_ignores_case_and_spacing_and_keeps_first():
    rows = [
        Triplet("A red  car", "make it blue", "a blue car", source="first"),
        Triplet("a red car", "Make it blue", "a blue   car", source="second"),
        Triplet("a red car", "make it green", "a green car"),
    ]
    assert deduplicate(rows) == [rows[0], rows[2]]


def _many(count):
    return [Triplet(f"prompt {n % 40}", f"edit {n}", f"target {n}") for n in range(count)]


def test_split_is_deterministic_and_shares_no_raw_prompt():
    rows = _many(200)
    train, test = split_train_test(rows, 0.1, seed=3)
    assert (train, test) == split_train_test(rows, 0.1, seed=3)
    assert split_train_test(rows, 0.1, seed=4) != (train, test)
    assert {t.raw_prompt for t in train}.isdisjoint({t.raw_prompt for t in test})
    assert len(train) + len(test) == 200
    assert 15 <= len(test) <= 30  # 5 rows per raw prompt: test size moves in steps of 5


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_split_refuses_bad_fraction(fraction):
    with pytest.raises(DataError, match="test_fraction"):
        split_train_test(_many(10), fraction)


def test_split_refuses_empty_and_single_prompt_data():
    with pytest.raises(DataError, match="empty"):
        split_train_test([], 0.1)
    with pytest.raises(DataError, match="same raw prompt"):
        split_train_test([Triplet("p", f"i{n}", "t") for n in range(5)], 0.5)


def test_data_cli_validate_and_split(tmp_path, capsys):
    from train.data_cli import main

    good = [json.dumps({"x": f"p{n}", "i": "b", "y": "c", "category": "colour"}) for n in range(10)]
    path = _write(tmp_path / "rows.jsonl", [*good, "{oops"])
    assert main(["validate", str(path), "--skip-bad"]) == 1
    assert "rows.jsonl:11" in capsys.readouterr().out
    with pytest.raises(DataError):
        main(["validate", str(path)])
    assert main(["split", str(path), "--skip-bad", "--out", str(tmp_path / "out")]) == 0
    train = load_triplets(tmp_path / "out" / "train.jsonl")
    test = load_triplets(tmp_path / "out" / "test.jsonl")
    assert len(train) == 9 and len(test) == 1
