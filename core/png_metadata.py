"""Generation parameters in a PNG `parameters` text chunk, in the AUTOMATIC1111 web UI format.

The format is three parts, so other tools (A1111, ComfyUI readers, Civitai) show it too:

    a photo of a cat wearing a hat
    Negative prompt: blurry
    Steps: 25, Sampler: DDIM, CFG scale: 7.5, Seed: 0, Size: 512x512, Model: sd15

Values holding a comma, colon or quote are written as JSON strings, as A1111 does.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from PIL import Image, PngImagePlugin

from core.errors import InputError

PARAMETERS_KEY = "parameters"

# Our field name (diffusers' argument names) -> A1111 label, and the type to parse back.
_LABELS: dict[str, tuple[str, type]] = {
    "num_inference_steps": ("Steps", int),
    "sampler": ("Sampler", str),
    "guidance_scale": ("CFG scale", float),
    "image_guidance_scale": ("Image CFG scale", float),
    "seed": ("Seed", int),
    "model": ("Model", str),
    "strength": ("Denoising strength", float),
    "mode": ("Edit mode", str),
    "instruction": ("Instruction", str),
    "rewriter": ("Rewriter", str),
    "source_prompt": ("Source prompt", str),
}
_FIELDS_BY_LABEL = {label: (name, kind) for name, (label, kind) in _LABELS.items()}
_TEXT_FIELDS = ("prompt", "negative_prompt", "width", "height")

# One `Label: value` pair; a value is a JSON string or runs to the next comma.
_PAIR = re.compile(r'\s*([\w ./+\-()]+?):\s*("(?:\\.|[^\\"])*"|[^,]*)(?:,|$)')
_NEGATIVE_PREFIX = "Negative prompt:"


def _quote(value) -> str:
    text = str(value)
    return json.dumps(text) if re.search(r'[,:"\n]', text) else text


def format_parameters(parameters: dict) -> str:
    """Return the A1111-style text for a parameters dict (keys as in `GeneratedImage.parameters`).

    Keys without an A1111 label are written under their own name; None values are left out.
    """
    lines = [str(parameters.get("prompt", ""))]
    if parameters.get("negative_prompt"):
        lines.append(f"{_NEGATIVE_PREFIX} {parameters['negative_prompt']}")
    pairs = []
    for name, value in parameters.items():
        if name in _TEXT_FIELDS or value is None:
            continue
        label = _LABELS[name][0] if name in _LABELS else name
        pairs.append(f"{label}: {_quote(value)}")
    if parameters.get("width") and parameters.get("height"):
        # A1111 writes Size right after Seed.
        after_seed = next((i + 1 for i, pair in enumerate(pairs) if pair.startswith("Seed:")), None)
        size = f"Size: {parameters['width']}x{parameters['height']}"
        pairs.insert(after_seed if after_seed is not None else len(pairs), size)
    lines.append(", ".join(pairs))
    return "\n".join(lines)


def _parse_value(raw: str, kind: type):
    raw = raw.strip()
    if raw.startswith('"'):
        raw = json.loads(raw)
    if kind is str:
        return raw
    try:
        return kind(raw)
    except ValueError:
        return raw


def parse_parameters(text: str) -> dict:
    """Return the parameters dict encoded in A1111-style `text` (the inverse of format_parameters).

    Unknown labels are kept under their label; a text without a settings line becomes a
    prompt only.
    """
    lines = text.strip("\n").split("\n")
    settings_line = lines[-1] if lines else ""
    # A1111's rule: the last line is the settings line when it holds at least 3 pairs.
    pairs = _PAIR.findall(settings_line)
    if len(pairs) >= 3:
        lines = lines[:-1]
    else:
        pairs = []
    prompt_lines, negative_lines, in_negative = [], [], False
    for line in lines:
        if line.startswith(_NEGATIVE_PREFIX):
            in_negative = True
            line = line[len(_NEGATIVE_PREFIX) :].strip()
        (negative_lines if in_negative else prompt_lines).append(line)
    parameters: dict = {"prompt": "\n".join(prompt_lines)}
    if negative_lines:
        parameters["negative_prompt"] = "\n".join(negative_lines)
    for label, raw in pairs:
        label = label.strip()
        if label == "Size":
            width, _, height = raw.strip().partition("x")
            parameters["width"], parameters["height"] = int(width), int(height)
        elif label in _FIELDS_BY_LABEL:
            name, kind = _FIELDS_BY_LABEL[label]
            parameters[name] = _parse_value(raw, kind)
        else:
            parameters[label] = _parse_value(raw, str)
    return parameters


def save_png(image: Image.Image, path: str | Path, parameters: dict) -> Path:
    """Save `image` as PNG at `path` with the `parameters` text chunk; return the path."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise InputError(f"{path}: images are saved as PNG; give a file name ending in .png.")
    info = PngImagePlugin.PngInfo()
    info.add_text(PARAMETERS_KEY, format_parameters(parameters))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG", pnginfo=info)
    return path


def read_parameters(image_or_path: Image.Image | str | Path) -> dict | None:
    """Return the parameters stored in a PNG (path or opened image), or None if it has none."""
    if isinstance(image_or_path, Image.Image):
        text = image_or_path.info.get(PARAMETERS_KEY)
    else:
        with Image.open(image_or_path) as image:
            text = image.info.get(PARAMETERS_KEY)
    return parse_parameters(text) if text else None
