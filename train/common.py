"""What every training stage shares: checkpoints, logging, progress, Ctrl-C, sanity checks.

A stage (SFT, reward model, PPO) uses these pieces in this order:

    check_causal_lm(model_name_or_path)              # refuse a model that cannot be trained
    logger = RunLogger(output_dir, stage="ppo", config=config)
    state = load_checkpoint(path, stage="ppo", modules=..., optimizer=..., scheduler=...)
    with StopOnInterrupt() as stop, Progress(total_steps, initial=state.step) as progress:
        for step in ...:
            check_finite(loss, step)                 # NaN/inf -> TrainingDivergedError
            logger.log(step, {"loss/policy": ...})
            progress.update(1, loss=...)
            if step % save_steps == 0 or stop.requested:
                save_checkpoint(output_dir, step, stage="ppo", config=config, modules=...,
                                optimizer=..., scheduler=..., data_position=...)
            if stop.requested:
                break

Checkpoint layout (one folder per save, `latest` names the newest complete one):

    OUTPUT_DIR/checkpoint-<step>/diffchat_stage.json   stage tag, step, resolved config, data position
                                /<name>.safetensors    one per entry of `modules`
                                /optimizer.pt, scheduler.pt, rng.pt
    OUTPUT_DIR/latest                                  text file: "checkpoint-<step>"

A save is written into a temporary folder and moved into place with `os.replace`; `latest` is
rewritten (also atomically) only after that, so a failure (disk full) leaves the previous
`latest` intact and no half-written folder under a checkpoint name.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import dataclasses
import errno
import json
import math
import os
import random
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import DiffChatError, InputError
from core.files import atomic_write_text

STAGE_FILE = "diffchat_stage.json"
LATEST_FILE = "latest"
CHECKPOINT_PREFIX = "checkpoint-"
METRICS_JSONL = "metrics.jsonl"
METRICS_CSV = "metrics.csv"


class TrainingError(DiffChatError):
    """A training run cannot go on (bad checkpoint, failed save); the message says why."""


class TrainingDivergedError(TrainingError):
    """The loss became NaN or infinite; the message names the step and the quantity."""


# ---------------------------------------------------------------------------------------------
# Configs


def config_to_dict(config: Any) -> dict:
    """Return a JSON-ready dict of a dataclass config (Paths and tuples become str/list)."""
    if config is None:
        return {}
    raw = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)
    return json.loads(json.dumps(raw, default=str))


def write_stage_tag(folder: str | Path, stage: str, config: Any = None, **extra: Any) -> Path:
    """Write the stage tag file (stage name, resolved config, extra fields) into `folder`,
    atomically: a reader finds the old tag or the new one, never half of one."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    payload = {"stage": stage, "config": config_to_dict(config), **extra}
    text = json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n"
    return atomic_write_text(folder / STAGE_FILE, text)


def read_stage_tag(folder: str | Path, stage: str | None = None) -> dict:
    """Return the stage tag of a checkpoint folder.

    Refuses (TrainingError) a folder without a tag, and, when `stage` is given, a folder written
    by another stage — loading a reward-model checkpoint into PPO would otherwise half-work.
    """
    path = Path(folder) / STAGE_FILE
    if not path.is_file():
        raise TrainingError(
            f"{folder} is not a DiffChat checkpoint (no {STAGE_FILE}); "
            "pass a folder written by `python -m train ...`."
        )
    try:
        tag = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise TrainingError(
            f"{path} is damaged ({error.msg}); use an earlier checkpoint."
        ) from error
    if stage is not None and tag.get("stage") != stage:
        raise TrainingError(
            f"{folder} is a checkpoint of the '{tag.get('stage')}' stage, not '{stage}'; "
            f"resume a '{stage}' run from its own output folder."
        )
    return tag


# ---------------------------------------------------------------------------------------------
# Models


