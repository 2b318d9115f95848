"""The training settings as command-line flags: one definition for every command that trains.

``training_settings(sp)`` adds the flags that become TrainConfig settings (every one defaults to None:
not given, so the model family's or the policy's default holds); ``settings_of(args)`` reads back those
that were given, as TrainConfig keywords. ``training_flags(sp)`` is ``train``'s whole set: the settings
plus its seed, budget, device and quiet. ``compare`` adds the settings next to its own seeds and budget;
``log_flags(sp)`` adds ``--log`` to both. Nothing here imports the command line, so both cli.py and
compare/commands.py can import it, and nothing heavy, so that building the parser stays fast.
"""

from __future__ import annotations

import argparse
from typing import Any

# the TrainConfig settings that training_settings() adds, in the order of their flags
SETTINGS = ("batch_size", "lr", "weight_decay", "adversarial", "pretrain", "average", "patience", "threads", "compile",
            "channels_last")


def training_settings(sp: argparse.ArgumentParser) -> None:
    """The flags of the training settings (SETTINGS), shared by ``train`` and ``compare``."""
    step_flags(sp)
    compile_flags(sp)


def step_flags(sp: argparse.ArgumentParser) -> None:
    """How each run trains: batch size, learning rate, text extras, averaging, stopping and threads."""
    sp.add_argument("--batch-size", type=int, help="examples per step (default: min(100, max(16, training set / 8)))")
    sp.add_argument("--lr", type=float, help="learning rate (default: the model family's)")
    sp.add_argument("--weight-decay", type=float, metavar="WD",
                    help="AdamW's decoupled weight decay (default: the model family's, 0 for most, 1.0 for text)")
    sp.add_argument("--adversarial", type=float, metavar="EPS",
                    help="text: adversarial training, each batch also trained with its token vectors pushed up the "
                         "loss gradient by EPS of their size (0.02 suits; twice the time per step; default: off)")
    sp.add_argument("--pretrain", type=int, metavar="STEPS",
                    help="text: first train the model's embeddings (and its LSTM) to predict the next token for STEPS "
                         "steps, on the training texts and the data set's unlabelled corpus (default: a preset's, "
                         "else 0)")
    sp.add_argument("--average", type=float, metavar="DECAY",
                    help="weight averaging: judge, keep and test a moving average of the weights, DECAY per step "
                         "(0.99: about the last 100 steps; default: a preset's, else off)")
    sp.add_argument("--patience", type=int,
                    help="validation checks without improvement before stopping (default 10; under the policy the "
                         "learning rate halves every N/2 such checks, twice, before the stop); 0 turns it off")
    sp.add_argument("--threads", type=int,
                    help="CPU threads per run (default: train uses the cores no other process is busy on, up to 8; "
                         "compare 1 per worker)")


def compile_flags(sp: argparse.ArgumentParser) -> None:
    """How the model is run: torch.compile and the memory layout of 2-D convolutions."""
    sp.add_argument("--compile", action="store_true", default=None,
                    help="torch.compile the model for training (compile time reported apart; off by default: "
                         "on a CPU it did not pay for these small models)")
    sp.add_argument("--no-channels-last", dest="channels_last", action="store_false", default=None,
                    help="keep 2-D convolutions in PyTorch's default layout (channels-last is the default: "
                         "1.2-1.4x faster steps for the 2-D CNNs measured on a CPU)")


def training_flags(sp: argparse.ArgumentParser) -> None:
    """``train``'s flags: its seed and budget, the training settings, the device and quiet."""
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--budget", help="'6000 steps', '30 epochs' or '60s' (default: the training policy, which trains "
                    "until the validation curve plateaus, up to a cap; see the README)")
    step_flags(sp)
    sp.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    sp.add_argument("--quiet", action="store_true", help="no progress bar")
    compile_flags(sp)


# the experiment trackers of ``--log`` (train/logging.py writes to them; that module imports torch, so the
# flags are defined here, where building the parser imports nothing heavy)
LOGGERS = ("tensorboard", "mlflow")


def log_flags(sp: argparse.ArgumentParser) -> None:
    """``--log tensorboard|mlflow`` and ``--log-dir DIR`` for a training command."""
    sp.add_argument("--log", choices=LOGGERS, help="log parameters, metrics and curves to TensorBoard or MLflow")
    sp.add_argument("--log-dir", metavar="DIR", help="where logs go (default: blobbotronic-out/tensorboard; "
                                                     "for MLflow $MLFLOW_TRACKING_URI, else ./mlflow.db)")


def data_option_flag(sp: argparse.ArgumentParser, every: bool = False) -> None:
    """``--data-option KEY=VALUE`` (repeatable); ``every``: the command reads several data sets, all alike."""
    what = "every data set" if every else "the data"
    sp.add_argument("--data-option", action="append", metavar="KEY=VALUE",
                    help=f"an option for reading {what}, e.g. task=forecast target=close (repeatable)")


def settings_of(args: argparse.Namespace) -> dict[str, Any]:
    """The training settings given as flags, as TrainConfig keywords (flags not given are left out)."""
    return {k: getattr(args, k) for k in SETTINGS if getattr(args, k, None) is not None}
