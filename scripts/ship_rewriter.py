"""Copy a trained LoRA adapter into assets/rewriter/ as the shipped offline rewriter.

    python scripts/ship_rewriter.py RUN_DIR/checkpoint-N assets/rewriter/diffchat-smollm2-lora

Writes adapter_config.json (base model named by its registry name, so the adapter loads on any
machine), adapter_model.safetensors in float16 (half the size; PEFT casts it back to the base
model's float32 on load), diffchat_stage.json (the resolved SFT config and step),
training_log.jsonl (every logged step of the run folder) and training_loss.png (its loss
curve). Refuses a folder without an adapter.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path


def ship(checkpoint: Path, out: Path, base_model: str = "smollm2-base") -> Path:
    """Write the shipped adapter folder `out` from a Trainer checkpoint; return `out`."""
    from safetensors.torch import load_file, save_file

    weights = checkpoint / "adapter_model.safetensors"
    if not weights.is_file():
        raise SystemExit(f"{checkpoint} holds no adapter_model.safetensors")
    staging = out.with_name(out.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    config = json.loads((checkpoint / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = base_model
    config["inference_mode"] = True
    (staging / "adapter_config.json").write_text(json.dumps(config, indent=2) + "\n")
    tensors = {name: tensor.half() for name, tensor in load_file(weights).items()}
    save_file(tensors, staging / "adapter_model.safetensors")
    shutil.copy(checkpoint / "diffchat_stage.json", staging / "diffchat_stage.json")
    shutil.copy(checkpoint.parent / "metrics.jsonl", staging / "training_log.jsonl")
    plot_loss(staging / "training_log.jsonl", staging / "training_loss.png")
    for keep in ("README.md", "evaluation.json"):
        if (out / keep).is_file():
            shutil.copy(out / keep, staging / keep)
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
    return out


def plot_loss(log: Path, out: Path) -> None:
    """Write the training loss per optimizer step of a metrics JSONL file as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    points = [(row["step"], row["train/loss"]) for row in rows if "train/loss" in row]
    figure, axis = plt.subplots(figsize=(6, 3.2))
    axis.plot([step for step, _ in points], [loss for _, loss in points], label="training loss")
    axis.set_xlabel("optimizer step")
    axis.set_ylabel("loss")
    axis.legend()
    figure.tight_layout()
    figure.savefig(out, dpi=80)
    plt.close(figure)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    print(ship(Path(sys.argv[1]), Path(sys.argv[2])))
