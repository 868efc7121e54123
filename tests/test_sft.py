"""train/sft.py on a tiny random Llama: label masking, loss falls, exact resume, bad input."""

from __future__ import annotations

import json
import shutil

import pytest

from core.errors import DataError, InputError
from tests.train_fixtures import save_tiny_llama, tiny_triplets, write_triplets_jsonl
from train.common import TrainingError, read_metrics, write_stage_tag
from train.sft import SFTStageConfig, build_sft_rows, paper_prompt, parse_config, train_sft


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return save_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture
def train_file(tmp_path):
    return write_triplets_jsonl(tmp_path / "train.jsonl", tiny_triplets(16))


def _config(tiny_model, train_file, output_dir, **changes) -> SFTStageConfig:
    values = dict(
        model_name_or_path=str(tiny_model),
        train_file=str(train_file),
        output_dir=str(output_dir),
        batch_size=4,
        per_device_batch_size=4,
        learning_rate=5e-3,
        max_steps=4,
        save_steps=100,
        tensorboard=False,
    )
    values.update(changes)
    return SFTStageConfig(**values)


def _losses(output_dir) -> dict[int, float]:
    return {
        row["step"]: row["train/loss"] for row in read_metrics(output_dir) if "train/loss" in row
    }


def test_table3_defaults_are_the_config_defaults():
    config = SFTStageConfig()
    assert (config.num_train_epochs, config.batch_size, config.max_length) == (3, 64, 384)
    assert (config.learning_rate, config.weight_decay) == (2e-5, 0.0)


def test_gradient_accumulation_reaches_the_effective_batch():
    config = SFTStageConfig(batch_size=64, per_device_batch_size=8)
    assert config.gradient_accumulation_steps(world_size=1) == 8
    assert config.gradient_accumulation_steps(world_size=2) == 4


def test_options_parse_from_the_command_line():
    config = parse_config(["--use_lora", "True", "--learning_rate", "1e-4", "--batch_size", "16"])
    assert config.use_lora and config.learning_rate == 1e-4 and config.batch_size == 16


def test_rows_put_the_paper_template_in_the_prompt_and_the_target_in_the_completion():
    triplet = tiny_triplets(1)[0]
    (row,) = build_sft_rows([triplet], eos_token="<eos>")
    assert row["prompt"].startswith("Instruction: Give a description of the image")
    assert row["prompt"].endswith(
        f"Input: {triplet.raw_prompt}\nModification: {triplet.instruction}\nOutput:"
    )
    assert row["completion"] == " " + triplet.target_prompt + "<eos>"


def test_an_empty_training_set_is_refused():
    with pytest.raises(DataError, match="empty"):
        build_sft_rows([], eos_token="<eos>")


def test_labels_cover_the_output_tokens_only(tiny_model, train_file, tmp_path):
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTTrainer

    from train.sft import trl_config

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    triplet = tiny_triplets(1)[0]
    dataset = Dataset.from_list(build_sft_rows([triplet], tokenizer.eos_token))
    trainer = SFTTrainer(
        model=AutoModelForCausalLM.from_pretrained(tiny_model),
        args=trl_config(_config(tiny_model, train_file, tmp_path)),
        train_dataset=dataset,
        processing_class=tokenizer,
    )
    batch = trainer.data_collator([trainer.train_dataset[0]])
    input_ids, labels = batch["input_ids"][0], batch["labels"][0]
    prompt_length = len(
        tokenizer(paper_prompt(triplet.raw_prompt, triplet.instruction))["input_ids"]
    )

    assert (labels[:prompt_length] == -100).all()
    supervised = labels[prompt_length:]
    assert (supervised == input_ids[prompt_length:]).all()
    assert tokenizer.decode(supervised) == " " + triplet.target_prompt + tokenizer.eos_token