def check_causal_lm(model_name_or_path: str | os.PathLike) -> None:
    """Refuse (InputError) a model whose config is not a causal language model.

    Reads only the config (no weights). A name that cannot be resolved offline is reported as
    such, not as a stack trace.
    """
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    try:
        config = AutoConfig.from_pretrained(str(model_name_or_path))
    except (OSError, ValueError) as error:
        raise InputError(
            f"cannot read a model config from '{model_name_or_path}': {error}".split("\n")[0]
        ) from error
    causal_classes = set(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values())
    architectures = getattr(config, "architectures", None) or []
    # BERT has a causal-LM head class too; a saved BertForMaskedLM is still not a rewriter.
    wrong_head = architectures and not any(a in causal_classes for a in architectures)
    if config.model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES or wrong_head:
        raise InputError(
            f"'{model_name_or_path}' is a '{config.model_type}' model "
            f"({', '.join(architectures) or 'no head'}), not a causal language "
            "model; the rewriter must be a decoder-only LM such as SmolLM2, Llama or BLOOM."
        )


def resolve_model_path(name_or_path: str) -> str:
    """Return a local folder for a registry name (e.g. "smollm2-base"), or the input unchanged.

    A path that exists, or a Hugging Face id, passes through; the registry is asked only for
    names it knows.
    """
    if Path(name_or_path).expanduser().exists():
        return str(Path(name_or_path).expanduser())
    from core.registry import MODELS

    spec = MODELS.get(name_or_path)
    if spec is None:
        return name_or_path
    if spec.local_path is not None and spec.local_path().exists():
        return str(spec.local_path())
    if spec.repo_id:
        return spec.repo_id
    raise InputError(f"'{name_or_path}' is not installed; run `python -m core.assets fetch` first.")


# ---------------------------------------------------------------------------------------------
# Numbers


def accumulation_steps(batch_size: int, per_device_batch_size: int, world_size: int = 1) -> int:
    """Return the gradient-accumulation steps so that micro-batch x processes x steps reaches
    the effective `batch_size` (rounded up, at least 1)."""
    return max(1, math.ceil(batch_size / (per_device_batch_size * world_size)))


def check_finite(value: Any, step: int, name: str = "loss") -> float:
    """Return `value` as a float; raise TrainingDivergedError if it is NaN or infinite."""
    number = float(value.detach().float().item() if hasattr(value, "detach") else value)
    if not math.isfinite(number):
        raise TrainingDivergedError(
            f"{name} became {number} at step {step}; training stopped. Lower the learning "
            "rate, check the data for empty rows, or resume from an earlier checkpoint."
        )
    return number


def rng_state() -> dict:
    """Return the Python, NumPy and torch (CPU and CUDA) random states as a saveable dict."""
    import numpy as np
    import torch

    kind, keys, position, has_gauss, cached = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": [kind, keys.tolist(), position, has_gauss, cached],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore the random states saved by `rng_state`."""
    import numpy as np
    import torch

    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, position, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), position, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ---------------------------------------------------------------------------------------------
# Checkpoints


@dataclass
class CheckpointState:
    """What `load_checkpoint` restored: where to continue from."""

    step: int = 0
    data_position: Any = None
    extra: dict = field(default_factory=dict)
    path: Path | None = None


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    """Return the folder named by OUTPUT_DIR/latest, or None when there is none yet."""
    pointer = Path(output_dir) / LATEST_FILE
    if not pointer.is_file():
        return None
    folder = Path(output_dir) / pointer.read_text().strip()
    return folder if folder.is_dir() else None


def is_disk_full(error: BaseException) -> bool:
    """Return True when a failed write was the disk filling up: an OSError with ENOSPC or
    EDQUOT, or torch's zip writer's RuntimeError ("... inline_container.cc ... unexpected pos",
    "file write failed"), which is what torch.save raises on a full disk."""
    if isinstance(error, OSError):
        return error.errno in (errno.ENOSPC, errno.EDQUOT)
    text = str(error)
    return isinstance(error, RuntimeError) and any(
        sign in text for sign in ("unexpected pos", "file write failed", "No space left")
    )


