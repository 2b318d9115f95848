"""Honest generators for long-lag memory tasks: the adding problem and the temporal-order problem."""
