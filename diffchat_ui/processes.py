"""Child processes the UI runs (evaluation, training), streamed line by line with Stop."""

from __future__ import annotations

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

    tqdm redraws with carriage returns: each redraw is treated as its own line. Setting
    `stop_flag` sends SIGINT (the command saves and exits), then SIGTERM after 30 s.
    """
    process = subprocess.Popen(
        command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
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
    while True:
        finished = reader_done.wait(0.5)
        with lock:
            new, pending[:] = list(pending), []
        for line in new:
            match = _PROGRESS.search(line)
            if match and ("%|" in line or "it/s" in line or "s/it" in line):
                done_total = (int(match.group(1)), int(match.group(2)))
                if lines and _PROGRESS.search(lines[-1]) and "%|" in lines[-1]:
                    lines[-1] = line  # a tqdm redraw replaces the previous bar
                    continue
            lines.append(line)
        if stop_flag.is_set() and interrupted_at is None:
            process.send_signal(signal.SIGINT)
            interrupted_at = time.monotonic()
        if interrupted_at and time.monotonic() - interrupted_at > 30 and process.poll() is None:
            process.terminate()
        if finished:
            yield lines[-LOG_LINES:], done_total, process.wait()
            return
        yield lines[-LOG_LINES:], done_total, None
