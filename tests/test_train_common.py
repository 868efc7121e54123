"""train/common.py: checkpoints (atomic, stage-tagged, disk full), RNG, logging, NaN checks."""

from __future__ import annotations

import errno
import json
import random

import numpy as np
import pytest
import torch

from core.errors import InputError
from train import common
from train.common import (
    RunLogger,
    TrainingDivergedError,
    TrainingError,
    check_causal_lm,
    check_finite,
    checkpoint_to_resume,
    latest_checkpoint,
    load_checkpoint,
    read_metrics,
    save_checkpoint,
)


def _model_and_optimizer(seed: int = 0):
    torch.manual_seed(seed)
    model = torch.nn.Linear(4, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    return model, optimizer, scheduler


def _train_step(model, optimizer, scheduler):
    loss = model(torch.randn(3, 4)).pow(2).mean()
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    scheduler.step()
    return loss.item()


def test_resume_restores_weights_optimizer_scheduler_rng_and_gives_the_same_next_loss(tmp_path):
    model, optimizer, scheduler = _model_and_optimizer()
    _train_step(model, optimizer, scheduler)
    save_checkpoint(
        tmp_path,
        1,
        stage="ppo",
        config={"lr": 0.1},
        modules={"policy": model},
        optimizer=optimizer,
        scheduler=scheduler,
        data_position={"epoch": 0, "batch": 7},
    )
    expected = [_train_step(model, optimizer, scheduler), random.random(), np.random.rand()]

    other, other_optimizer, other_scheduler = _model_and_optimizer(seed=1)
    state = load_checkpoint(
        tmp_path,
        stage="ppo",
        modules={"policy": other},
        optimizer=other_optimizer,
        scheduler=other_scheduler,
    )
    resumed = [
        _train_step(other, other_optimizer, other_scheduler),
        random.random(),
        np.random.rand(),
    ]

    assert state.step == 1
    assert state.data_position == {"epoch": 0, "batch": 7}
    assert resumed == pytest.approx(expected, rel=0, abs=0)
    assert other_scheduler.get_last_lr() == scheduler.get_last_lr()


def test_latest_points_at_the_newest_checkpoint_and_keep_last_prunes(tmp_path):
    model, _, _ = _model_and_optimizer()
    for step in (1, 2, 3):
        save_checkpoint(tmp_path, step, stage="sft", modules={"model": model}, keep_last=2)
    assert latest_checkpoint(tmp_path).name == "checkpoint-3"
    assert sorted(p.name for p in tmp_path.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-3"]


def test_resume_latest_needs_a_saved_checkpoint(tmp_path):
    assert checkpoint_to_resume("", tmp_path) is None  # a fresh run
    with pytest.raises(TrainingError, match="no checkpoint to resume from"):
        checkpoint_to_resume("latest", tmp_path)  # never a silent fresh start
    model, _, _ = _model_and_optimizer()
    save_checkpoint(tmp_path, 4, stage="rm", modules={"model": model})
    assert checkpoint_to_resume("latest", tmp_path).name == "checkpoint-4"


def test_a_checkpoint_of_another_stage_is_refused_with_both_stage_names(tmp_path):
    model, _, _ = _model_and_optimizer()
    save_checkpoint(tmp_path, 5, stage="rm", modules={"model": model})
    with pytest.raises(TrainingError, match="'rm' stage, not 'ppo'"):
        load_checkpoint(tmp_path, stage="ppo", modules={"model": model})


def test_a_folder_that_is_not_a_checkpoint_is_refused(tmp_path):
    with pytest.raises(TrainingError, match="not a DiffChat checkpoint"):
        load_checkpoint(tmp_path, stage="sft")


def test_disk_full_while_saving_keeps_the_previous_latest_and_leaves_no_partial_folder(
    tmp_path, monkeypatch
):
    model, optimizer, _ = _model_and_optimizer()
    save_checkpoint(tmp_path, 1, stage="ppo", modules={"policy": model}, optimizer=optimizer)

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(TrainingError, match="still names checkpoint-1"):
        save_checkpoint(tmp_path, 2, stage="ppo", modules={"policy": model}, optimizer=optimizer)
    monkeypatch.undo()

    assert latest_checkpoint(tmp_path).name == "checkpoint-1"
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["checkpoint-1"]
    load_checkpoint(tmp_path, stage="ppo", modules={"policy": model}, optimizer=optimizer)


def test_every_checkpoint_carries_the_resolved_config(tmp_path):
    from dataclasses import dataclass

    @dataclass
    class Config:
        learning_rate: float = 5e-6
        kl_coef: float = 0.05

    folder = save_checkpoint(tmp_path, 3, stage="ppo", config=Config())
    tag = json.loads((folder / common.STAGE_FILE).read_text())
    assert tag["stage"] == "ppo"
    assert tag["config"] == {"learning_rate": 5e-6, "kl_coef": 0.05}


@pytest.mark.parametrize("value", [float("nan"), float("inf"), torch.tensor(float("-inf"))])
def test_check_finite_stops_on_nan_and_inf_naming_the_step(value):
    with pytest.raises(TrainingDivergedError, match="at step 12"):
        check_finite(value, step=12)


def test_check_finite_returns_a_float_for_a_finite_tensor():
    assert check_finite(torch.tensor(1.5), step=0) == 1.5


def test_run_logger_writes_jsonl_and_a_csv_that_widens_for_new_metrics(tmp_path):
    with RunLogger(tmp_path, stage="sft", config={"lr": 1}, tensorboard=True) as logger:
        logger.log(1, {"train/loss": 2.0})
        logger.log(2, {"train/loss": 1.5, "eval/loss": torch.tensor(1.75)})
    rows = read_metrics(tmp_path)
    assert [r["step"] for r in rows] == [1, 2]
    assert rows[1]["eval/loss"] == 1.75
    header, first, second = (tmp_path / "metrics.csv").read_text().splitlines()
    assert header.split(",") == ["step", "time", "stage", "train/loss", "eval/loss"]
    assert first.endswith(",sft,2.0,") and second.endswith(",sft,1.5,1.75")
    assert any((tmp_path / "tensorboard").iterdir())


@pytest.mark.parametrize("kind", ["t5", "bert-masked-lm"])
def test_a_model_that_is_not_a_causal_lm_is_refused(tmp_path, kind):
    from transformers import BertConfig, T5Config

    if kind == "t5":
        config = T5Config(d_model=32, num_layers=1, num_heads=2, d_ff=64)
    else:
        config = BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2)
        config.architectures = ["BertForMaskedLM"]
    config.save_pretrained(tmp_path)
    with pytest.raises(InputError, match="not a causal language model"):
        check_causal_lm(tmp_path)


def test_a_missing_model_is_reported_without_a_stack_of_hub_errors(tmp_path):
    with pytest.raises(InputError, match="cannot read a model config"):
        check_causal_lm(tmp_path / "nowhere")
