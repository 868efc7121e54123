"""`python -m core rewrite`: the JSON and batch contracts, through a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from core.paths import REPO_ROOT
from tests.train_fixtures import save_tiny_llama


def _run(*arguments):
    return subprocess.run(
        [sys.executable, "-m", "core", "rewrite", *arguments],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=300,
    )


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return str(save_tiny_llama(tmp_path_factory.mktemp("cli") / "tiny", seed=3))


def test_json_output_of_one_rewrite():
    done = _run(
        "--prompt", "a red fox", "--instruction", " at night ", "--model", "append", "--json"
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"prompt": "a red fox, at night"}
    plain = _run("--prompt", "a red fox", "--instruction", "at night", "--model", "append")
    assert plain.stdout == "a red fox, at night\n"


def test_batch_gives_one_line_per_input_line(tiny_model, tmp_path):
    batch = tmp_path / "in.jsonl"
    pairs = [("a red cat", "make it blue"), ("a house", "add snow"), ("a boat", "at sunset")]
    batch.write_text("".join(json.dumps({"prompt": p, "instruction": i}) + "\n" for p, i in pairs))
    done = _run("--batch", str(batch), "--model", tiny_model, "--max-new-tokens", "6")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(lines) == 3 and all(isinstance(line["prompt"], str) for line in lines)


def test_malformed_batch_line_names_file_and_line(tmp_path):
    batch = tmp_path / "bad.jsonl"
    batch.write_text('{"prompt": "a", "instruction": "b"}\n{"prompt": "a"}\nnot json\n')
    done = _run("--batch", str(batch), "--model", "append")
    assert done.returncode == 2
    assert f"{batch}:2:" in done.stderr and '"instruction" is missing' in done.stderr
    assert done.stdout == ""

    skipped = _run("--batch", str(batch), "--model", "append", "--skip-bad")
    assert skipped.returncode == 0
    lines = [json.loads(line) for line in skipped.stdout.splitlines()]
    assert lines[0] == {"prompt": "a, b"}
    assert lines[1]["prompt"] is None and lines[2]["prompt"] is None
    assert f"{batch}:3: skipped: not valid JSON" in skipped.stderr


def test_bad_arguments_are_refused():
    assert "Give --prompt and --instruction" in _run("--prompt", "a").stderr
    done = _run("--prompt", "a", "--instruction", "b", "--model", "no-such-model")
    assert done.returncode == 2 and "Unknown rewriter" in done.stderr
    done = _run("--prompt", "a", "--instruction", "   ", "--model", "append")
    assert done.returncode == 2 and "type an instruction" in done.stderr


def test_real_smollm2_through_the_command_line():
    from core.assets import smollm2

    smollm2.fetch()
    done = _run(
        "--prompt",
        "a photo of a cat sitting on a sofa",
        "--instruction",
        "make the cat black",
        "--model",
        "smollm2-base",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    new_prompt = json.loads(done.stdout)["prompt"]
    assert new_prompt and "\n" not in new_prompt
