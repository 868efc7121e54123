"""PPO end to end on a tiny random Llama (train/ppo.py): runs, learns, resumes exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.train_fixtures import (
    save_tiny_llama,
    tiny_llama_config,
    tiny_triplets,
    write_triplets_jsonl,
)
from train.common import read_metrics


@pytest.fixture(scope="module")
def tiny_setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ppo")
    save_tiny_llama(folder / "model")
    write_triplets_jsonl(folder / "train.jsonl", tiny_triplets(32))
    return folder


def tiny_config(folder: Path, output: str, **overrides):
    from train.ppo import PPOStageConfig

    options = dict(
        model_name_or_path=str(folder / "model"),
        train_file=str(folder / "train.jsonl"),
        output_dir=str(folder / output),
        batch_size=8,
        mini_batch_size=4,
        micro_batch_size=4,
        ppo_epochs=2,
        max_new_tokens=12,
        max_length=128,
        max_steps=3,
        save_steps=2,
        negative_rate=0.25,  # more ADM- rollouts than the paper's 4%, so the path runs
        learning_rate=1e-3,
        tensorboard=False,
    )
    options.update(overrides)
    return PPOStageConfig(**options)


def loss_at(output_dir: Path, step: int) -> float:
    return next(row["loss/total"] for row in read_metrics(output_dir) if row["step"] == step)


def test_a_few_ppo_steps_run_without_nan_and_change_the_weights(tiny_setup):
    from safetensors.torch import load_file

    from train.ppo import train_ppo

    final = train_ppo(tiny_config(tiny_setup, "run"))
    rows = read_metrics(tiny_setup / "run")
    assert [row["step"] for row in rows] == [1, 2, 3]
    for row in rows:
        for key in ("loss/total", "loss/policy", "loss/value", "objective/kl", "val/mean"):
            assert torch.isfinite(torch.tensor(row[key])), key
    assert {
        "objective/scores",
        "policy/clipfrac",
        "val/vci_mean",
        "val/vci_advantage_shift",
        "reward/ci",
        "reward/edit",
        "reward/total",
        "objective/ci_on_captions",
    } <= set(rows[0])
    before = load_file(str(tiny_setup / "model" / "model.safetensors"))
    after = load_file(str(final / "model.safetensors"))
    layer = "model.layers.1.mlp.down_proj.weight"
    assert not torch.equal(before[layer], after[layer])
    # Frozen parts stay as they were (only the last blocks and the value head train).
    assert torch.equal(before["model.embed_tokens.weight"], after["model.embed_tokens.weight"])
    assert (final / "value_head.safetensors").is_file()
    assert json.loads((final / "diffchat_stage.json").read_text())["stage"] == "ppo"


def test_resume_gives_the_same_next_loss(tiny_setup):
    from train.ppo import train_ppo

    # The first run saved checkpoint-2 on its way to step 3; resuming from it must redo step 3.
    train_ppo(
        tiny_config(
            tiny_setup, "resumed", resume_from_checkpoint=str(tiny_setup / "run" / "checkpoint-2")
        )
    )
    assert loss_at(tiny_setup / "resumed", 3) == pytest.approx(
        loss_at(tiny_setup / "run", 3), abs=1e-6
    )


def test_only_last_layers_are_trainable(tiny_setup):
    from train.ppo import load_policy

    policy, reference, _ = load_policy(tiny_config(tiny_setup, "unused", num_unfrozen_layers=1))
    trainable = {name for name, p in policy.named_parameters() if p.requires_grad}
    assert trainable and all(
        name.startswith(("language_model.model.layers.1.", "value_head.")) for name in trainable
    )
    assert not any(p.requires_grad for p in reference.parameters())


def test_refuses_a_checkpoint_of_another_stage(tiny_setup, tmp_path):
    from train.common import TrainingError, write_stage_tag
    from train.ppo import train_ppo

    write_stage_tag(tmp_path / "checkpoint-5", "sft")
    with pytest.raises(TrainingError, match="'sft' stage"):
        train_ppo(
            tiny_config(tiny_setup, "other", resume_from_checkpoint=str(tmp_path / "checkpoint-5"))
        )


def test_refuses_fewer_triplets_than_one_batch(tiny_setup):
    from core.errors import DataError
    from train.ppo import train_ppo

    with pytest.raises(DataError, match="fewer than one PPO batch"):
        train_ppo(tiny_config(tiny_setup, "small", batch_size=64, mini_batch_size=8))


def test_responses_stop_at_any_special_token_or_the_first_newline():
    from train.ppo import response_lengths

    ids = [[5, 6, 2, 2], [7, 8, 9, 3], [5, 6, 7, 8], [2, 5, 6, 7], [5, 6, 7, 8]]
    texts = [
        ["a", " cat", "", ""],
        ["a", " b", " c", ""],
        ["a", " cat", ".\n", "x"],
        ["", "a", "b", "c"],
        ["a", "b", "c", "d"],
    ]
    # 2 is EOS and 3 another special token; row 2 ends with the token holding the newline.
    assert response_lengths(ids, texts, stop_ids=[2, 3]) == [3, 4, 3, 1, 4]


def sentencepiece_tokenizer():
    """A Llama-style SentencePiece BPE tokenizer ("▁" word starts) trained here in a second."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    sentences = [
        "a zebra standing in a field",
        "a horse in a field at night",
        "turn the horse into a zebra",
        "a red car on a road",
        "a cat\nmore text",
    ] * 4
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(
        vocab_size=150, initial_alphabet=["\n"], special_tokens=["<unk>", "</s>", "<pad>"]
    )
    tokenizer.train_from_iterator(sentences, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, eos_token="</s>", pad_token="<pad>", unk_token="<unk>"
    )


