"""Compare: run a grid of data sets x models x seeds under one budget, store rows, compute statistics."""
