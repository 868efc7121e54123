"""What a browser may fetch: one short list.

Gradio serves `/gradio_api/file=PATH` for files under `allowed_paths`, in its own cache, or
uploaded. The only workspace folder on the list is WORKSPACE/public (turn images of chat
sessions, under unguessable per-session folder names). Databases, logs, JSON records,
comparisons, evaluations and training runs are not on it; the few images a page shows from
them (comparison candidates, evaluation plots) are handed to Gradio as decoded images, which it
copies into its cache under a content hash: that copy is all a browser can fetch, and its name
does not reveal which method made a candidate.
"""

from __future__ import annotations

from pathlib import Path

from diffchat_ui.sessions import PUBLIC_FOLDER


def served_folders(workspace: Path) -> list[str]:
    """Return the launch(allowed_paths=...) list: WORKSPACE/public, created if missing."""
    public = Path(workspace) / PUBLIC_FOLDER
    public.mkdir(parents=True, exist_ok=True)
    return [str(public)]


def page_image(path: str | Path | None):
    """Return the image file at `path` decoded (a PIL image) for a page, or None for None."""
    if path is None:
        return None
    from PIL import Image

    with Image.open(path) as image:
        image.load()
        return image.copy()


def page_gallery(items: list[tuple]) -> list[tuple]:
    """Return gallery items (path, caption) with each image decoded by `page_image`."""
    return [(page_image(path), caption) for path, caption in items]


def as_uploaded(message: str, upload_path: str | Path | None) -> str:
    """Return `message` with an upload's server path (in Gradio's cache, fetchable by whoever
    has it) replaced by the file name the person uploaded, and a file beside it (an image a
    session file names) by its name too: Gradio keeps each upload in a folder of its own,
    named by a hash of its bytes."""
    if not upload_path:
        return message
    upload = Path(upload_path)
    message = message.replace(str(upload), upload.name)
    if upload.is_absolute() and len(upload.parent.parts) > 1:
        message = message.replace(f"{upload.parent}/", "")
    return message