@contextlib.contextmanager
def reporting_full_disk(output_dir: str | Path):
    """Inside the block, turn a full disk (see is_disk_full) into a TrainingError that says so
    and names the checkpoint that stays the latest; other errors pass unchanged.

    For stages whose checkpoints another library writes (the SFT Trainer): without this, a
    full disk ends the run with torch's raw "inline_container.cc ... unexpected pos".
    """
    try:
        yield
    except (OSError, RuntimeError) as error:
        if not is_disk_full(error):
            raise
        complete = complete_checkpoints(output_dir)
        kept = (
            f"{complete[0].name} stays the latest complete checkpoint"
            if complete
            else "no checkpoint was completed"
        )
        detail = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        raise TrainingError(
            f"the disk is full: writing into {output_dir} failed ({detail}); {kept}. Free disk "
            "space and resume with --resume_from_checkpoint latest."
        ) from error


def checkpoint_problem(folder: str | Path, stage: str | None = None) -> str | None:
    """Return why a checkpoint folder cannot be resumed from, or None when it reads.

    Checks what can be checked without loading weights: the stage tag parses (and is
    `stage`'s), every .safetensors header fits its file, every torch .pt/.pth zip has its
    directory, trainer_state.json parses. A save cut short (disk full, kill) fails one of these.
    """
    import zipfile

    from safetensors import safe_open

    folder = Path(folder)
    try:
        read_stage_tag(folder, stage)
    except TrainingError as error:
        return str(error)
    for file in sorted(folder.iterdir()):
        try:
            if file.suffix == ".safetensors":
                with safe_open(str(file), framework="pt"):
                    pass
            elif file.suffix in (".pt", ".pth"):
                zipfile.ZipFile(file).close()
            elif file.name == "trainer_state.json":
                json.loads(file.read_text())
        except Exception as error:  # any reader's complaint means the file is damaged
            return f"{file.name} is damaged ({type(error).__name__}: {error})"
    return None


def complete_checkpoints(output_dir: str | Path) -> list[Path]:
    """Return OUTPUT_DIR/checkpoint-<step> folders that have a stage tag, newest first.

    The tag is written last, so a folder without one is a save that never finished.
    """
    folders = [
        path
        for path in Path(output_dir).glob(f"{CHECKPOINT_PREFIX}*")
        if path.name.removeprefix(CHECKPOINT_PREFIX).isdigit() and (path / STAGE_FILE).is_file()
    ]
    return sorted(folders, key=lambda p: int(p.name.removeprefix(CHECKPOINT_PREFIX)), reverse=True)


def newest_resumable_checkpoint(output_dir: str | Path, stage: str | None = None) -> Path | None:
    """Return the newest complete checkpoint that reads (see checkpoint_problem), or None.

    A damaged newer one is skipped with a printed message naming it and the one used instead.
    """
    damaged = []
    for folder in complete_checkpoints(output_dir):
        problem = checkpoint_problem(folder, stage)
        if problem is None:
            for name, reason in damaged:
                print(f"{name} is damaged ({reason}); falling back to {folder.name}.", flush=True)
            return folder
        damaged.append((folder.name, problem))
    for name, reason in damaged:
        print(f"{name} is damaged ({reason}); no earlier checkpoint to fall back to.", flush=True)
    return None


def checkpoint_to_resume(resume_from_checkpoint: str, output_dir: str | Path) -> Path | None:
    """Return the checkpoint a run resumes from: None for a fresh run, the folder OUTPUT_DIR/latest
    names for "latest", else the given folder. Refuses (TrainingError) "latest" with none saved,
    so a Resume never silently starts over.
    """
    if not resume_from_checkpoint:
        return None
    if resume_from_checkpoint == "latest":
        # The newest checkpoint that reads: normally the one `latest` names, an earlier one
        # when that one was damaged after its save (said on stdout).
        found = newest_resumable_checkpoint(output_dir)
        if found is None:
            raise TrainingError(f"no checkpoint to resume from in {output_dir}.")
    else:
        found = Path(resume_from_checkpoint)
    print(f"resuming from {found}", flush=True)
    return found


