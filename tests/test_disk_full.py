"""A full disk during training says so (issue 11, item 8): torch's raw "inline_container.cc
... unexpected pos" becomes a message naming the checkpoint that stays the latest, and
resuming from "latest" falls back past a damaged newest checkpoint."""

from __future__ import annotations

import json

import pytest
import torch

from train.common import (
    TrainingError,
    checkpoint_problem,
    checkpoint_to_resume,
    is_disk_full,
    latest_checkpoint,
    save_checkpoint,
    write_stage_tag,
)

# What torch.save raised when the disk filled up during an SFT checkpoint.
TORCH_FULL_DISK = RuntimeError(
    "[enforce fail at inline_container.cc:858] . PytorchStreamWriter failed writing file "
    "data/3: file write failed\n[enforce fail at inline_container.cc:664] . unexpected pos "
    "1856 vs 1744"
)


def test_disk_full_is_recognised_in_its_shapes():
    import errno

    assert is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert is_disk_full(TORCH_FULL_DISK)
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied"))
    assert not is_disk_full(RuntimeError("CUDA out of memory"))


def test_torch_full_disk_while_saving_names_the_checkpoint_that_stays(tmp_path, monkeypatch):
    model = torch.nn.Linear(2, 2)
    save_checkpoint(tmp_path, 1, stage="ppo", modules={"policy": model})

    def full_disk(*args, **kwargs):
        raise TORCH_FULL_DISK

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(TrainingError, match="the disk is full.*still names checkpoint-1"):
        save_checkpoint(tmp_path, 2, stage="ppo", modules={"policy": model})
    assert latest_checkpoint(tmp_path).name == "checkpoint-1"
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["checkpoint-1"]


def test_other_runtime_errors_while_saving_pass_unchanged(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("something else")

    monkeypatch.setattr(torch, "save", broken)
    with pytest.raises(RuntimeError, match="something else"):
        save_checkpoint(tmp_path, 1, stage="ppo", modules={"policy": torch.nn.Linear(2, 2)})
    assert not any(p.is_dir() for p in tmp_path.iterdir())  # the temporary folder is gone


def test_resume_latest_falls_back_past_a_damaged_newest_checkpoint(tmp_path, capsys):
    model = torch.nn.Linear(2, 2)
    for step in (1, 2, 3):
        save_checkpoint(tmp_path, step, stage="rm", modules={"model": model})
    weights = tmp_path / "checkpoint-3" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8])  # cut short after the save
    (tmp_path / "checkpoint-2" / "diffchat_stage.json").write_text('{"stage": "rm", "st')

    assert "model.safetensors is damaged" in checkpoint_problem(tmp_path / "checkpoint-3")
    assert checkpoint_to_resume("latest", tmp_path).name == "checkpoint-1"
    printed = capsys.readouterr().out
    assert "checkpoint-3 is damaged" in printed and "checkpoint-2 is damaged" in printed
    assert "falling back to checkpoint-1" in printed


def test_resume_latest_refuses_when_every_checkpoint_is_damaged(tmp_path, capsys):
    save_checkpoint(tmp_path, 1, stage="rm", modules={"model": torch.nn.Linear(2, 2)})
    (tmp_path / "checkpoint-1" / "rng.pt").write_bytes(b"PK\x03\x04 cut")
    with pytest.raises(TrainingError, match="no checkpoint to resume from"):
        checkpoint_to_resume("latest", tmp_path)
    assert "rng.pt is damaged" in capsys.readouterr().out


def _sft_checkpoint(output_dir, step, damaged=False):
    from safetensors.torch import save_file

    folder = output_dir / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    save_file({"weight": torch.zeros(4, 4)}, str(folder / "model.safetensors"))
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    write_stage_tag(folder, "sft", step=step)
    if damaged:
        (folder / "trainer_state.json").write_text('{"global_step": ')
    return folder


def test_sft_resume_latest_falls_back_with_a_message(tmp_path, capsys):
    from train.sft import SFTStageConfig, resolve_resume

    _sft_checkpoint(tmp_path, 2)
    _sft_checkpoint(tmp_path, 4, damaged=True)
    config = SFTStageConfig(output_dir=str(tmp_path), resume_from_checkpoint="latest")
    assert resolve_resume(config) == str(tmp_path / "checkpoint-2")
    printed = capsys.readouterr().out
    assert "checkpoint-4 is damaged (trainer_state.json" in printed
    assert "falling back to checkpoint-2" in printed


