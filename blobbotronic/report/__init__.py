"""Report: pure functions from stored rows to tables and plots, rendered as self-contained HTML and Markdown."""
