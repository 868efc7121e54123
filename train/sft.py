"""`python -m train sft`: supervised fine-tuning of the rewriter on (x, i, y) triplets.

DiffChat section 3.2: the model reads T(x, i) — the paper's template around the raw prompt x
and the instruction i — and learns to write the target prompt y. Each triplet becomes a
prompt/completion pair (prompt = T(x, i), completion = " " + y + EOS) for TRL's SFTTrainer,
which masks the prompt tokens so the loss is on the output tokens only.

Steps of `train_sft`:
    1. resolve and check the model (a causal LM), load triplets
    2. build prompt/completion rows
    3. build TRL's SFTConfig from the stage config (gradient accumulation reaches the
       effective batch of Table 3 on small hardware)
    4. train with SFTTrainer (full fine-tuning or LoRA), logging through RunLogger,
       stopping on NaN/inf and on Ctrl-C with a checkpoint; resume is exact (Trainer's
       resume_from_checkpoint restores optimizer, scheduler, RNG and data position)
    5. save the final model/adapter with the tokenizer, the resolved config and the stage tag
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import DataError, InputError
from train.common import (
    RunLogger,
    StopOnInterrupt,
    TrainingError,
    accumulation_steps,
    bf16_unsupported_reason,
    check_causal_lm,
    check_finite,
    config_to_dict,
    newest_resumable_checkpoint,
    read_stage_tag,
    reporting_full_disk,
    resolve_model_path,
    write_stage_tag,
)

STAGE = "sft"


@dataclass
class SFTStageConfig:
    """SFT hyperparameters. Defaults: DiffChat Table 3, appendix A.5 (SFT column)."""

    model_name_or_path: str = field(
        default="smollm2-base",
        metadata={
            "help": "Registry name, local folder or Hugging Face id of a causal LM.",
            "path": "read-or-id",
        },
    )
    train_file: str = field(
        default="assets/instructpe/train.jsonl",
        metadata={
            "help": "InstructPE triplets (JSONL/CSV or a HF dataset id) to train on.",
            "path": "read-or-id",
        },
    )
    eval_file: str = field(
        default="",
        metadata={
            "help": "Held-out triplets; their completion loss is logged each epoch.",
            "path": "read",
        },
    )
    output_dir: str = field(
        default="runs/sft", metadata={"help": "Checkpoints, logs, final model.", "path": "write"}
    )
    num_train_epochs: float = field(default=3, metadata={"help": "Epochs (Table 3: 3)."})
    batch_size: int = field(
        default=64, metadata={"help": "Effective batch size over all processes (Table 3: 64)."}
    )
    per_device_batch_size: int = field(
        default=8,
        metadata={"help": "Micro-batch per process; gradient accumulation makes up the rest."},
    )
    max_length: int = field(
        default=384, metadata={"help": "Max tokens per example (Table 3: 384)."}
    )
    learning_rate: float = field(default=2e-5, metadata={"help": "Peak LR (Table 3: 2e-5)."})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay (Table 3: 0)."})
    lr_scheduler_type: str = field(default="linear", metadata={"help": "transformers schedule."})
    warmup_steps: float = field(
        default=0, metadata={"help": "Warmup steps (an int), or a fraction in [0, 1) of all steps."}
    )
    use_lora: bool = field(
        default=False, metadata={"help": "Train a LoRA adapter instead of all weights."}
    )
    lora_r: int = field(default=16, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA scaling alpha."})
    lora_dropout: float = field(default=0.05, metadata={"help": "LoRA dropout."})
    lora_target_modules: str = field(
        default="q_proj,k_proj,v_proj,o_proj",
        metadata={"help": "Comma-separated module names that get LoRA layers."},
    )
    max_steps: int = field(
        default=-1, metadata={"help": "Stop after this many optimizer steps (-1: epochs)."}
    )
    max_train_rows: int = field(
        default=0, metadata={"help": "Use only the first N triplets (0: all)."}
    )
    logging_steps: int = field(default=1, metadata={"help": "Log (and NaN-check) every N steps."})
    save_steps: int = field(default=50, metadata={"help": "Checkpoint every N steps."})
    save_total_limit: int = field(default=3, metadata={"help": "Keep this many checkpoints."})
    resume_from_checkpoint: str = field(
        default="",
        metadata={
            "help": "Checkpoint folder to resume from, or 'latest' for the newest in output_dir.",
            "path": "read",
        },
    )
    seed: int = field(default=0, metadata={"help": "Seed for data order, init and dropout."})
    bf16: bool = field(
        default=False,
        metadata={"help": "bf16 autocast, fp32 master weights (GPU, or a CPU with AVX-512 BF16)."},
    )
    length_bucketing: bool = field(
        default=False,
        metadata={"help": "Batch rows of similar length together (less padding; bench/)."},
    )
    gguf_file: str = field(
        default="",
        metadata={
            "help": "Load the base model from this GGUF file inside the model folder.",
            "path": "file-name",
        },
    )
    tensorboard: bool = field(default=True, metadata={"help": "Also log to TensorBoard."})

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.per_device_batch_size < 1:
            raise InputError("batch_size and per_device_batch_size must be at least 1.")
        if self.max_length < 16:
            raise InputError("max_length must be at least 16 tokens.")

    def gradient_accumulation_steps(self, world_size: int = 1) -> int:
        """Return the accumulation steps so that micro-batch x processes x steps ≈ batch_size."""
        return accumulation_steps(self.batch_size, self.per_device_batch_size, world_size)


# ---------------------------------------------------------------------------------------------
# Data


def paper_prompt(raw_prompt: str, instruction: str) -> str:
    """Return T(x, i), the paper's template filled in (core.rewrite.format_rewrite_prompt)."""
    from core.rewrite import format_rewrite_prompt

    return format_rewrite_prompt(raw_prompt, instruction)


