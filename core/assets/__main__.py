"""`python -m core.assets fetch [--force] [--only STEP ...]`: install the offline model set.

`python -m core.assets download NAME [--variant auto|fp16|fp32]`: download a registry
model's weights from the Hugging Face Hub (only what the loader reads), with a progress bar.
"""

from __future__ import annotations

import argparse
import sys

from core.assets import STEPS, fetch_all
from core.errors import DiffChatError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.assets", description=__doc__)
    sub = parser.add_subparsers(dest="action", required=True)
    fetch = sub.add_parser("fetch", help="install what is missing (idempotent)")
    fetch.add_argument("--force", action="store_true", help="rebuild even when present")
    fetch.add_argument("--only", nargs="+", choices=STEPS, default=list(STEPS), help="steps to run")
    download = sub.add_parser("download", help="download a registry model from the hub")
    download.add_argument("name", help="registry name, e.g. sd15, sd-turbo, lcm-sdxl")
    download.add_argument(
        "--variant",
        choices=("auto", "fp16", "fp32"),
        default="auto",
        help="weights to fetch: fp16 on a GPU, fp32 on a CPU (auto), or as given",
    )
    args = parser.parse_args(argv)
    try:
        if args.action == "download":
            return _download(args.name, args.variant)
        for line in fetch_all(force=args.force, steps=tuple(args.only)):
            print(line)
    except DiffChatError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def _download(name: str, variant: str) -> int:
    from tqdm import tqdm

    from core.assets.download import download_model

    bars = []  # made on the first bytes, so a refused download prints no empty bar

    def progress(done: int, total: int) -> None:
        if not bars:
            bars.append(tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=name))
        bars[0].update(done - bars[0].n)

    try:
        fetched = download_model(name, {"auto": None, "fp32": ""}.get(variant, variant), progress)
    finally:
        for bar in bars:
            bar.close()
    print(
        f"{name}: {'downloaded ' + f'{fetched / 1e6:.1f} MB' if fetched else 'already downloaded'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
