"""Child processes the UI runs (evaluation, training), streamed line by line with Stop."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

from core.paths import REPO_ROOT

_PROGRESS = re.compile(r"(\d+)/(\d+)")
LOG_LINES = 200


def stream_process(command: list[str], stop_flag: threading.Event, cwd: Path = REPO_ROOT):
    """Run `command`, yielding (log lines so far, (done, total) or None, return code or None).

    tqdm redraws with carriage returns: each redraw replaces the previous bar line, so
    the log keeps one bar and the other lines. Setting `stop_flag` sends SIGINT (the
    command saves and exits), then SIGTERM after 30 s.
    """
    # Unbuffered: a piped Python child would otherwise hold its log back in 8 KB blocks.
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    lines: list[str] = []
    done_total = None
    reader_done = threading.Event()
    pending: list[str] = []
    lock = threading.Lock()

    def read() -> None:
        buffer = ""
        while chunk := process.stdout.read(1):
            if chunk in "\r\n":
                if buffer.strip():
                    with lock:
                        pending.append(buffer)
                buffer = ""
            else:
                buffer += chunk
        if buffer.strip():
            with lock:
                pending.append(buffer)
        reader_done.set()

    threading.Thread(target=read, daemon=True).start()
    interrupted_at = None
    bar_index = None  # where the latest progress-bar line sits in `lines`
    while True:
        finished = reader_done.wait(0.5)
        with lock:
            new, pending[:] = list(pending), []
        for line in new:
            match = _PROGRESS.search(line)
            if match and ("%|" in line or "it/s" in line or "s/it" in line):
                done_total = (int(match.group(1)), int(match.group(2)))
                if bar_index is not None:
                    del lines[bar_index]  # a progress-bar redraw replaces the previous one
                bar_index = len(lines)
            lines.append(line)
        if len(lines) > 2 * LOG_LINES:
            dropped = len(lines) - LOG_LINES
            del lines[:dropped]
            bar_index = (
                bar_index - dropped if bar_index is not None and bar_index >= dropped else None
            )
        if stop_flag.is_set() and interrupted_at is None:
            process.send_signal(signal.SIGINT)
            interrupted_at = time.monotonic()
        if interrupted_at and time.monotonic() - interrupted_at > 30 and process.poll() is None:
            process.terminate()
        if finished:
            yield lines[-LOG_LINES:], done_total, process.wait()
            return
        yield lines[-LOG_LINES:], done_total, None