def save_checkpoint(
    output_dir: str | Path,
    step: int,
    *,
    stage: str,
    config: Any = None,
    modules: dict[str, Any] | None = None,
    optimizer: Any = None,
    scheduler: Any = None,
    data_position: Any = None,
    extra: dict | None = None,
    keep_last: int | None = None,
) -> Path:
    """Save a complete checkpoint as OUTPUT_DIR/checkpoint-<step> and point `latest` at it.

    `modules` maps a file name to an nn.Module (state dict saved as safetensors). The resolved
    config, the stage tag, the data position and `extra` go into the stage tag file; the
    optimizer, scheduler and RNG states into .pt files (tensors and plain containers only, so
    they reload with weights_only=True). Returns the checkpoint folder. On any failure
    (disk full included) the temporary folder is removed, `latest` is left as it was, and a
    TrainingError says so. `keep_last` deletes older checkpoint folders after a good save.
    """
    import torch
    from safetensors.torch import save_model

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    name = f"{CHECKPOINT_PREFIX}{step}"
    final = output_dir / name
    temporary = output_dir / f".tmp-{name}-{os.getpid()}"
    shutil.rmtree(temporary, ignore_errors=True)
    try:
        temporary.mkdir()
        for module_name, module in (modules or {}).items():
            # save_model handles tied weights (embeddings shared with the LM head).
            save_model(module, str(temporary / f"{module_name}.safetensors"))
        if optimizer is not None:
            torch.save(optimizer.state_dict(), temporary / "optimizer.pt")
        if scheduler is not None:
            torch.save(scheduler.state_dict(), temporary / "scheduler.pt")
        torch.save(rng_state(), temporary / "rng.pt")
        write_stage_tag(
            temporary,
            stage,
            config,
            step=step,
            data_position=data_position,
            extra=extra or {},
            modules=sorted(modules or {}),
            saved_at=time.strftime("%Y-%m-%dT%H:%M:%S"),
        )
        if final.exists():
            shutil.rmtree(final)
        os.replace(temporary, final)
        atomic_write_text(output_dir / LATEST_FILE, name + "\n")
    except (OSError, RuntimeError) as error:
        shutil.rmtree(temporary, ignore_errors=True)
        # torch.save reports a full disk as a RuntimeError from its zip writer.
        if isinstance(error, RuntimeError) and not is_disk_full(error):
            raise
        previous = latest_checkpoint(output_dir)
        kept = f"'latest' still names {previous.name}" if previous else "no checkpoint was kept"
        cause = "the disk is full" if is_disk_full(error) else getattr(error, "strerror", None)
        raise TrainingError(
            f"could not save the checkpoint at step {step} in {output_dir} ({cause or error}); "
            f"{kept}. Free disk space and resume."
        ) from error
    if keep_last:
        _prune_checkpoints(output_dir, keep_last, protect=final)
    return final


def _prune_checkpoints(output_dir: Path, keep_last: int, protect: Path) -> None:
    def step_of(path: Path) -> int:
        suffix = path.name.removeprefix(CHECKPOINT_PREFIX)
        return int(suffix) if suffix.isdigit() else -1

    folders = sorted(
        (p for p in output_dir.glob(f"{CHECKPOINT_PREFIX}*") if p.is_dir() and step_of(p) >= 0),
        key=step_of,
    )
    for folder in folders[:-keep_last]:
        if folder != protect:
            shutil.rmtree(folder, ignore_errors=True)


