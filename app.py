"""DiffChat Studio: `python app.py` (or `make run`) starts the Gradio app.

Binds 127.0.0.1 unless --host says otherwise. First it builds what is missing of the
offline set. With no real weights it starts on the offline set and says so in a banner;
when the hub is reachable the banner offers the default image model (SD 1.5 on a GPU, the
fastest few-step model on a CPU) with a Download button and a progress bar, and the app
switches to it without a restart. On Hugging Face Spaces (SPACE_ID set), where nobody
watches the first start, that model is downloaded before the UI opens instead.
`--no-download` does neither. Spaces runs this file as is (README front matter; HF_HOME on
/data when the Space has persistent storage).
"""

from __future__ import annotations

import argparse
import atexit
import logging
import os
import signal
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


# Where a login comes from, in refusals: never the text itself (it may hold a password).
AUTH_OPTION = "--auth (or DIFFCHAT_AUTH)"
AUTH_FILE_OPTION = "--auth-file (or DIFFCHAT_AUTH_FILE)"


def parse_login(text: str, where: str) -> tuple[str, str]:
    """Return (user, password) from "user:password"; the password is all after the first
    colon (it may hold colons). Refuses other shapes with a message naming `where`, never the
    text."""
    user, sep, password = text.strip().partition(":")
    user = user.strip()
    if not sep:
        raise SystemExit(f"{where}: expected user:password, found no colon")
    if not user:
        raise SystemExit(f"{where}: the user name before the colon is empty")
    if not password:
        raise SystemExit(f"{where}: the password after the colon is empty")
    return user, password


def logins_from_values(values: list[str]) -> list[tuple[str, str, str]]:
    """Return (where, user, password) for each login of the --auth values, each one
    "user:password" or a comma-separated list of them (a password with a comma goes in an
    --auth-file)."""
    entries = [entry for value in values for entry in value.split(",")]
    logins = []
    for number, entry in enumerate(entries, 1):
        where = f"{AUTH_OPTION} login {number}"
        if not entry.strip():
            raise SystemExit(f"{where} is empty (logins are user:password, comma-separated)")
        logins.append((where, *parse_login(entry, where)))
    return logins


def logins_from_file(path: str) -> list[tuple[str, str, str]]:
    """Return (where, user, password) for each "user:password" line of the file at `path`;
    blank lines and lines starting with # are skipped, a file with no login is refused."""
    if not path.strip():  # `--auth-file "$UNSET"` must not start the app without a login
        raise SystemExit(f"{AUTH_FILE_OPTION}: the path is empty")
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as error:
        raise SystemExit(
            f"{AUTH_FILE_OPTION} {path}: cannot read it ({error.strerror or error})"
        ) from None
    except UnicodeDecodeError:
        raise SystemExit(f"{AUTH_FILE_OPTION} {path}: not UTF-8 text") from None
    if os.name == "posix" and Path(path).stat().st_mode & 0o077:
        logging.getLogger("diffchat").warning(
            "%s %s can be read by other users of this machine; `chmod 600 %s` keeps the "
            "passwords to you",
            AUTH_FILE_OPTION,
            path,
            path,
        )
    logins = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip() and not line.strip().startswith("#"):
            where = f"{AUTH_FILE_OPTION} {path} line {number}"
            logins.append((where, *parse_login(line, where)))
    if not logins:
        raise SystemExit(f"{AUTH_FILE_OPTION} {path}: no user:password line in it")
    return logins


def collect_logins(args: argparse.Namespace) -> list[tuple[str, str]] | None:
    """Return the (user, password) logins of --auth and --auth-file together, as launch()
    takes them; None when neither is given (no login). A user name given twice is refused."""
    logins = logins_from_values(args.auth or [])
    if args.auth_file is not None:
        logins += logins_from_file(args.auth_file)
    first_given: dict[str, str] = {}
    for where, user, _ in logins:
        if user in first_given:
            raise SystemExit(
                f"{where}: user {user!r} is given twice (first at {first_given[user]})"
            )
        first_given[user] = where
    return [(user, password) for _, user, password in logins] or None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Return the command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--host",
        default=os.environ.get("DIFFCHAT_HOST", "127.0.0.1"),
        help="address to bind (default 127.0.0.1; 0.0.0.0 for a LAN or Spaces)",
    )
    parser.add_argument("--port", type=int, default=int(os.environ.get("DIFFCHAT_PORT", 7860)))
    parser.add_argument("--share", action="store_true", help="open a public gradio.live link")
    parser.add_argument(
        "--auth",
        action="append",
        metavar="USER:PASSWORD[,USER:PASSWORD...]",
        help="require a login: one or more user:password, comma-separated; may be given more "
        "than once (or DIFFCHAT_AUTH)",
    )
    parser.add_argument(
        "--auth-file",
        default=os.environ.get("DIFFCHAT_AUTH_FILE") or None,
        metavar="PATH",
        help="require a login: a file of user:password lines, blank lines and # comments "
        "skipped, so passwords stay out of shell history and ps (or DIFFCHAT_AUTH_FILE)",
    )
    from diffchat_ui.settings import DEFAULT_CONCURRENCY

    parser.add_argument(
        "--concurrency",
        type=int,
        default=DEFAULT_CONCURRENCY,
        help="how many requests the queue handles at once (model jobs still run one at a time)",
    )
    parser.add_argument(
        "--offline",
        action="store_true",
        help="use the offline model set even when real weights are cached",
    )
    parser.add_argument(
        "--no-download",
        action="store_true",
        default=bool(os.environ.get("DIFFCHAT_NO_DOWNLOAD")),
        help="never download the default image model, nor offer it in the banner "
        "(or DIFFCHAT_NO_DOWNLOAD=1)",
    )
    args = parser.parse_args(argv)
    # The environment stands in for --auth only when the command line gives none.
    if args.auth is None and os.environ.get("DIFFCHAT_AUTH"):
        args.auth = [os.environ["DIFFCHAT_AUTH"]]
    return args


