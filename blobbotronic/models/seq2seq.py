"""Encoder-decoder models for translation: recurrent with attention, convolutional, transformer."""