@pytest.fixture(scope="module")
def uninterrupted_run(tiny_model, tmp_path_factory):
    """An 8-step full fine-tuning run that checkpoints at step 4."""
    folder = tmp_path_factory.mktemp("sft-run")
    train_file = write_triplets_jsonl(folder / "train.jsonl", tiny_triplets(16))
    train_sft(
        _config(
            tiny_model, train_file, folder / "out", max_steps=8, save_steps=4, learning_rate=1e-2
        )
    )
    return folder


def test_loss_falls_on_a_tiny_set(uninterrupted_run):
    losses = _losses(uninterrupted_run / "out")
    assert losses[8] < 0.8 * losses[1]


def test_resume_gives_the_same_next_loss_as_an_uninterrupted_run(
    tiny_model, uninterrupted_run, tmp_path
):
    checkpoint = uninterrupted_run / "out" / "checkpoint-4"
    assert json.loads((checkpoint / "diffchat_stage.json").read_text())["stage"] == "sft"
    shutil.copytree(checkpoint, tmp_path / "resumed" / "checkpoint-4")
    # a save cut short by a full disk: no stage tag, so "latest" must not pick it
    (tmp_path / "resumed" / "checkpoint-6").mkdir()
    (tmp_path / "resumed" / "checkpoint-6" / "model.safetensors").write_bytes(b"trunc")

    train_file = uninterrupted_run / "train.jsonl"
    resumed = _config(tiny_model, train_file, tmp_path / "resumed", max_steps=8, save_steps=4)
    resumed.learning_rate, resumed.resume_from_checkpoint = 1e-2, "latest"
    train_sft(resumed)

    uninterrupted, continued = _losses(uninterrupted_run / "out"), _losses(tmp_path / "resumed")
    assert sorted(continued) == [5, 6, 7, 8]
    for step in (5, 6, 7, 8):
        assert continued[step] == pytest.approx(uninterrupted[step], rel=1e-5)


def test_lora_run_saves_an_adapter_with_config_and_stage_tag(tiny_model, train_file, tmp_path):
    final = train_sft(
        _config(tiny_model, train_file, tmp_path / "lora", use_lora=True, max_steps=2)
    )
    assert (final / "adapter_config.json").is_file()
    assert (final / "adapter_model.safetensors").is_file()
    tag = json.loads((final / "diffchat_stage.json").read_text())
    assert tag["stage"] == "sft" and tag["config"]["use_lora"] is True


def test_a_checkpoint_of_another_stage_is_refused(tiny_model, train_file, tmp_path):
    foreign = tmp_path / "rm-checkpoint"
    write_stage_tag(foreign, "rm", step=3)
    with pytest.raises(TrainingError, match="'rm' stage, not 'sft'"):
        train_sft(
            _config(tiny_model, train_file, tmp_path / "out", resume_from_checkpoint=str(foreign))
        )


def test_a_model_that_is_not_a_causal_lm_is_refused(train_file, tmp_path):
    from transformers import T5Config

    T5Config(d_model=32, num_layers=1, num_heads=2, d_ff=64).save_pretrained(tmp_path / "t5")
    with pytest.raises(InputError, match="not a causal language model"):
        train_sft(_config(tmp_path / "t5", train_file, tmp_path / "out"))


def test_a_malformed_training_file_names_the_line(tiny_model, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"raw_prompt": "a cat", "instruction": "make it red", "target_prompt": "a red cat"}\n{oops\n'
    )
    with pytest.raises(DataError, match=r"bad.jsonl:2"):
        train_sft(_config(tiny_model, bad, tmp_path / "out"))


def test_bf16_is_refused_where_the_device_has_no_native_bf16(monkeypatch, tmp_path):
    import train.sft as sft
    from core.errors import InputError

    monkeypatch.setattr(sft, "bf16_unsupported_reason", lambda device: "this CPU has no BF16")
    config = sft.SFTStageConfig(output_dir=str(tmp_path / "run"), bf16=True)
    with pytest.raises(InputError, match="needs native bf16, but this CPU has no BF16"):
        sft.train_sft(config)
    assert not (tmp_path / "run").exists()  # refused before anything was written