def load_checkpoint(
    path: str | Path,
    *,
    stage: str,
    modules: dict[str, Any] | None = None,
    optimizer: Any = None,
    scheduler: Any = None,
) -> CheckpointState:
    """Restore a checkpoint into the given objects and return where to continue.

    `path` is a checkpoint folder or an output folder (its `latest` is used). Refuses
    (TrainingError) a folder of another stage, a folder that is not a checkpoint, and a
    module file that is missing. Loads with safetensors / torch.load(weights_only=True).
    """
    import torch
    from safetensors.torch import load_model

    path = Path(path)
    if not (path / STAGE_FILE).is_file() and (path / LATEST_FILE).is_file():
        found = latest_checkpoint(path)
        if found is None:
            raise TrainingError(f"{path}/latest names a checkpoint that does not exist.")
        path = found
    tag = read_stage_tag(path, stage)
    for module_name, module in (modules or {}).items():
        file = path / f"{module_name}.safetensors"
        if not file.is_file():
            raise TrainingError(f"{path} has no weights for '{module_name}' ({file.name}).")
        load_model(module, str(file))
    if optimizer is not None and (path / "optimizer.pt").is_file():
        optimizer.load_state_dict(torch.load(path / "optimizer.pt", weights_only=True))
    if scheduler is not None and (path / "scheduler.pt").is_file():
        scheduler.load_state_dict(torch.load(path / "scheduler.pt", weights_only=True))
    if (path / "rng.pt").is_file():
        set_rng_state(torch.load(path / "rng.pt", weights_only=True))
    return CheckpointState(
        step=int(tag.get("step", 0)),
        data_position=tag.get("data_position"),
        extra=tag.get("extra", {}),
        path=path,
    )


# ---------------------------------------------------------------------------------------------
# Logging and progress


