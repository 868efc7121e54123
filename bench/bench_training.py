"""SFT throughput on SmolLM2-135M: tokens per second, full fine-tuning vs LoRA, in one run.

Each variant runs `train.sft.train_sft` (the real stage: TRL SFTTrainer, paper template,
completion-only loss) on the first rows of the sample's training split for a few optimizer
steps; throughput = tokens processed (prompt + completion, TRL's `num_tokens`) divided by the
time of the steps after the first (a warm-up). The GPU line, if any, comes from the shipped
adapter's training run (assets/rewriter/diffchat-smollm2-lora/training_log.jsonl).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

STEPS = 4
MICRO_BATCH = 8
MAX_LENGTH = 128
ADAPTER_LOG = (
    Path(__file__).resolve().parent.parent
    / "assets/rewriter/diffchat-smollm2-lora/training_log.jsonl"
)


def _tokens_per_second(output_dir: Path) -> float:
    from train.common import read_metrics

    rows = [row for row in read_metrics(output_dir) if "train/num_tokens" in row]
    first, last = rows[0], rows[-1]
    return (last["train/num_tokens"] - first["train/num_tokens"]) / (last["time"] - first["time"])


def _gpu_line() -> str:
    if not ADAPTER_LOG.is_file():
        return ""
    rows = [json.loads(line) for line in ADAPTER_LOG.read_text().splitlines()]
    summary = [row for row in rows if "train/train_runtime" in row][-1]
    tokens = max(row.get("train/num_tokens", 0) for row in rows)
    return (
        f"| LoRA r=16 (shipped adapter run) | NVIDIA H100, bf16, batch 64 | "
        f"{tokens / summary['train/train_runtime']:.0f} |\n"
    )


def main() -> None:
    import os

    from bench.__main__ import machine_description, write_result
    from train.sft import SFTStageConfig, train_sft

    load_before = os.getloadavg()[0]
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, use_lora in (("full fine-tuning", False), ("LoRA r=16", True)):
            output_dir = Path(folder) / name.replace(" ", "-")
            train_sft(
                SFTStageConfig(
                    output_dir=str(output_dir),
                    use_lora=use_lora,
                    learning_rate=2e-4 if use_lora else 2e-5,
                    batch_size=MICRO_BATCH,
                    per_device_batch_size=MICRO_BATCH,
                    max_length=MAX_LENGTH,
                    max_steps=STEPS,
                    max_train_rows=MICRO_BATCH * STEPS,
                    save_steps=10_000,
                    tensorboard=False,
                )
            )
            results[name] = _tokens_per_second(output_dir)
            print(f"{name}: {results[name]:.0f} tokens/s", flush=True)

    load_after = os.getloadavg()[0]
    full = results["full fine-tuning"]
    table = "\n".join(
        f"| {name} | this CPU, fp32, batch {MICRO_BATCH} | {value:.0f} |"
        for name, value in results.items()
    )
    write_result(
        "training",
        f"""## SFT throughput (bench/bench_training.py)

Machine: {machine_description()}

SmolLM2-135M-Instruct, `python -m train sft` code path, micro-batch {MICRO_BATCH}, max length
{MAX_LENGTH}, {STEPS} steps (first one is warm-up). Tokens = prompt + completion tokens processed.

| variant | where | tokens/s |
| --- | --- | ---: |
{table}
{_gpu_line()}
LoRA / full fine-tuning throughput ratio on this CPU: {results["LoRA r=16"] / full:.2f}.
1-minute load average {load_before:.1f} before and {load_after:.1f} after the run (this CPU is
shared; a load above 2 means other jobs took part of it and the absolute numbers are low).
""",
    )


if __name__ == "__main__":
    main()
