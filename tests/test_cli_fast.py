"""``blobbotronic --help`` and ``blobbotronic COMMAND --help`` start at once: building the parser and printing any
command's help import none of the heavy modules (torch, numpy, matplotlib, ...). Each command imports them inside
the function that runs it (see COMMAND_MODULES in cli.py). Checked by what is imported, never by a timing."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "numpy", "scipy", "pandas", "matplotlib", "sklearn", "PIL", "safetensors")

# In a fresh interpreter: the top-level help, then every command's help, noting after each which heavy
# modules had been imported by then.
PROBE = f"""
import contextlib, io, json, sys
from blobbotronic.cli import build_parser, main

heavy = {HEAVY!r}
def loaded():
    return sorted({{m.split(".")[0] for m in sys.modules}} & set(heavy))

seen = {{}}
commands = sorted(build_parser().parse_known_args([])[0].subcommands)
for argv in [["--help"]] + [[c, "--help"] for c in commands]:
    with contextlib.redirect_stdout(io.StringIO()) as out:
        try:
            main(argv)
        except SystemExit:
            pass
    seen[" ".join(argv)] = {{"heavy": loaded(), "printed": "usage: blobbotronic" in out.getvalue()}}
print(json.dumps({{"commands": commands, "seen": seen}}))
"""


def test_help_imports_no_heavy_module():
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert len(found["commands"]) >= 12, found["commands"]
    for argv, what in found["seen"].items():
        assert what["printed"], f"'blobbotronic {argv}' printed no usage"
        assert what["heavy"] == [], f"'blobbotronic {argv}' imported {what['heavy']}: import them in the command"


def test_every_command_in_the_parser_has_a_runner():
    from blobbotronic.cli import COMMANDS, build_parser

    names = set(build_parser().parse_known_args([])[0].subcommands)
    assert names == set(COMMANDS), names ^ set(COMMANDS)


def test_the_log_flag_offers_the_trackers_train_logging_writes_to():
    from blobbotronic.train import logging
    from blobbotronic.train_flags import LOGGERS

    assert LOGGERS == logging.LOGGERS
