"""`python -m bench [NAME ...]`: run CPU benchmarks, then rebuild BENCHMARKS.md."""

from __future__ import annotations

import importlib
import platform
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
BENCHMARKS_MD = BENCH_DIR.parent / "BENCHMARKS.md"


def machine_description() -> str:
    """Return a one-line description of this machine for result headers."""
    import os

    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} cores, {device}, "
        f"Python {platform.python_version()}, torch {torch.__version__}"
    )


def write_result(name: str, markdown: str) -> Path:
    """Write one benchmark's Markdown section to bench/results/<name>.md and return the path."""
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{name}.md"
    path.write_text(markdown.rstrip() + "\n")
    return path


def rebuild_benchmarks_md() -> None:
    """Concatenate every bench/results/*.md into BENCHMARKS.md."""
    sections = [p.read_text() for p in sorted(RESULTS_DIR.glob("*.md"))]
    header = (
        "# Benchmarks\n\nRatios are taken within one run (these machines are noisy). "
        "Each section names the machine it ran on. Regenerate with `make bench`; GPU sections "
        "come from `bench/*_gpu.py` run on a lent GPU machine.\n"
    )
    BENCHMARKS_MD.write_text(header + "\n" + "\n".join(sections))


def main(argv: list[str]) -> int:
    modules = sorted(p.stem for p in BENCH_DIR.glob("bench_*.py"))
    selected = [m for m in modules if not argv or m.removeprefix("bench_") in argv]
    for name in selected:
        print(f"== {name}", flush=True)
        importlib.import_module(f"bench.{name}").main()
    rebuild_benchmarks_md()
    print(f"wrote {BENCHMARKS_MD}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