def build_sft_rows(triplets: list[Any], eos_token: str) -> list[dict[str, str]]:
    """Return prompt/completion rows: prompt = T(x, i), completion = " " + y + EOS.

    The leading space keeps "Output:" and the first output word apart as they are at
    generation time. Refuses (DataError) an empty list.
    """
    if not triplets:
        raise DataError("the training set is empty; nothing to fine-tune on.")
    return [
        {
            "prompt": paper_prompt(t.raw_prompt, t.instruction),
            "completion": " " + t.target_prompt.strip() + eos_token,
        }
        for t in triplets
    ]


def load_training_triplets(config: SFTStageConfig) -> list[Any]:
    """Return the triplets of config.train_file (first max_train_rows if set)."""
    from train.data import load_triplets

    triplets = list(load_triplets(config.train_file))
    if config.max_train_rows:
        triplets = triplets[: config.max_train_rows]
    if not triplets:
        raise DataError("no usable triplets", path=config.train_file)
    return triplets


# ---------------------------------------------------------------------------------------------
# Model


def load_model_and_tokenizer(config: SFTStageConfig):
    """Return (model, tokenizer) for config.model_name_or_path; refuses a non-causal LM."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_model_path(config.model_name_or_path)
    extra = {"gguf_file": config.gguf_file} if config.gguf_file else {}
    if not config.gguf_file:
        check_causal_lm(path)
    tokenizer = AutoTokenizer.from_pretrained(path, **extra)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, **extra)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def lora_config(config: SFTStageConfig):
    """Return the peft LoraConfig of the stage (causal-LM task, q/k/v/o projections)."""
    from peft import LoraConfig

    return LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=[m.strip() for m in config.lora_target_modules.split(",") if m.strip()],
        task_type="CAUSAL_LM",
    )


def trl_config(config: SFTStageConfig):
    """Return TRL's SFTConfig for the stage config (world size from the launcher)."""
    import torch
    from trl import SFTConfig

    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    return SFTConfig(
        output_dir=config.output_dir,
        num_train_epochs=config.num_train_epochs,
        max_steps=config.max_steps,
        per_device_train_batch_size=config.per_device_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps(world_size),
        learning_rate=config.learning_rate,
        weight_decay=config.weight_decay,
        lr_scheduler_type=config.lr_scheduler_type,
        warmup_steps=config.warmup_steps,
        max_length=config.max_length,
        completion_only_loss=True,  # loss on the output tokens only (DiffChat eq. 1)
        packing=False,
        logging_steps=config.logging_steps,
        eval_strategy="epoch" if config.eval_file else "no",
        per_device_eval_batch_size=config.per_device_batch_size,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        seed=config.seed,
        data_seed=config.seed,
        bf16=config.bf16,
        train_sampling_strategy="group_by_length" if config.length_bucketing else "random",
        # Without a GPU, say so: under torchrun this makes the Trainer use gloo (MULTI_CPU).
        use_cpu=not torch.cuda.is_available(),
        report_to="none",  # RunLogger writes JSONL/CSV/TensorBoard itself
        dataset_num_proc=None,
        disable_tqdm=False,
    )


# ---------------------------------------------------------------------------------------------
# Callbacks


