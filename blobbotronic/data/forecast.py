"""Forecasting data: windows over a series, walk-forward splits, built-in price and count series."""
