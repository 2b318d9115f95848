"""The command line behaves alike everywhere: --json errors are JSON, unknown flags show the sub-command's usage,
a closed pipe exits quietly, --quiet and --debug are accepted by every command."""

import json
import subprocess
import sys

import pytest

from blobbotronic.cli import build_parser, main


def test_an_error_under_json_is_one_json_object(capsys):
    assert main(["train", "--data", "no_such_set", "--model", "mlp", "--json"]) == 2
    out = capsys.readouterr().out
    assert json.loads(out)["error"].startswith("'no_such_set' is neither") and out.count("\n") == 1


def test_a_usage_mistake_under_json_is_one_json_object(capsys):
    assert main(["models", "--json", "--no-such-flag"]) == 2
    err = json.loads(capsys.readouterr().out)
    assert "--no-such-flag" in err["error"] and "blobbotronic models" in err["error"] and err["exit_code"] == 2


def test_an_unknown_flag_prints_the_sub_commands_usage(capsys):
    assert main(["train", "--data", "xor", "--model", "mlp", "--bogus"]) == 2
    err = capsys.readouterr().err
    assert "usage: blobbotronic train" in err and "unrecognized arguments: --bogus" in err


@pytest.mark.parametrize("command", ["datasets", "models", "train", "compare", "evaluate", "predict", "explain",
                                     "claims", "report", "export", "inspect", "demo"])
def test_every_command_takes_json_quiet_and_debug(command):
    sub = build_parser().parse_known_args([])[0].subcommands[command]
    flags = {s for a in sub._actions for s in a.option_strings}
    assert {"--json", "--quiet", "--debug"} <= flags, command


def test_debug_before_the_command_is_not_undone_by_the_command():
    args = build_parser().parse_args(["--debug", "models"])
    assert args.debug is True


def test_a_closed_pipe_exits_quietly():
    code = ("import os, sys; r, w = os.pipe(); os.close(r); os.dup2(w, 1); "
            "from blobbotronic.cli import main; sys.exit(main(['models', '--json']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stderr == ""
