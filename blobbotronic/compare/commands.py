"""Command-line verbs of blobbotronic.compare."""


def register(add) -> None:
    """Add this module's sub-commands: ``sp = add(name, help)`` returns an argparse sub-parser."""
