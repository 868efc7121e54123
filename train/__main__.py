"""`python -m train STAGE [options]`: run one training stage (data, sft, rm, ppo).

Each stage module exposes `main(argv) -> int`; `python -m train STAGE --help` lists its options.
Wrap with `accelerate launch -m train STAGE ...` for several processes or GPUs.
"""

from __future__ import annotations

import importlib
import sys

from core.cli import accept_interrupts
from core.errors import DiffChatError

STAGES = {
    "data": "train.data_cli",
    "sft": "train.sft",
    "rm": "train.reward_model",
    "ppo": "train.ppo",
    "evaluate-rewriter": "train.evaluate_rewriter",
}


def main(argv: list[str]) -> int:
    accept_interrupts()  # the app's Stop is a SIGINT (see core.cli.accept_interrupts)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in STAGES:
        print(__doc__)
        print("stages: " + ", ".join(STAGES))
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    module = importlib.import_module(STAGES[argv[0]])
    try:
        return int(module.main(argv[1:]) or 0)
    except DiffChatError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
