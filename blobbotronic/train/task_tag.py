"""The tag task: per-token classification with entity-level precision, recall and F1."""
