"""CLI data files (issue 11, item 9): one JSONL/CSV reader in core (core.files) that gives
every line its number and its object or its error, so an invalid UTF-8 line is one bad row,
`rewrite --batch` keeps one output line per input line, the evaluation reads CSV, and a
wrong field type is named as such."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from core.errors import DataError
from core.evaluate import load_examples
from core.files import read_csv, read_jsonl
from core.paths import REPO_ROOT

GOOD = {"raw_prompt": "a red fox", "instruction": "make it night", "target_prompt": "a fox, night"}


def _lines(*lines: bytes) -> bytes:
    return b"".join(line + b"\n" for line in lines)


def _row(**changes) -> bytes:
    return json.dumps({**GOOD, **changes}).encode()


def test_read_jsonl_gives_every_line_its_number_and_object_or_error(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_bytes(_lines(_row(), b"", b'{"raw_prompt": "caf\xe9"}', b"{oops", b"[1, 2]", _row()))
    lines = list(read_jsonl(path))
    assert [line.number for line in lines] == [1, 2, 3, 4, 5, 6]
    assert lines[0].record == GOOD and lines[5].record == GOOD
    assert lines[1].blank
    assert lines[2].error == "not valid UTF-8 (byte 0xe9 at column 20)"
    assert lines[3].error.startswith("not valid JSON")
    assert lines[4].error == "the line is a list, not a JSON object"


def test_an_invalid_utf8_line_is_one_bad_row_for_the_evaluation(tmp_path, capsys):
    path = tmp_path / "eval.jsonl"
    path.write_bytes(_lines(_row(id="a"), b'{"raw_prompt": "caf\xe9", "x": 1}', _row(id="b")))
    with pytest.raises(DataError, match=r"eval\.jsonl:2: not valid UTF-8"):
        load_examples(path)
    examples = load_examples(path, skip_bad_rows=True)
    assert [example.example_id for example in examples] == ["a", "b"]
    assert "eval.jsonl:2: not valid UTF-8" in capsys.readouterr().err


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"raw_prompt": ["a fox"]}, "column 'raw_prompt' must be a string, not a list"),
        ({"instruction": 3}, "column 'instruction' must be a string, not a number"),
        ({"target_prompt": None}, "column 'target_prompt' must be a string, not null"),
        ({"target_prompt": " "}, "column 'target_prompt' is empty"),
    ],
)
def test_a_wrong_field_type_is_named_not_called_missing(tmp_path, changes, message):
    path = tmp_path / "eval.jsonl"
    path.write_bytes(_lines(_row(**changes)))
    with pytest.raises(DataError, match=rf"eval\.jsonl:1: {message}"):
        load_examples(path)
    path.write_bytes(_lines(json.dumps({"raw_prompt": "a", "instruction": "b"}).encode()))
    with pytest.raises(DataError, match="column 'target_prompt' is missing"):
        load_examples(path)


def test_the_evaluation_reads_csv_as_the_evaluate_tab_offers(tmp_path):
    path = tmp_path / "eval.csv"
    path.write_text(
        "id,raw_prompt,instruction,target_prompt\n"
        'a,"a red fox, oil painting",make it night,"a red fox at night, oil painting"\n'
        "\n"
        "b,a house,add snow,\n"
    )
    with pytest.raises(DataError, match=r"eval\.csv:4: column 'target_prompt' is empty"):
        load_examples(path)
    (example,) = load_examples(path, skip_bad_rows=True)
    assert (example.example_id, example.line) == ("a", 2)
    assert example.raw_prompt == "a red fox, oil painting" and example.raw_image is None
    lines = list(read_csv(path))
    assert [line.number for line in lines] == [2, 4]  # the csv module passes over empty lines


def _rewrite_batch(path, *extra):
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "core",
            "rewrite",
            "--batch",
            str(path),
            "--model",
            "append",
            *extra,
        ],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=300,
    )


def test_rewrite_batch_keeps_one_output_line_per_input_line(tmp_path):
    path = tmp_path / "in.jsonl"
    pair = json.dumps({"prompt": "a cat", "instruction": "at night"}).encode()
    path.write_bytes(
        _lines(pair, b"", b'{"prompt": "caf\xe9", "instruction": "x"}', pair, b'{"prompt": 5}')
        + b"   \n"
    )
    refused = _rewrite_batch(path)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert f"{path}:3: not valid UTF-8" in refused.stderr and refused.stdout == ""

    done = _rewrite_batch(path, "--skip-bad")
    assert done.returncode == 0, done.stderr
    out = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(out) == 6  # one per input line, blank ones included
    assert out[0] == out[3] == {"prompt": "a cat, at night"}
    assert out[1] == out[5] == {"prompt": None, "error": "blank line"}
    assert out[2]["prompt"] is None and out[2]["error"].startswith("not valid UTF-8")
    assert out[4] == {"prompt": None, "error": '"prompt" must be a string, not a number'}
