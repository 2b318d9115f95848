"""Models for text and tagging: glyph CNN+LSTM, per-token taggers."""