def test_prefix_ci_with_a_sentencepiece_tokenizer_is_not_zero():
    from types import SimpleNamespace

    from core.content_integrity import content_integrity
    from train.ppo import Rollouts, finish_responses, prefix_content_integrity

    tokenizer = sentencepiece_tokenizer()
    triplet = SimpleNamespace(
        raw_prompt="a horse in a field",
        instruction="turn the horse into a zebra",
        target_prompt="a zebra in a field",
    )
    ids = tokenizer(" a zebra standing in a field\nmore text", add_special_tokens=False).input_ids
    # Each token decoded alone loses its space: the words run together.
    assert "".join(tokenizer.decode([i]) for i in ids).startswith("azebrastanding")
    responses = [ids + [tokenizer.eos_token_id], ids[:3] + [tokenizer.eos_token_id]]
    stop_ids = tokenizer.all_special_ids
    response_ids, mask, texts, token_texts = finish_responses(tokenizer, responses, stop_ids)
    assert texts[0] == "a zebra standing in a field"  # the first line only
    assert "".join(token_texts[0]).strip() == texts[0]
    assert mask[0].sum() < len(ids)  # nothing after the newline is a real token
    rollouts = Rollouts(
        [triplet, triplet], None, None, response_ids, mask, [False, False], texts, token_texts
    )
    ci = prefix_content_integrity(rollouts, threshold=0.7)
    real = int(mask[0].sum())
    assert ci[0, real - 1] == content_integrity(*vars(triplet).values(), texts[0]).score == 1.0
    assert ci[0, 0] == 0.0 and ci[0].max() == 1.0
    assert (
        ci[1, int(mask[1].sum()) - 1] == content_integrity(*vars(triplet).values(), texts[1]).score
    )


