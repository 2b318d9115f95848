"""Report: pure functions from stored rows to tables and plots, rendered as self-contained HTML and Markdown."""

from .render import render

__all__ = ["render"]
