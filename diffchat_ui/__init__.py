"""The Gradio app. Tab callbacks are thin adapters from widgets to `core` and `train` calls."""
