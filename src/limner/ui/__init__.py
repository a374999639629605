"""The web UI (`limner ui`): run the agent and watch it, browse runs, see the performance matrix.

Gradio is an optional extra (`pip install 'limner[ui]'`); `limner.ui.views` (what the pages show) needs only
limner's own dependencies. See docs/ui.md.
"""
