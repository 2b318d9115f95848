"""Sequence-to-sequence data: date strings as people write them, to ISO 8601."""