def _callbacks(config: SFTStageConfig, logger: RunLogger, stop: StopOnInterrupt):
    from transformers import TrainerCallback

    class DiffChatCallback(TrainerCallback):
        """Log through RunLogger, stop on NaN/inf, save + stop on Ctrl-C, tag checkpoints."""

        def __init__(self) -> None:
            self.started = time.time()
            self.first_step: int | None = None

        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = logs or {}
            if "loss" in logs:
                check_finite(logs["loss"], state.global_step)
            metrics = {
                (f"eval/{key[5:]}" if key.startswith("eval_") else f"train/{key}"): value
                for key, value in logs.items()
                if isinstance(value, int | float) and key != "total_flos"
            }
            if state.is_world_process_zero and metrics:
                logger.log(state.global_step, metrics)
                if "loss" in logs:
                    print(self._progress_line(state, logs), flush=True)

        def _progress_line(self, state, logs) -> str:
            if self.first_step is None:
                self.first_step = state.global_step - 1
            done = max(1, state.global_step - self.first_step)
            elapsed = time.time() - self.started
            remaining = max(0, state.max_steps - state.global_step) * elapsed / done
            loss = logs.get("loss", float("nan"))
            return (
                f"[sft] step {state.global_step}/{state.max_steps} loss {loss:.4f} "
                f"elapsed {elapsed:.0f}s eta {remaining:.0f}s"
            )

        def on_step_end(self, args, state, control, **kwargs):
            if stop.requested:
                control.should_save = True
                control.should_training_stop = True
            return control

        def on_save(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
                if folder.is_dir():
                    write_stage_tag(folder, STAGE, config, step=state.global_step)

    return [DiffChatCallback()]


# ---------------------------------------------------------------------------------------------
# Training


def resolve_resume(config: SFTStageConfig) -> str | None:
    """Return the checkpoint folder to resume from (None for a fresh run).

    'latest' picks the newest complete checkpoint in output_dir. Refuses (TrainingError) a folder
    written by another stage or one that is not a checkpoint.
    """
    if not config.resume_from_checkpoint:
        return None
    if config.resume_from_checkpoint == "latest":
        # The stage tag is written after the Trainer's save completed, so a save cut short
        # (disk full, kill) is never picked; one damaged afterwards falls back to the one
        # before, with a message.
        folder = newest_resumable_checkpoint(config.output_dir)
        if folder is None:
            raise TrainingError(f"no complete checkpoint to resume from in {config.output_dir}.")
    else:
        folder = config.resume_from_checkpoint
    read_stage_tag(folder, STAGE)
    print(f"resuming from {folder}", flush=True)
    return str(folder)


def train_sft(config: SFTStageConfig) -> Path:
    """Run SFT and return the folder of the final model (a LoRA adapter when use_lora).

    Refuses (InputError) a model that is not a causal LM, (DataError) an empty or malformed
    training file, (TrainingError) a checkpoint of another stage; stops with
    TrainingDivergedError on a NaN/inf loss. Ctrl-C saves a checkpoint and returns early.
    """
    from datasets import Dataset
    from transformers import set_seed
    from trl import SFTTrainer

    # 1. model, data
    if config.bf16:
        import torch

        reason = bf16_unsupported_reason("cuda" if torch.cuda.is_available() else "cpu")
        if reason is not None:
            raise InputError(f"--bf16 True needs native bf16, but {reason}; run without --bf16.")
    resume = resolve_resume(config)
    set_seed(config.seed)
    model, tokenizer = load_model_and_tokenizer(config)
    triplets = load_training_triplets(config)

    # 2. prompt/completion rows
    dataset = Dataset.from_list(build_sft_rows(triplets, tokenizer.eos_token))
    eval_dataset = None
    if config.eval_file:
        from train.data import load_triplets

        eval_rows = build_sft_rows(load_triplets(config.eval_file), tokenizer.eos_token)
        eval_dataset = Dataset.from_list(eval_rows)

    # 3-4. train
    args = trl_config(config)
    is_main = int(os.environ.get("RANK", "0")) == 0
    logger = RunLogger(
        config.output_dir, STAGE, config, tensorboard=config.tensorboard, enabled=is_main
    )
    with StopOnInterrupt() as stop, logger, reporting_full_disk(config.output_dir):
        trainer = SFTTrainer(
            model=model,
            args=args,
            train_dataset=dataset,
            eval_dataset=eval_dataset,
            processing_class=tokenizer,
            peft_config=lora_config(config) if config.use_lora else None,
            callbacks=_callbacks(config, logger, stop),
        )
        trainer.train(resume_from_checkpoint=resume)

        # 5. final model
        final = Path(config.output_dir) / "final"
        trainer.save_model(str(final))
        if trainer.is_world_process_zero():
            tokenizer.save_pretrained(str(final))
            write_stage_tag(
                final,
                STAGE,
                config,
                step=trainer.state.global_step,
                stopped_early=stop.requested,
                trl_config=config_to_dict(
                    {"gradient_accumulation_steps": args.gradient_accumulation_steps}
                ),
            )
    return final


def parse_config(argv: list[str]) -> SFTStageConfig:
    """Parse command-line options into an SFTStageConfig (HfArgumentParser)."""
    from train.common import parse_stage_config

    return parse_stage_config(SFTStageConfig, argv)


def main(argv: list[str]) -> int:
    config = parse_config(argv)
    final = train_sft(config)
    print(f"saved {final}")
    return 0
