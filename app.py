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

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """Return (user, password) from "user:pass"; None for no auth. Refuses other shapes."""
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise SystemExit("--auth (or DIFFCHAT_AUTH) must look like user:password")
    return user, password


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
        default=os.environ.get("DIFFCHAT_AUTH"),
        help="user:password to require a login (or DIFFCHAT_AUTH)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=2,
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
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Build and launch the app (blocks until Ctrl-C)."""
    args = parse_args(argv)
    if args.concurrency < 1:
        raise SystemExit("--concurrency must be at least 1")
    auth = parse_auth(args.auth)
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
    context = AppContext(settings)
    # On shutdown the chats of API clients go; browser-held ones stay for the next start.
    atexit.register(context.sessions.close)
    demo = queue(build_demo(context), args.concurrency)
    demo.launch(
        server_name=args.host,
        server_port=args.port,
        share=args.share,
        auth=auth,
        **launch_options(context),
        show_error=False,
    )


if __name__ == "__main__":
    main()
