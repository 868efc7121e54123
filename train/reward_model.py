"""`python -m train rm`: text-only reward models that predict an image score from a prompt.

DiffChat section 3.3 trains two reward models on prompts alone: one predicts the aesthetic
score and one the PickScore of the image a prompt produces, so PPO can reward a rewrite
without rendering it. Here each is a causal-LM backbone with a one-output regression head
(AutoModelForSequenceClassification, num_labels=1, MSE loss) on standardized targets.

Labels come from a file with columns `prompt`, `aesthetic`, `pickscore` (JSONL or CSV), or are
made by `label_prompts`: render each prompt (core.images.generate) and score the image
(core.scoring). `python -m train rm --label_only True` writes such a file.

Steps of `train_reward_model`:
    1. read labelled prompts, standardize the target (mean/std saved with the model)
    2. load the backbone with a regression head (refuses a model that is not a causal LM)
    3. AdamW + linear schedule (Table 3 RMs column: 1 epoch, batch 64, lr 5e-6, wd 1e-3)
    4. train under accelerate: micro-batches with gradient accumulation, NaN check, logging,
       checkpoints every save_steps and on Ctrl-C, exact resume (data position included)
    5. save the final model + tokenizer + `reward_head.json` (target, mean, std)
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import DataError, InputError
from core.files import json_type_name, read_data_lines, string_field
from train.common import (
    Progress,
    RunLogger,
    StopOnInterrupt,
    accumulation_steps,
    check_causal_lm,
    check_finite,
    checkpoint_to_resume,
    load_checkpoint,
    reporting_full_disk,
    resolve_model_path,
    save_checkpoint,
    write_stage_tag,
)

STAGE = "rm"
TARGETS = ("aesthetic", "pickscore")


@dataclass
class RewardModelConfig:
    """Reward-model hyperparameters. Defaults: DiffChat Table 3, appendix A.5 (RMs column)."""

    target: str = field(
        default="aesthetic", metadata={"help": "Score to predict: aesthetic or pickscore."}
    )
    model_name_or_path: str = field(
        default="smollm2-base",
        metadata={
            "help": "Causal-LM backbone (registry name, folder, hub id).",
            "path": "read-or-id",
        },
    )
    labels_file: str = field(
        default="",
        # written when labelling from prompts_file, so it is confined like an output
        metadata={"help": "JSONL/CSV with prompt, aesthetic, pickscore columns.", "path": "write"},
    )
    prompts_file: str = field(
        default="",
        metadata={
            "help": "Triplet file whose prompts are rendered and scored to make labels.",
            "path": "read",
        },
    )
    label_only: bool = field(
        default=False, metadata={"help": "Only write labels_file from prompts_file."}
    )
    image_model: str = field(
        default="tiny-sd",
        metadata={"help": "Text-to-image model used for labelling.", "path": "read-or-id"},
    )
    tiny_scorers: bool = field(
        default=True, metadata={"help": "Label with the tiny random-weight scorers."}
    )
    num_inference_steps: int = field(
        default=10, metadata={"help": "Denoising steps when labelling."}
    )
    output_dir: str = field(
        default="runs/rm", metadata={"help": "Checkpoints, logs, final model.", "path": "write"}
    )
    num_train_epochs: int = field(default=1, metadata={"help": "Epochs (Table 3: 1)."})
    batch_size: int = field(default=64, metadata={"help": "Effective batch size (Table 3: 64)."})
    per_device_batch_size: int = field(default=8, metadata={"help": "Micro-batch per process."})
    max_length: int = field(default=384, metadata={"help": "Max prompt tokens (Table 3: 384)."})
    learning_rate: float = field(default=5e-6, metadata={"help": "Peak LR (Table 3: 5e-6)."})
    weight_decay: float = field(
        default=1e-3, metadata={"help": "AdamW weight decay (Table 3: 1e-3)."}
    )
    max_steps: int = field(
        default=-1, metadata={"help": "Stop after N optimizer steps (-1: epochs)."}
    )
    logging_steps: int = field(default=1, metadata={"help": "Log every N optimizer steps."})
    save_steps: int = field(default=50, metadata={"help": "Checkpoint every N optimizer steps."})
    resume_from_checkpoint: str = field(
        default="",
        metadata={
            "help": "Checkpoint folder, or 'latest' for the newest in output_dir.",
            "path": "read",
        },
    )
    seed: int = field(default=0, metadata={"help": "Seed for data order and the head's init."})
    tensorboard: bool = field(default=True, metadata={"help": "Also log to TensorBoard."})

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise InputError(f"target must be one of {', '.join(TARGETS)}, not '{self.target}'.")


# ---------------------------------------------------------------------------------------------
# Labels


def read_labels(path: str | Path, target: str) -> tuple[list[str], list[float]]:
    """Return (prompts, values of `target`) from a JSONL or CSV labels file.

    Refuses (DataError naming file and line) a row without a prompt or with a non-numeric or
    non-finite target, and an empty file.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("no such labels file", str(path))
    prompts, values = [], []
    for line in read_data_lines(path):
        if line.blank:
            continue
        number, row = line.number, line.record
        if row is None:
            raise DataError(line.error, str(path), number)
        try:
            prompt = string_field(row, "prompt")
        except ValueError as error:
            raise DataError(str(error), str(path), number) from None
        if target not in row:
            raise DataError(f"column {target!r} is missing", str(path), number)
        try:
            if isinstance(row[target], bool):
                raise TypeError
            value = float(row[target])
        except (TypeError, ValueError):
            found = (
                repr(row[target]) if isinstance(row[target], str) else json_type_name(row[target])
            )
            raise DataError(
                f"column {target!r} must be a number, not {found}", str(path), number
            ) from None
        if not math.isfinite(value):
            raise DataError(f"'{target}' is not finite", str(path), number)
        prompts.append(prompt)
        values.append(value)
    if not prompts:
        raise DataError("the labels file is empty", str(path))
    return prompts, values


