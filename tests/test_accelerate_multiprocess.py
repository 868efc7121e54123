"""A 2-process `accelerate launch --cpu` run of SFT for a few steps (gloo, DDP on CPU)."""

from __future__ import annotations

import pytest

from tests.train_fixtures import save_tiny_llama, tiny_triplets, write_triplets_jsonl
from train.common import read_metrics, read_stage_tag
from train.runner import StageRun


@pytest.mark.slow
def test_sft_runs_on_two_cpu_processes_with_accelerate_launch(tmp_path):
    save_tiny_llama(tmp_path / "model")
    write_triplets_jsonl(tmp_path / "train.jsonl", tiny_triplets(32))
    args = [
        "--model_name_or_path", str(tmp_path / "model"),
        "--train_file", str(tmp_path / "train.jsonl"),
        "--batch_size", "8", "--per_device_batch_size", "2",
        "--max_steps", "3", "--save_steps", "3", "--learning_rate", "1e-2", "--tensorboard", "False",
    ]  # fmt: skip
    run = StageRun("sft", args, output_dir=tmp_path / "sft", num_processes=2, cpu=True)
    assert run.command()[3:6] == ["--multi_gpu", "--num_processes", "2"]
    events = list(run.start().events())

    assert events[-1].returncode == 0, "\n".join(e.text for e in events[-30:])
    rows = [row for row in read_metrics(tmp_path / "sft") if "train/loss" in row]
    assert [row["step"] for row in rows] == [1, 2, 3]  # logged once, by the main process
    tag = read_stage_tag(tmp_path / "sft" / "final", "sft")
    assert tag["trl_config"]["gradient_accumulation_steps"] == 2  # 8 = 2 processes x 2 x 2
