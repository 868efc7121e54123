"""The apps tests start stay off the port of `make run`."""

from __future__ import annotations

from urllib.parse import urlsplit

import gradio as gr
from app_fixtures import local_launch_options

GRADIO_PORTS = range(7860, 7960)  # where Gradio looks for a free port when given none


def test_a_test_app_listens_on_127_0_0_1_on_a_port_the_os_picked():
    """Test apps let Gradio take the first free port from 7860: a developer's `make run`
    (7860) pushed them to 7861, and with 7860 free a test took the developer's port."""
    demos = []
    for _ in range(2):
        with gr.Blocks() as demo:
            gr.Markdown("a test app")
        demos.append(demo)
    try:
        addresses = [urlsplit(demo.launch(**local_launch_options())[1]) for demo in demos]
    finally:
        for demo in demos:
            demo.close()
    assert [address.hostname for address in addresses] == ["127.0.0.1", "127.0.0.1"]
    ports = [address.port for address in addresses]
    assert ports[0] != ports[1] and not set(ports) & set(GRADIO_PORTS)