def label_prompts(
    prompts: list[str],
    image_model: str = "tiny-sd",
    tiny_scorers: bool = True,
    num_inference_steps: int = 10,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Render each prompt (same seed) and return rows {prompt, aesthetic, pickscore}.

    Uses core.images.generate and the core.scoring scorers; with the offline set (tiny-sd,
    tiny scorers) the numbers are meaningless but the pipeline is the real one.
    """
    from core.images import GenerationRequest, generate
    from core.scoring import build_scorer

    images = [
        generate(
            GenerationRequest(
                prompt=prompt, model=image_model, seed=seed, num_inference_steps=num_inference_steps
            )
        ).image
        for prompt in prompts
    ]
    scores = {
        name: build_scorer(name, tiny=tiny_scorers).score(images, prompts) for name in TARGETS
    }
    return [
        {"prompt": prompt, **{name: float(scores[name][index]) for name in TARGETS}}
        for index, prompt in enumerate(prompts)
    ]


def write_labels(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """Write label rows as JSONL and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


# ---------------------------------------------------------------------------------------------
# Model


def load_regressor(model_name_or_path: str):
    """Return (model, tokenizer): the backbone with a 1-output regression head, in float32.

    Refuses (InputError) a model that is not a causal LM (the rewriter's family).
    """
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path = resolve_model_path(model_name_or_path)
    check_causal_lm(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForSequenceClassification.from_pretrained(
        path, num_labels=1, problem_type="regression", dtype=torch.float32
    )
    # The head reads the last non-pad token, which it finds through pad_token_id.
    model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def predict(
    model,
    tokenizer,
    prompts: list[str],
    head: dict,
    batch_size: int = 16,
    max_length: int = 384,
    standardized: bool = False,
) -> list[float]:
    """Return the predicted score of each prompt, in the target's original units (or, with
    `standardized`, as the model outputs it: (score - mean) / std, the PPO reward scale)."""
    import torch

    model.eval()
    device = next(model.parameters()).device
    values: list[float] = []
    for start in range(0, len(prompts), batch_size):
        encoded = tokenizer(
            prompts[start : start + batch_size],
            return_tensors="pt",
            padding=True,
            truncation=True,
            max_length=max_length,
        ).to(device)
        with torch.no_grad():
            outputs = model(**encoded).logits.squeeze(-1)
        values += (outputs if standardized else outputs * head["std"] + head["mean"]).tolist()
    return values


# ---------------------------------------------------------------------------------------------
# Training


def epoch_plan(
    rows: int, per_device_batch_size: int, world_size: int, accumulation: int
) -> tuple[int, int, int]:
    """Return (accumulation, micro-batches per epoch, optimizer steps per epoch).

    An optimizer step never takes gradients from two epochs: the micro-batches of an epoch
    that cannot fill a whole step are left out (they used to carry into the next epoch's first
    step). With fewer micro-batches than one step needs, a step is the whole epoch.
    """
    micro_per_epoch = max(1, rows // (per_device_batch_size * world_size))
    accumulation = min(accumulation, micro_per_epoch)
    steps_per_epoch = micro_per_epoch // accumulation
    return accumulation, steps_per_epoch * accumulation, steps_per_epoch


def _epoch_order(count: int, seed: int, epoch: int) -> list[int]:
    order = list(range(count))
    random.Random(seed * 1000 + epoch).shuffle(order)
    return order


def train_reward_model(config: RewardModelConfig) -> Path:
    """Train one reward model and return the folder of the final model.

    The folder holds the model, tokenizer, `reward_head.json` ({target, mean, std}) and the
    stage tag. Refuses (DataError) bad labels, (InputError) a non-causal LM, (TrainingError) a
    checkpoint of another stage; stops with TrainingDivergedError on NaN/inf, and with a
    TrainingError naming the checkpoint that stays the latest when the disk fills up (in a
    checkpoint, the log, or the final model).
    """
    with reporting_full_disk(config.output_dir):
        return _train_reward_model(config)


def _train_reward_model(config: RewardModelConfig) -> Path:
    import torch
    from accelerate import Accelerator
    from transformers import get_linear_schedule_with_warmup, set_seed

    # 1. labels
    if not config.labels_file:
        raise InputError("give --labels_file (or make one with --prompts_file and --label_only).")
    prompts, values = read_labels(config.labels_file, config.target)
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)) or 1.0
    targets = [(v - mean) / std for v in values]
    head = {"target": config.target, "mean": mean, "std": std}

    # 2. model
    set_seed(config.seed)
    # Without a GPU, say so: under torchrun this makes accelerate use gloo (MULTI_CPU).
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    model, tokenizer = load_regressor(config.model_name_or_path)

    # 3. optimizer, schedule
    micro = config.per_device_batch_size
    accumulation, micro_per_epoch, steps_per_epoch = epoch_plan(
        len(prompts),
        micro,
        accelerator.num_processes,
        accumulation_steps(config.batch_size, micro, accelerator.num_processes),
    )
    global_batch = micro * accelerator.num_processes
    total_steps = (
        config.max_steps if config.max_steps > 0 else steps_per_epoch * config.num_train_epochs
    )
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    scheduler = get_linear_schedule_with_warmup(optimizer, 0, total_steps)

    step, position = 0, {"epoch": 0, "micro_batch": 0}
    resume = checkpoint_to_resume(config.resume_from_checkpoint, config.output_dir)
    if resume is not None:
        state = load_checkpoint(
            resume, stage=STAGE, modules={"model": model}, optimizer=optimizer, scheduler=scheduler
        )
        step, position = state.step, state.data_position
    model, optimizer = accelerator.prepare(model, optimizer)

    # 4. loop: each process takes its own slice of every global micro-batch
    logger = RunLogger(
        config.output_dir, STAGE, config, config.tensorboard, enabled=accelerator.is_main_process
    )
    loss_function = torch.nn.MSELoss()
    done = step >= total_steps
    with (
        StopOnInterrupt() as stop,
        logger,
        Progress(total_steps, step, "rm", accelerator.is_main_process) as bar,
    ):
        while not done:
            order = _epoch_order(len(prompts), config.seed, position["epoch"])
            while position["micro_batch"] < micro_per_epoch and not done:
                index = position["micro_batch"]
                start = index * global_batch + accelerator.process_index * micro
                rows = order[start : start + micro]
                encoded = tokenizer(
                    [prompts[i] for i in rows],
                    return_tensors="pt",
                    padding=True,
                    truncation=True,
                    max_length=config.max_length,
                ).to(accelerator.device)
                labels = torch.tensor([targets[i] for i in rows], device=accelerator.device)
                model.train()
                predictions = model(**encoded).logits.squeeze(-1)
                loss = loss_function(predictions, labels)
                check_finite(loss, step, "reward-model loss")
                accelerator.backward(loss / accumulation)
                position["micro_batch"] += 1
                if position["micro_batch"] % accumulation:
                    continue
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
                step += 1
                loss_value = accelerator.gather(loss.detach()[None]).mean().item()
                if step % config.logging_steps == 0:
                    logger.log(step, {"loss/mse": loss_value, "lr": scheduler.get_last_lr()[0]})
                bar.update(1, loss=loss_value)
                done = step >= total_steps
                if accelerator.is_main_process and (
                    step % config.save_steps == 0 or stop.requested
                ):
                    save_checkpoint(
                        config.output_dir,
                        step,
                        stage=STAGE,
                        config=config,
                        modules={"model": accelerator.unwrap_model(model)},
                        optimizer=optimizer,
                        scheduler=scheduler,
                        data_position=dict(position),
                        extra={"head": head},
                        keep_last=3,
                    )
                if stop.requested:
                    done = True
            if position["micro_batch"] >= micro_per_epoch:
                position = {"epoch": position["epoch"] + 1, "micro_batch": 0}

    # 5. final model
    final = Path(config.output_dir) / "final"
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        accelerator.unwrap_model(model).save_pretrained(final)
        tokenizer.save_pretrained(final)
        (final / "reward_head.json").write_text(json.dumps(head, indent=2) + "\n")
        write_stage_tag(final, STAGE, config, step=step, head=head, stopped_early=stop.requested)
    return final


def load_reward_model(folder: str | Path):
    """Return (model, tokenizer, head) of a trained reward model folder (see train_reward_model)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from train.common import read_stage_tag

    read_stage_tag(folder, STAGE)
    head = json.loads((Path(folder) / "reward_head.json").read_text())
    model = AutoModelForSequenceClassification.from_pretrained(folder)
    return model.eval(), AutoTokenizer.from_pretrained(folder), head


def parse_config(argv: list[str]) -> RewardModelConfig:
    """Parse command-line options into a RewardModelConfig (HfArgumentParser)."""
    from train.common import parse_stage_config

    return parse_stage_config(RewardModelConfig, argv)


def main(argv: list[str]) -> int:
    config = parse_config(argv)
    if config.prompts_file:
        from train.data import load_triplets

        prompts = sorted({t.raw_prompt for t in load_triplets(config.prompts_file)})
        rows = label_prompts(
            prompts,
            config.image_model,
            config.tiny_scorers,
            config.num_inference_steps,
            config.seed,
        )
        config.labels_file = config.labels_file or str(Path(config.output_dir) / "labels.jsonl")
        with reporting_full_disk(Path(config.labels_file).parent):
            written = write_labels(rows, config.labels_file)
        print(f"labelled {len(rows)} prompts -> {written}")
        if config.label_only:
            return 0
    print(f"saved {train_reward_model(config)}")
    return 0
