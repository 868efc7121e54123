"""train/reward_model.py: label files, a tiny regressor fitting a known linear target."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.errors import DataError, InputError
from tests.train_fixtures import save_tiny_llama, tiny_triplets
from train.common import read_metrics
from train.reward_model import (
    RewardModelConfig,
    load_reward_model,
    main,
    predict,
    read_labels,
    train_reward_model,
)


def _linear_labels(path):
    """aesthetic = 4 + 2*[golden] - 1*[photo]: a linear function of two prompt features."""
    rows = []
    for triplet in tiny_triplets(64):
        prompt = triplet.raw_prompt
        aesthetic = 4.0 + 2.0 * ("golden" in prompt) - 1.0 * ("photo" in prompt)
        rows.append({"prompt": prompt, "aesthetic": aesthetic, "pickscore": 20.0})
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path, np.array([row["aesthetic"] for row in rows]), [row["prompt"] for row in rows]


def test_table3_defaults_are_the_config_defaults():
    config = RewardModelConfig()
    assert (config.num_train_epochs, config.batch_size, config.max_length) == (1, 64, 384)
    assert (config.learning_rate, config.weight_decay) == (5e-6, 1e-3)


def test_an_unknown_target_is_refused():
    with pytest.raises(InputError, match="aesthetic or pickscore|aesthetic, pickscore"):
        RewardModelConfig(target="hps")


def test_reward_model_fits_a_known_linear_target(tmp_path):
    model_folder = save_tiny_llama(tmp_path / "model")
    labels, targets, prompts = _linear_labels(tmp_path / "labels.jsonl")
    config = RewardModelConfig(
        model_name_or_path=str(model_folder),
        labels_file=str(labels),
        output_dir=str(tmp_path / "rm"),
        batch_size=16,
        per_device_batch_size=16,
        max_steps=40,
        learning_rate=3e-3,
        weight_decay=0.0,
        save_steps=20,
        tensorboard=False,
    )
    final = train_reward_model(config)

    model, tokenizer, head = load_reward_model(final)
    predicted = np.array(predict(model, tokenizer, prompts, head))
    assert head["target"] == "aesthetic"
    assert np.corrcoef(predicted, targets)[0, 1] > 0.9
    assert np.abs(predicted - targets).mean() < 0.3 * targets.std()
    losses = [row["loss/mse"] for row in read_metrics(tmp_path / "rm")]
    assert len(losses) == 40 and losses[-1] < losses[0]
    assert (tmp_path / "rm" / "checkpoint-40" / "diffchat_stage.json").is_file()


def test_prompts_file_is_labelled_by_rendering_and_scoring_then_trained_on(tmp_path):
    # The Train tab's RM route: triplets -> tiny-sd images -> tiny scorers -> labels -> RM.
    from tests.train_fixtures import write_triplets_jsonl

    model_folder = save_tiny_llama(tmp_path / "model")
    triplets = write_triplets_jsonl(tmp_path / "t.jsonl", tiny_triplets(6))
    output = tmp_path / "rm"
    argv = ["--model_name_or_path", str(model_folder), "--prompts_file", str(triplets)]
    argv += ["--output_dir", str(output), "--num_inference_steps", "2", "--max_steps", "2"]
    argv += ["--batch_size", "2", "--per_device_batch_size", "2", "--tensorboard", "False"]
    assert main(argv) == 0

    prompts, values = read_labels(output / "labels.jsonl", "aesthetic")
    assert sorted(prompts) == sorted({t.raw_prompt for t in tiny_triplets(6)})
    assert len(set(values)) > 1  # scored images, not a constant
    assert [row["step"] for row in read_metrics(output)] == [1, 2]
    assert (output / "final").is_dir()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '{"prompt": "a cat", "aesthetic": 5}\n{"prompt": "", "aesthetic": 4}\n',
            r"labels.jsonl:2: column 'prompt' is empty",
        ),
        (
            '{"prompt": "a cat", "aesthetic": "high"}\n',
            r"labels.jsonl:1: column 'aesthetic' must be a number, not 'high'",
        ),
        (
            '{"prompt": ["a cat"], "aesthetic": 5}\n',
            r"column 'prompt' must be a string, not a list",
        ),
        ('{"prompt": "a cat"}\n', r"labels.jsonl:1: column 'aesthetic' is missing"),
        (b'{"prompt": "a \xff cat", "aesthetic": 5}\n', r"labels.jsonl:1: not valid UTF-8"),
        ('{"prompt": "a cat", "aesthetic": NaN}\n', r"labels.jsonl:1: 'aesthetic' is not finite"),
        ("{broken\n", r"labels.jsonl:1: not valid JSON"),
        ("\n", "the labels file is empty"),
    ],
)
def test_malformed_labels_name_the_file_and_line(tmp_path, text, message):
    path = tmp_path / "labels.jsonl"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(DataError, match=message):
        read_labels(path, "aesthetic")


def test_csv_labels_are_read(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("prompt,aesthetic,pickscore\na cat,5.5,20.1\na dog,4.0,19.0\n")
    assert read_labels(path, "pickscore") == (["a cat", "a dog"], [20.1, 19.0])


@pytest.mark.parametrize(
    "rows, micro, world, accumulation, plan",
    [
        (64, 4, 1, 4, (4, 16, 4)),  # divides evenly
        (40, 4, 1, 4, (4, 8, 2)),  # 10 micro-batches: the last 2 are left out, not carried
        (24, 4, 2, 2, (2, 2, 1)),  # 3 global micro-batches, 2 per step
        (8, 4, 1, 16, (2, 2, 1)),  # smaller than one step: a step is the whole epoch
    ],
)
def test_an_optimizer_step_never_spans_two_epochs(rows, micro, world, accumulation, plan):
    from train.reward_model import epoch_plan

    assert epoch_plan(rows, micro, world, accumulation) == plan
    accumulation, micro_per_epoch, steps = plan
    assert micro_per_epoch == steps * accumulation