class RunLogger:
    """Append metrics to OUTPUT_DIR/metrics.jsonl and metrics.csv, and to TensorBoard.

    Every JSONL line is `{"step": int, "time": float, "stage": str, <metric>: float, ...}`;
    the Train-tab runner tails that file. The CSV is rewritten with a wider header when a new
    metric name appears, so it always opens in a spreadsheet. The resolved config is written
    once to OUTPUT_DIR/run_config.json and to TensorBoard as text.
    """

    def __init__(
        self,
        output_dir: str | Path,
        stage: str,
        config: Any = None,
        tensorboard: bool = True,
        enabled: bool = True,
    ):
        self.output_dir = Path(output_dir)
        self.stage = stage
        self.enabled = enabled
        self._columns: list[str] = []
        self._writer = None
        if not enabled:
            return
        self.output_dir.mkdir(parents=True, exist_ok=True)
        config_dict = config_to_dict(config)
        (self.output_dir / "run_config.json").write_text(
            json.dumps({"stage": stage, "config": config_dict}, indent=2, default=str) + "\n"
        )
        csv_path = self.output_dir / METRICS_CSV
        if csv_path.is_file():  # resuming: keep the columns already there
            with open(csv_path, newline="") as handle:
                self._columns = next(csv.reader(handle), [])
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(self.output_dir / "tensorboard"))
            self._writer.add_text("config", "```\n" + json.dumps(config_dict, indent=2) + "\n```")

    def log(self, step: int, metrics: dict[str, Any]) -> dict:
        """Record one row of metrics at `step` and return it (numbers as floats)."""
        row = {"step": int(step), "time": round(time.time(), 3), "stage": self.stage}
        for key, value in metrics.items():
            row[key] = float(value.item() if hasattr(value, "item") else value)
        if not self.enabled:
            return row
        with open(self.output_dir / METRICS_JSONL, "a") as handle:
            handle.write(json.dumps(row) + "\n")
        self._write_csv(row)
        if self._writer is not None:
            for key, value in row.items():
                if key not in ("step", "time", "stage"):
                    self._writer.add_scalar(key, value, step)
            self._writer.flush()
        return row

    def _write_csv(self, row: dict) -> None:
        path = self.output_dir / METRICS_CSV
        new_columns = [key for key in row if key not in self._columns]
        if new_columns or not path.is_file():
            old_rows = []
            if path.is_file():
                with open(path, newline="") as handle:
                    old_rows = list(csv.DictReader(handle))
            self._columns = self._columns + new_columns
            with open(path, "w", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=self._columns)
                writer.writeheader()
                writer.writerows(old_rows)
        with open(path, "a", newline="") as handle:
            csv.DictWriter(handle, fieldnames=self._columns).writerow(row)

    def close(self) -> None:
        """Flush and close TensorBoard."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self) -> RunLogger:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


def read_metrics(output_dir: str | Path) -> list[dict]:
    """Return every row of OUTPUT_DIR/metrics.jsonl (skipping a half-written last line)."""
    path = Path(output_dir) / METRICS_JSONL
    rows = []
    if path.is_file():
        for line in path.read_text().splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                rows.append(json.loads(line))
    return rows


class Progress:
    """A tqdm progress bar with ETA; `update(n, **metrics)` also shows the latest metrics."""

    def __init__(self, total: int, initial: int = 0, desc: str = "train", enabled: bool = True):
        from tqdm.auto import tqdm

        self._bar = tqdm(
            total=total, initial=initial, desc=desc, disable=not enabled, dynamic_ncols=True
        )

    def update(self, n: int = 1, **metrics: float) -> None:
        """Advance by `n` steps and show `metrics` (rounded) after the bar."""
        if metrics:
            self._bar.set_postfix({k: f"{v:.4g}" for k, v in metrics.items()}, refresh=False)
        self._bar.update(n)

    def close(self) -> None:
        self._bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


class StopOnInterrupt:
    """Turn the first Ctrl-C (SIGINT) into a request to save and stop; a second one aborts.

    The training loop checks `requested` after each step, saves a checkpoint and leaves the
    loop. The runner's Stop button sends SIGINT, so Stop always leaves a resumable checkpoint.
    Only the main thread can install signal handlers; elsewhere this is a no-op.
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print(
            "\nstop requested: saving a checkpoint after this step (Ctrl-C again to abort)",
            flush=True,
        )

    def __enter__(self) -> StopOnInterrupt:
        with contextlib.suppress(ValueError):
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def parse_stage_config(config_class: type, argv: list[str] | None):
    """Return `config_class` parsed from command-line options (HfArgumentParser).

    Field metadata beyond argparse's own keys (the "path" kind that the UI's path confinement
    reads) is kept out of argparse, which refuses unknown keywords.
    """
    import types

    from transformers import HfArgumentParser

    class StageArgumentParser(HfArgumentParser):
        @staticmethod
        def _parse_dataclass_field(parser, field: dataclasses.Field):
            field = copy.copy(field)
            kept = {key: value for key, value in field.metadata.items() if key != "path"}
            field.metadata = types.MappingProxyType(kept)
            HfArgumentParser._parse_dataclass_field(parser, field)

    (config,) = StageArgumentParser(config_class).parse_args_into_dataclasses(args=argv)
    return config


def bf16_unsupported_reason(device) -> str | None:
    """Return None when `device` runs bf16 natively, else a sentence saying why it does not.

    CUDA: the GPU must report bf16 support (Ampere or newer). CPU: the flags must show
    AVX-512 BF16 or AMX (elsewhere autocast would emulate bf16 at a fraction of fp32's speed).
    """
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return None
        return f"the GPU {torch.cuda.get_device_name(device)} has no bf16 support"
    if device.type == "cpu":
        try:
            flags = Path("/proc/cpuinfo").read_text()
        except OSError:
            flags = ""
        if "avx512_bf16" in flags or "amx_bf16" in flags:
            return None
        return "this CPU has neither AVX-512 BF16 nor AMX"
    return f"bf16 autocast is not set up for {device.type} devices here"
