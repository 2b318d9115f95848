"""Explain: filters, feature maps, saliency, memory curves and memory horizons."""