def stop_on_signals() -> None:
    """Make SIGTERM (how a service manager, `docker stop` or Spaces ends the app) stop it
    the way Ctrl-C does, and either signal do so once.

    Python's default for SIGTERM ends the process on the spot: neither Gradio's shutdown
    (which empties its upload cache, `layout.cache_lifetime`) nor the atexit clean-up of API
    clients' sessions ran. Now the first SIGTERM or SIGINT raises KeyboardInterrupt in the
    main thread, where launch() closes the server and returns; later ones are ignored, so
    they cannot cut that clean-up short.
    """

    def stop(signum, frame):
        for each in (signal.SIGTERM, signal.SIGINT):
            signal.signal(each, signal.SIG_IGN)
        logging.getLogger("diffchat").info("%s: shutting down", signal.Signals(signum).name)
        raise KeyboardInterrupt

    for each in (signal.SIGTERM, signal.SIGINT):
        signal.signal(each, stop)


def main(argv: list[str] | None = None) -> None:
    """Build and launch the app (blocks until Ctrl-C)."""
    args = parse_args(argv)
    if args.concurrency < 1:
        raise SystemExit("--concurrency must be at least 1")
    auth = collect_logins(args)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from core.errors import RedactingFilter

    for handler in logging.getLogger().handlers:  # httpx logs request URLs, credentials included
        handler.addFilter(RedactingFilter())
    from core.assets import startup

    # Before anything imports huggingface_hub (it reads HF_HOME once).
    startup.use_persistent_storage()
    startup.build_offline_set()
    download = not (args.offline or args.no_download)
    if download and os.environ.get("SPACE_ID"):
        startup.download_default_model()
    if os.environ.get("SPACE_ID") and args.host == "127.0.0.1":
        args.host = "0.0.0.0"  # Spaces routes traffic to the container, not to localhost

    from diffchat_ui.context import AppContext
    from diffchat_ui.layout import build_demo, launch_options, queue
    from diffchat_ui.settings import detect_settings

    # Elsewhere the banner offers the download: the UI opens at once, the person sees the size.
    settings = detect_settings(
        force_offline=args.offline, concurrency=args.concurrency, offer_download=download
    )
    logging.getLogger("diffchat").info(
        "model set: %s", "offline (tiny models)" if settings.offline else "real weights"
    )
    if auth:
        logging.getLogger("diffchat").info(
            "login required: %d user(s): %s", len(auth), ", ".join(user for user, _ in auth)
        )
    from core.errors import DiffChatError

    try:
        context = AppContext(settings, login_required=bool(auth))
    except DiffChatError as error:  # a damaged server key: the sentence says what to do
        raise SystemExit(str(error)) from None
    # On shutdown the chats of API clients go; browser-held ones stay for the next start.
    atexit.register(context.sessions.close)
    stop_on_signals()
    demo = queue(build_demo(context), args.concurrency)
    demo.launch(
        server_name=args.host,
        server_port=args.port,
        share=args.share,
        auth=auth,
        **launch_options(context),
        show_error=False,
    )
    finish_shutdown(demo)


def finish_shutdown(demo, timeout: float = 60.0) -> None:
    """After Ctrl-C or SIGTERM (launch() has returned), let the server's own shutdown finish:
    Gradio empties its upload cache there. launch() only asks the server to stop and waits 5 s;
    an open event stream (a client's heartbeat) outlived that wait, and the process then
    exited with the cache still full. close() ends the streams; then the server thread is
    given `timeout` to end."""
    demo.close(verbose=False)
    server = getattr(demo, "server", None)
    thread = getattr(server, "thread", None)
    if thread is not None and thread.is_alive():
        thread.join(timeout)


if __name__ == "__main__":
    main()
