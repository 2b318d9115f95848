"""Claims: one small declarative module per claim of the primer, each a grid plus a predicate."""
