"""Video data: reading clips and frame folders, and the generators with honest physics."""
