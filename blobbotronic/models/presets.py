"""Presets: named settings of registered models (model, parameters, training settings), measured, not guessed.

A preset adds no model and no schema: it is a registered model's name, values for its constructor's
parameters (validated against that model's signature when the preset is registered) and training
settings (TrainConfig fields). ``create(PRESET, spec)`` builds the model with the preset's parameters
and makes its optimiser settings the model's defaults; ``train(data, PRESET)`` also applies its budget
and batch size. Settings the caller gives explicitly always win.

Presets whose name starts with a data set were tuned on that data set (the budget counts its samples).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ..data.spec import Spec
from ..errors import BlobError
from ..registry import Registry
from . import MODELS, resolve_params

PRESETS = Registry("preset")
# what a model's train_defaults can carry: create() puts a preset's values there, so they hold wherever the model
# trains (compare included) unless the run's config says otherwise
OPTIMISER_KEYS = ("lr", "weight_decay", "schedule", "clip", "adversarial", "pretrain", "average")
# the shape parameter counts are quoted on: MNIST-1D (40 steps of 1 value, 10 classes)
COUNT_SPEC = Spec("mnist1d", "sequence", "classify", (40, 1), 10, classes=[str(i) for i in range(10)])


@dataclass(frozen=True)
class Preset:
    """A registered model with chosen parameters and training settings; ``about`` says where its numbers come from."""

    name: str
    model: str
    params: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    about: str = ""
    data: str | None = None  # the data set it was tuned on, if any

    def optimiser(self) -> dict[str, Any]:
        return {k: v for k, v in self.train.items() if k in OPTIMISER_KEYS}


def preset(name: str, model: str, params: dict[str, Any] | None = None, *, about: str, data: str | None = None,
           **train: Any) -> Preset:
    """Register a preset; its parameters are checked now, not at first use. Its training settings are checked
    against TrainConfig when a run uses them (``configure``), and for every registered preset by
    tests/test_presets.py: models sit below train, so registering a model does not import the training loop."""
    if name in MODELS:
        raise ValueError(f"preset {name!r} would hide the model of the same name")
    resolve_params(model, params)  # unknown or ill-typed parameters fail at import, in tests
    p = Preset(name, model, dict(params or {}), train, about, data)
    PRESETS.register(name, model=model, family=MODELS.tags(model).get("family", ""), data=data)(p)
    return p


def resolve(name: str, params: dict[str, Any] | None = None) -> tuple[str, dict[str, Any], Preset | None]:
    """(model name, parameters, preset or None): a preset's parameters under the caller's."""
    if name in MODELS or name not in PRESETS:
        return name, dict(params or {}), None
    p = PRESETS.get(name)
    return p.model, {**p.params, **(params or {})}, p


def training_settings() -> set[str]:
    """The TrainConfig fields a preset may set (not the seed, device, progress or threads of one run)."""
    from ..train.loop import TrainConfig

    return {f.name for f in dataclasses.fields(TrainConfig)} - {"seed", "device", "quiet", "threads"}


def configure(name: str, config: Any = None, overrides: dict[str, Any] | None = None) -> Any:
    """The TrainConfig for training ``name``: a preset's settings fill every field the caller left at its default.

    ``config`` is a TrainConfig or None; ``overrides`` the keyword settings given beside it (they win too).
    Returns ``config`` unchanged for a plain model name.
    """
    from ..train.loop import TrainConfig

    _, _, p = resolve(name)
    if p is None:
        return config
    unknown = sorted(set(p.train) - training_settings())
    if unknown:
        raise ValueError(f"preset {p.name!r}: {unknown} are not training settings ({sorted(training_settings())})")
    base = config or TrainConfig()
    defaults = TrainConfig()
    chosen = {k: v for k, v in p.train.items()
              if k not in (overrides or {}) and getattr(base, k) == getattr(defaults, k)}
    return dataclasses.replace(base, **chosen)


def parameter_count(name: str, spec: Spec) -> int | None:
    """Parameters of a model or preset built for ``spec``; None when it cannot take that data."""
    from . import create

    try:
        return create(name, spec).num_params()
    except BlobError:
        return None


def listing(spec: Spec | None = None) -> list[dict[str, Any]]:
    """One row per preset: name, model, parameters, training settings, parameter count on ``spec``, about."""
    rows = []
    for n in PRESETS:
        p = PRESETS.get(n)
        rows.append({"name": n, "model": p.model, "params": p.params, "train": p.train, "data": p.data,
                     "param_count": parameter_count(n, spec) if spec is not None else None, "about": p.about})
    return rows


# ---- the MNIST-1D paper's models (Greydanus 2020): Adam 1e-2, batch 100, 6,000 steps, constant rate ------------
PAPER = dict(budget={"steps": 6000}, batch_size=100, lr=1e-2, weight_decay=0.0, schedule="constant", warmup=0.0,
             patience=None)
preset("mnist1d_paper_mlp", "mlp", {"hidden": 100, "depth": 2}, data="mnist1d", **PAPER,
       about="The MNIST-1D paper's MLP (2 x 100 ReLU units, 15,210 parameters); the paper: 64% test accuracy, "
             "here 65.2% (seed 0).")
preset("mnist1d_paper_cnn", "cnn", {"width": 25, "depth": 3, "kernel": 3, "pool": True, "readout": "flatten",
                                   "norm": "none"},
       data="mnist1d", **PAPER,
       about="The MNIST-1D paper's CNN (3 convolutions of 25 channels, flattened; max-pooling where the paper "
             "strides); the paper: 93% test accuracy, here 94.3% (seed 0).")
preset("mnist1d_paper_gru", "gru", {"hidden": 6, "bidirectional": True, "readout": "mean"}, data="mnist1d",
       **{**PAPER, "clip": None},
       about="The MNIST-1D paper's bidirectional GRU of 6 units (read out by averaging its states; the paper "
             "flattens them into the head, 5,134 parameters); the paper: 91% test accuracy, here 88.4% (seed 0).")

# ---- recurrent models with sensible depth and width ------------------------------------------------------------
preset("gru_deep", "gru", {"hidden": 64, "layers": 2, "bidirectional": True, "readout": "mean"},
       about="Two bidirectional GRU layers of 64 units, states averaged over time: the recurrent family at a "
             "useful size (FastGRU keeps it trainable on a CPU).")
preset("lstm_deep", "lstm", {"hidden": 64, "layers": 2, "bidirectional": True, "readout": "mean"},
       about="Two bidirectional LSTM layers of 64 units, states averaged over time (on a CPU, one call of the "
             "compiled kernels per layer, both directions together).")

# ---- the families at their best on this CPU, tuned on one data set each (bench/peers.py runs these) -------------
# Measured with one thread on a shared 2-core machine (CPU seconds of training; test accuracy), seeds 0-2:
# mnist1d_fcn on the 3,600/400 split: 98.7%, 98.8%, 98.7% (11-12 s); on all 4,000 (bench/peers.py): 98.8%.
# mnist1d_lstm_fcn on all 4,000: 99.0%; mnist1d_inception_time on all 4,000: 98.8% (seed 0).
# gunpoint_fcn on all 50 training series: 100% at 150 steps (seeds 0-2; 4 s) and at 200 (seeds 0-2); on the 40/10
# split FCNs reached 95-99% (the held-out 10 series are a fifth of the data).
preset("mnist1d_fcn", "fcn", {"width": 32}, data="mnist1d", budget={"epochs": 15}, batch_size=64, patience=None,
       about="FCN of 32-64-32 filters, 15 epochs of batch 64: >= 98.5% on MNIST-1D in about 12 s of one CPU thread.")
preset("mnist1d_lstm_fcn", "lstm_fcn", {"width": 32, "hidden": 64}, data="mnist1d", budget={"epochs": 15},
       batch_size=64, patience=None,
       about="LSTM-FCN: the FCN of mnist1d_fcn beside an LSTM of 64 units over the shuffled dimension, 15 epochs.")
preset("mnist1d_inception_time", "inception_time", {"width": 16, "depth": 3, "kernel": 20}, data="mnist1d",
       budget={"epochs": 10}, batch_size=64, patience=None,
       about="InceptionTime of 3 modules, 4 x 16 channels, kernels 19/9/5 (40 steps need no longer): 98.7% on the "
             "MNIST-1D split (seeds 0, 1) in about 19 s.")
preset("mnist1d_resnet1d", "resnet1d", {"width": 16}, data="mnist1d", budget={"epochs": 10}, batch_size=64,
       patience=None, about="ResNet-1D of 16-32-32 filters (9 convolutions), 10 epochs: 98.7% on the MNIST-1D split "
                            "(seeds 0, 1) in about 13-15 s.")
preset("gunpoint_fcn", "fcn", {"width": 32}, data="gunpoint", budget={"steps": 150}, batch_size=64, lr=3e-3,
       patience=None, about="FCN of 32-64-32 filters, 150 full-batch steps at 3e-3: 100% on GunPoint (seeds 0-2) in "
                            "about 4 s of training.")
preset("gunpoint_lstm_fcn", "lstm_fcn", {"width": 32, "hidden": 8}, data="gunpoint", budget={"steps": 200},
       batch_size=64, lr=1e-3, patience=None,
       about="LSTM-FCN with gunpoint_fcn's FCN and the paper's LSTM of 8 units, at 1e-3: 100% on GunPoint (seed 0; "
             "with 32 units or at 3e-3 it reached 96.7-99.3%).")
preset("gunpoint_inception_time", "inception_time", {"width": 16, "depth": 3, "kernel": 40}, data="gunpoint",
       budget={"steps": 200}, batch_size=64, lr=3e-3, patience=None,
       about="InceptionTime of 3 modules, 4 x 16 channels, kernels 39/19/9, 200 full-batch steps.")

# ---- chinese_sentiment: the three models of the primer's CJK hybrid claim, each at its best measured recipe --------
# Each: language-model pretraining first (train/pretrain.py; training texts + People's Daily), adversarial training
# 0.02, embedding dropout 0.7, the data set's 6 epochs. Measured one thread per run, seeds 0-4 (README, "Language-model
# pretraining for text"); the numbers are test accuracy on the fixed deduplicated split, means with 95% t intervals.
CJK = {"data": "chinese_sentiment", "adversarial": 0.02}
preset("chinese_sentiment_lstm", "lstm", {"hidden": 128, "bidirectional": True, "embed_dropout": 0.7}, **CJK,
       pretrain=2500,
       about="Bidirectional LSTM of 128 units over character and bigram embeddings, pretrained 2,500 language-model "
             "steps: test 0.853/0.849/0.848/0.848/0.852 (seeds 0-4, mean 0.850 +- 0.003), validation 0.855; about "
             "4.5 min of pretraining and 10-14 min of training on one thread.")
preset("chinese_sentiment_cnn", "cnn", {"depth": 4, "embed_dropout": 0.7}, **CJK, pretrain=2500,
       about="Character CNN, four blocks of 32 filters, with embeddings pretrained 2,500 language-model steps: test "
             "0.852/0.848/0.851/0.853/0.848 (seeds 0-4, mean 0.850 +- 0.003), validation 0.850. Four blocks were "
             "chosen over three on validation accuracy (0.852 against 0.846 on seeds 0-2, higher on each); with three "
             "the test mean was 0.848. About 4.4 min of pretraining and 70 s of training on one thread.")
preset("chinese_sentiment_glyph", "glyph_cnn_lstm", {"hidden": 128, "embed_dim": 128, "embed_dropout": 0.7}, **CJK,
       pretrain=2500,
       about="Glyph CNN+LSTM with a bidirectional LSTM of 128 units and character and bigram embeddings of 128, "
             "pretrained 2,500 language-model steps through its glyph CNN: test 0.858/0.854/0.855/0.854/0.855 "
             "(seeds 0-4, mean 0.855 +- 0.002), validation 0.856. Embeddings of 128 were chosen over 64 on "
             "validation accuracy, narrowly (0.856 against 0.855, higher on two seeds of five); with 64 the test "
             "mean was 0.849 +- 0.003. About 34 min a seed, pretraining included, on one thread beside a second run.")
