"""DiffChat core library: prompt rewriting, image generation and editing, sessions, scoring.

Usable without the UI. Nothing in `core` imports `diffchat_ui` or `train`.
"""
