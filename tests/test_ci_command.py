"""`python -m core ci`: the JSON contract and the readable line."""

import argparse
import json
import subprocess
import sys

import pytest

from core.assets import language_data
from core.commands import ci

ARGS = ["--raw", "a horse in a field", "--instruction", "turn the horse into a zebra",
        "--target", "a zebra in a field", "--output", "a horse in a field"]  # fmt: skip


@pytest.fixture(autouse=True, scope="module")
def language_data_installed():
    if not language_data.is_ready():
        pytest.fail("WordNet is not installed: run `python -m core.assets fetch` first.")


def _parse(argv):
    parser = argparse.ArgumentParser()
    ci.add_arguments(parser)
    return parser.parse_args(argv)


def test_json_output_through_the_real_command_line():
    # keywords(y_o) = [zebra, field], zebra highlighted (counted twice): reachable 3; the
    # output keeps only field: raw 1/3, below 0.7.
    completed = subprocess.run(
        [sys.executable, "-m", "core", "ci", *ARGS, "--json"], capture_output=True, text=True
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == {"ci": 0.0, "ci_raw": pytest.approx(1 / 3)}


def test_threshold_option(capsys):
    assert ci.run(_parse([*ARGS, "--threshold", "0.3", "--json"])) == 0
    assert json.loads(capsys.readouterr().out) == {
        "ci": pytest.approx(1 / 3),
        "ci_raw": pytest.approx(1 / 3),
    }


def test_readable_line_without_json(capsys):
    assert ci.run(_parse(ARGS)) == 0
    assert capsys.readouterr().out.strip() == "CI 0.000 (before threshold 0.333, threshold 0.7)"


def test_missing_output_is_refused():
    with pytest.raises(SystemExit):
        _parse(ARGS[:-2])