@pytest.mark.slow
def test_two_process_accelerate_run(tiny_setup, tmp_path):
    import subprocess
    import sys

    config = tiny_config(tiny_setup, "two", max_steps=2)
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--num_processes",
        "2",
        "--cpu",
        "-m",
        "train",
        "ppo",
    ]
    for key in (
        "model_name_or_path",
        "train_file",
        "output_dir",
        "batch_size",
        "mini_batch_size",
        "micro_batch_size",
        "ppo_epochs",
        "max_new_tokens",
        "max_length",
        "max_steps",
    ):
        command += [f"--{key}", str(getattr(config, key))]
    result = subprocess.run(
        command + ["--tensorboard", "false"], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert [row["step"] for row in read_metrics(config.output_dir)] == [1, 2]


def test_ppo_on_a_lora_adapter_trains_only_its_last_layer_lora_weights(tiny_setup):
    from peft import LoraConfig, get_peft_model
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from train.ppo import load_policy, train_ppo

    adapter = tiny_setup / "sft-adapter"
    base = AutoModelForCausalLM.from_pretrained(str(tiny_setup / "model"))
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    get_peft_model(base, lora).save_pretrained(str(adapter))

    config = tiny_config(
        tiny_setup, "lora", adapter_path=str(adapter), num_unfrozen_layers=1, max_steps=1
    )
    policy, _, _ = load_policy(config)
    trainable = [name for name, p in policy.named_parameters() if p.requires_grad]
    assert trainable and all(
        "value_head" in n or ("layers.1." in n and "lora_" in n) for n in trainable
    )

    final = train_ppo(config)
    before, after = (
        load_file(str(adapter / "adapter_model.safetensors")),
        load_file(str(final / "adapter_model.safetensors")),
    )
    assert before.keys() == after.keys()
    changed = {key for key in before if not torch.equal(before[key], after[key])}
    assert changed and all("layers.1." in key for key in changed)


def test_reward_models_enter_the_score_when_given(tiny_setup):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from train.common import write_stage_tag
    from train.ppo import train_ppo

    # A reward-model folder as `python -m train rm` writes it (random head, tiny backbone).
    folder = tiny_setup / "rm-aesthetic"
    model = AutoModelForSequenceClassification.from_pretrained(
        str(tiny_setup / "model"), num_labels=1
    )
    model.save_pretrained(str(folder))
    AutoTokenizer.from_pretrained(str(tiny_setup / "model")).save_pretrained(str(folder))
    (folder / "reward_head.json").write_text(
        json.dumps({"target": "aesthetic", "mean": 6.0, "std": 0.5})
    )
    write_stage_tag(folder, "rm")

    train_ppo(
        tiny_config(
            tiny_setup, "with-rm", aesthetic_rm_path=str(folder), edit_weight=0.5, max_steps=1
        )
    )
    (row,) = read_metrics(tiny_setup / "with-rm")
    assert row["reward/aesthetic"] != 0.0
    assert row["objective/scores"] == pytest.approx(
        row["reward/ci"] + 0.5 * row["reward/edit"] + row["reward/aesthetic"], abs=1e-5
    )
    assert row["reward/total"] == pytest.approx(row["objective/scores"], abs=1e-6)


def test_help_lists_every_option(capsys):
    from train.ppo import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "--use_adm_negative" in capsys.readouterr().out


def test_ci_references_are_the_captions_when_the_row_has_them():
    from types import SimpleNamespace

    from train.ppo import ci_references

    v2 = SimpleNamespace(
        raw_caption="a dog on a porch",
        instruction="make the dog a fox",
        target_caption="a fox on a porch",
        raw_prompt="a dog on a porch, golden hour, 35mm photo",
        target_prompt="a fox on a porch, golden hour, 35mm photo",
    )
    assert ci_references(v2) == ("a dog on a porch", v2.instruction, "a fox on a porch", True)
    for missing in (
        SimpleNamespace(**{**vars(v2), "target_caption": ""}),
        SimpleNamespace(**{k: v for k, v in vars(v2).items() if "caption" not in k}),
    ):
        assert ci_references(missing) == (v2.raw_prompt, v2.instruction, v2.target_prompt, False)


@pytest.mark.parametrize("bf16", [False, True])
def test_ten_adamw_steps_at_5e_6_change_nearly_every_trainable_weight(tiny_setup, bf16):
    # Pure bf16 weights rounded most such updates away (337 of 4,096 changed): --bf16 must be
    # autocast over fp32 master weights.
    import random

    from accelerate import Accelerator

    from train.ppo import build_optimizer, load_policy, make_batch, ppo_update, rollout

    config = tiny_config(
        tiny_setup,
        "bf16",
        bf16=bf16,
        learning_rate=5e-6,
        ppo_epochs=1,
        mini_batch_size=8,
        micro_batch_size=8,
        use_vci=False,
    )
    policy, reference, tokenizer = load_policy(config)
    trainable = {n: p for n, p in policy.named_parameters() if p.requires_grad}
    assert all(p.dtype == torch.float32 for p in trainable.values())
    torch.manual_seed(0)
    rollouts = rollout(policy, tokenizer, tiny_triplets(8), config, None, random.Random(0))
    scores = torch.linspace(-1.0, 1.0, 8)
    batch, _ = make_batch(policy, reference, rollouts, scores, None, 0.05, config, "cpu")
    optimizer, scheduler = build_optimizer(policy, config, total_updates=10_000)
    before = {n: p.detach().clone() for n, p in trainable.items()}
    for step in range(10):
        generator = torch.Generator().manual_seed(step)
        ppo_update(
            policy, optimizer, scheduler, Accelerator(cpu=True), batch, config, generator, step
        )
    changed = sum(int((before[n] != p).sum()) for n, p in trainable.items())
    total = sum(p.numel() for p in trainable.values())
    assert changed / total > 0.99, f"{changed} of {total} weights changed"


def test_bf16_is_refused_where_the_device_has_no_native_bf16(tiny_setup, monkeypatch):
    from core.errors import InputError
    from train import ppo

    monkeypatch.setattr(ppo, "bf16_unsupported_reason", lambda device: "this CPU has no BF16")
    config = tiny_config(tiny_setup, "refused-bf16", bf16=True)
    with pytest.raises(InputError, match="--bf16 True needs native bf16, but this CPU has no BF16"):
        ppo.train_ppo(config)
    assert not Path(config.output_dir).exists()


def test_the_offline_reward_is_weighted_ci_plus_the_edit_check():
    from types import SimpleNamespace

    from core.content_integrity import content_integrity
    from core.instructions import check_edit
    from train.ppo import PPOStageConfig, reward_terms, score_rollouts

    row = SimpleNamespace(
        raw_prompt="a dog asleep on a porch, golden hour, 35mm photo",
        instruction="make the dog a fox",
        target_prompt="a fox asleep on a porch, golden hour, 35mm photo",
    )
    texts = [row.target_prompt, row.raw_prompt, "a fox, golden hour"]
    rollouts = SimpleNamespace(triplets=[row] * 3, response_texts=texts)
    terms, left_out = reward_terms(PPOStageConfig(ci_weight=0.5, edit_weight=2.0))
    assert [t.name for t in terms] == ["ci", "edit"] and left_out == []
    scores, parts = score_rollouts(rollouts, terms)
    for index, text in enumerate(texts):
        ci = content_integrity(row.raw_prompt, row.instruction, row.target_prompt, text).score
        edit = check_edit(row.raw_prompt, row.instruction, text).score
        assert (parts["ci"][index], parts["edit"][index]) == pytest.approx((ci, edit))
        assert scores[index] == pytest.approx(0.5 * ci + 2.0 * edit)
    assert scores[0] > scores[2] and scores[0] > scores[1]  # the edit done beats undone / lost


@pytest.mark.parametrize(
    "weights, message",
    [
        ({"edit_weight": -1.0}, "reward weights must be >= 0: --edit_weight -1.0"),
        (
            {
                "ci_weight": 0.0,
                "edit_weight": 0.0,
                "aesthetic_weight": 0.0,
                "preference_weight": 0.0,
            },
            "every reward weight is 0",
        ),
    ],
)
def test_bad_reward_weights_are_refused(weights, message):
    from core.errors import InputError
    from train.ppo import PPOStageConfig

    with pytest.raises(InputError, match=message):
        PPOStageConfig(**weights)


def test_an_absent_reward_model_is_named_and_the_rest_runs(tmp_path):
    from core.errors import InputError
    from train.ppo import PPOStageConfig, reward_terms

    (tmp_path / "empty-rm").mkdir()
    config = PPOStageConfig(
        aesthetic_rm_path=str(tmp_path / "no-such-rm"),
        preference_rm_path=str(tmp_path / "empty-rm"),
    )
    terms, left_out = reward_terms(config)
    assert [t.name for t in terms] == ["ci", "edit"]
    assert (
        left_out[0].startswith("aesthetic: the reward model folder")
        and "does not exist" in left_out[0]
    )
    assert left_out[1].startswith("preference:") and "reward_head.json" in left_out[1]
    alone = PPOStageConfig(
        ci_weight=0.0, edit_weight=0.0, aesthetic_rm_path=str(tmp_path / "no-such-rm")
    )
    with pytest.raises(InputError, match="no reward term is left to run .aesthetic: the reward"):
        reward_terms(alone)


def save_word_level_llama(folder: Path) -> Path:
    """A 2-layer random Llama over a 30-word word-level vocabulary (each word one token).

    The embeddings (also the output layer, tied) are drawn at std 0.2: PPO never trains them
    (only the last blocks, Table 3), and at the usual 0.02 the frozen output layer cannot move
    any logit by more than about 0.6.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

    words = (
        "a the on in of with castle red blue green cat dog tree house boat car photo painting "
        "sketch detailed golden old small big make turn sunny night river hill"
    ).split()
    vocabulary = {word: index for index, word in enumerate(["<eos>", "<pad>", "<unk>", *words])}
    backend = Tokenizer(models.WordLevel(vocabulary, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, eos_token="<eos>", pad_token="<pad>", unk_token="<unk>"
    )
    config = tiny_llama_config(tokenizer, initializer_range=0.2)
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_ppo_raises_an_easy_reward_within_a_few_dozen_steps(tmp_path, monkeypatch):
    # Unit-scale check of the whole loop: reward 1 when the response holds the word "castle"
    # (no CI in this reward, so VCI is off; ADM- would feed in target prompts with "castle").
    from train import ppo

    model = save_word_level_llama(tmp_path / "model")
    write_triplets_jsonl(tmp_path / "train.jsonl", tiny_triplets(32))

    def castle_reward(config, device="cpu"):
        def score(rollouts):
            return torch.tensor([float("castle" in t.split()) for t in rollouts.response_texts])

        return [ppo.RewardTerm("castle", 1.0, score)], []

    monkeypatch.setattr(ppo, "reward_terms", castle_reward)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model on a shared CPU runs ~10x faster on one thread
    try:
        ppo.train_ppo(
            ppo.PPOStageConfig(
                model_name_or_path=str(model),
                train_file=str(tmp_path / "train.jsonl"),
                output_dir=str(tmp_path / "run"),
                batch_size=16,
                mini_batch_size=16,
                micro_batch_size=16,
                max_new_tokens=8,
                max_length=96,
                max_steps=16,
                save_steps=100,
                learning_rate=3e-3,
                use_adm_negative=False,
                use_vci=False,
                tensorboard=False,
            )
        )
    finally:
        torch.set_num_threads(threads)
    reward = [row["reward/castle"] for row in read_metrics(tmp_path / "run")]
    first, last = sum(reward[:3]) / 3, sum(reward[-4:]) / 4
    assert first < 0.2 and last > first + 0.4, reward


def test_newline_tokens_are_found_in_the_vocabulary():
    from train.ppo import newline_token_ids

    tokenizer = sentencepiece_tokenizer()
    ids = newline_token_ids(tokenizer)
    assert ids and all("\n" in tokenizer.decode([index]) for index in ids)
    assert tokenizer.convert_tokens_to_ids("▁zebra") not in ids
