"""train/runner.py: start a stage as a subprocess, stream lines and metrics, stop, resume."""

from __future__ import annotations

import json

import pytest

from core.errors import InputError
from tests.train_fixtures import save_tiny_llama, tiny_triplets
from train.common import latest_checkpoint, read_stage_tag
from train.runner import StageRun, wait_for_metrics


@pytest.fixture(scope="module")
def rm_inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("runner")
    save_tiny_llama(folder / "model")
    rows = [
        {"prompt": t.raw_prompt, "aesthetic": float(len(t.raw_prompt)), "pickscore": 0.0}
        for t in tiny_triplets(32)
    ]
    (folder / "labels.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return folder


def _rm_args(folder, max_steps: int) -> list[str]:
    return [
        "--model_name_or_path", str(folder / "model"),
        "--labels_file", str(folder / "labels.jsonl"),
        "--batch_size", "4", "--per_device_batch_size", "4",
        "--max_steps", str(max_steps), "--save_steps", "1000", "--tensorboard", "False",
    ]  # fmt: skip


def test_a_run_streams_output_lines_and_metrics_then_exits_cleanly(rm_inputs, tmp_path):
    run = StageRun("rm", _rm_args(rm_inputs, 3), output_dir=tmp_path / "rm").start()
    events = list(run.events())

    metrics = [e.metrics for e in events if e.kind == "metrics"]
    assert [row["step"] for row in metrics] == [1, 2, 3]
    assert all("loss/mse" in row for row in metrics)
    assert any("saved" in e.text for e in events if e.kind == "line")
    assert events[-1].kind == "exit" and events[-1].returncode == 0


def test_stop_saves_a_checkpoint_and_resume_continues_from_it(rm_inputs, tmp_path):
    output_dir = tmp_path / "rm"
    run = StageRun("rm", _rm_args(rm_inputs, 100000), output_dir=output_dir).start()
    wait_for_metrics(run, count=2)
    assert run.stop() == 0

    checkpoint = latest_checkpoint(output_dir)
    stopped_at = read_stage_tag(checkpoint, "rm")["step"]
    assert stopped_at >= 2
    assert read_stage_tag(output_dir / "final", "rm")["stopped_early"] is True

    run.args = _rm_args(rm_inputs, stopped_at + 2)
    events = list(run.resume().events())
    steps = [e.metrics["step"] for e in events if e.kind == "metrics"]
    assert steps == [stopped_at + 1, stopped_at + 2]
    assert events[-1].returncode == 0
    assert run.command()[-2:] == ["--output_dir", str(output_dir)]
    assert "--resume_from_checkpoint" in run.command()


def test_an_unknown_stage_is_refused():
    with pytest.raises(InputError, match="unknown training stage"):
        StageRun("distill")


def test_a_failing_stage_reports_its_error_and_exit_code(tmp_path):
    run = StageRun(
        "rm", ["--labels_file", str(tmp_path / "missing.jsonl")], output_dir=tmp_path
    ).start()
    events = list(run.events())
    assert events[-1].returncode == 2
    assert any("no such labels file" in e.text for e in events if e.kind == "line")
