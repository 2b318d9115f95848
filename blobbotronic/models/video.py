"""Video models: per-frame CNN, CRNN (CNN per frame + RNN over time), 3-D CNN, ConvLSTM."""