def test_sft_on_a_full_disk_says_so_instead_of_a_traceback(tmp_path, monkeypatch):
    from transformers import Trainer

    from tests.train_fixtures import save_tiny_llama, tiny_triplets, write_triplets_jsonl
    from train.sft import SFTStageConfig, train_sft

    output_dir = tmp_path / "out"
    config = SFTStageConfig(
        model_name_or_path=str(save_tiny_llama(tmp_path / "tiny-llama")),
        train_file=str(write_triplets_jsonl(tmp_path / "train.jsonl", tiny_triplets(8))),
        output_dir=str(output_dir),
        batch_size=4,
        per_device_batch_size=4,
        max_steps=4,
        save_steps=2,
        tensorboard=False,
    )
    original = Trainer._save_checkpoint
    saves = []

    def save_until_the_disk_fills(self, *args, **kwargs):
        saves.append(self.state.global_step)
        if len(saves) == 1:
            return original(self, *args, **kwargs)
        folder = output_dir / f"checkpoint-{self.state.global_step}"
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(b"half a file")
        raise TORCH_FULL_DISK

    monkeypatch.setattr(Trainer, "_save_checkpoint", save_until_the_disk_fills)
    # A TrainingError is a DiffChatError: `python -m train` prints it as one line, no trace.
    with pytest.raises(TrainingError) as refused:
        train_sft(config)
    message = str(refused.value)
    assert message.startswith("the disk is full") and "unexpected pos" not in message
    assert "checkpoint-2 stays the latest complete checkpoint" in message
    assert saves == [2, 4]


def _no_space(name: str) -> OSError:
    import errno

    return OSError(errno.ENOSPC, "No space left on device", name)


def test_rm_on_a_full_disk_outside_a_checkpoint_says_so(tmp_path, monkeypatch):
    from tests.train_fixtures import save_tiny_llama, tiny_triplets
    from train.common import RunLogger
    from train.reward_model import RewardModelConfig, train_reward_model

    labels = tmp_path / "labels.jsonl"
    rows = [{"prompt": t.raw_prompt, "aesthetic": 5.0, "pickscore": 20.0} for t in tiny_triplets(8)]
    labels.write_text("".join(json.dumps(row) + "\n" for row in rows))
    output_dir = tmp_path / "rm"
    config = RewardModelConfig(
        model_name_or_path=str(save_tiny_llama(tmp_path / "tiny-llama")),
        labels_file=str(labels),
        output_dir=str(output_dir),
        batch_size=4,
        per_device_batch_size=4,
        max_steps=3,
        save_steps=1,
        logging_steps=1,
        tensorboard=False,
    )
    original = RunLogger.log

    def log_until_the_disk_fills(self, step, metrics):
        if step == 2:  # checkpoint-1 is saved; the metrics line of step 2 does not fit
            raise _no_space(str(output_dir / "metrics.jsonl"))
        return original(self, step, metrics)

    monkeypatch.setattr(RunLogger, "log", log_until_the_disk_fills)
    with pytest.raises(TrainingError) as refused:
        train_reward_model(config)
    message = str(refused.value)
    assert message.startswith("the disk is full") and "No space left" in message
    assert "checkpoint-1 stays the latest complete checkpoint" in message


def test_ppo_on_a_full_disk_outside_a_checkpoint_says_so(tmp_path, monkeypatch):
    from tests.train_fixtures import save_tiny_llama, tiny_triplets, write_triplets_jsonl
    from train import value_head
    from train.ppo import PPOStageConfig, train_ppo

    output_dir = tmp_path / "ppo"
    config = PPOStageConfig(
        model_name_or_path=str(save_tiny_llama(tmp_path / "tiny-llama")),
        train_file=str(write_triplets_jsonl(tmp_path / "train.jsonl", tiny_triplets(16))),
        output_dir=str(output_dir),
        batch_size=8,
        mini_batch_size=4,
        micro_batch_size=4,
        ppo_epochs=1,
        max_new_tokens=8,
        max_length=128,
        max_steps=2,
        save_steps=1,
        tensorboard=False,
    )

    def full_disk(policy, folder, tokenizer):
        raise _no_space(str(folder / "model.safetensors"))

    monkeypatch.setattr(value_head, "save_policy", full_disk)  # the final policy does not fit
    with pytest.raises(TrainingError) as refused:
        train_ppo(config)
    message = str(refused.value)
    assert message.startswith("the disk is full") and "No space left" in message
    assert "checkpoint-2 stays the latest complete checkpoint" in message
