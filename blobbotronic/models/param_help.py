"""What each model parameter does, in one line, for ``blobbotronic models --params NAME``.

The constructor's signature is the schema (name, type, default, choices: ``params_schema``); this is its prose.
A word that means the same in every family is explained once in GLOSSARY; a model whose parameter means
something of its own says so in a ``param_help`` dict on its class (the nearest class in its MRO wins).
tests/test_models_contract.py checks that every parameter of every registered model has a line.
"""

from __future__ import annotations

GLOSSARY = {
    "activation": "the non-linearity between layers",
    "bidirectional": "also read the sequence backwards and join both directions' states",
    "bigrams": "text: hash buckets for an embedding of each token pair, added to the token's own (0: none; "
               "scaled down on small training sets)",
    "bottleneck": "channels of the 1x1 convolution in front of each block's wide filters",
    "cell": "the recurrent cell (mingru, minlstm: the parallel-scan cells, every step at once)",
    "channels": "filters of the convolution",
    "char_dim": "size of each character's embedding",
    "char_filters": "filters of the character convolution (one feature each per word)",
    "char_kernel": "characters each character filter spans",
    "crf": "decode tags with a linear-chain CRF (transition scores, Viterbi, BIO rules) instead of each token "
           "on its own",
    "depth": "number of layers (or blocks) stacked",
    "dim": "width of the vectors each position carries",
    "dropout": "fraction of activations zeroed at random while training",
    "embed_dim": "size of each token's embedding",
    "embed_dropout": "text: dropout on the token embeddings",
    "features": "number of random-filter features (rounded to a multiple of the kernels)",
    "ff": "width of the feed-forward layer inside each attention block",
    "frame": "read this many consecutive steps as one (0: auto, frames only series longer than 256 steps)",
    "heads": "attention heads per layer",
    "hidden": "units in each hidden layer or recurrent state",
    "kernel": "steps (or pixels) each filter spans (0: chosen from the input's size)",
    "layers": "number of stacked layers",
    "levels": "residual blocks of doubling dilation (0: enough to cover the whole sequence)",
    "max_dilations": "most dilations per kernel",
    "norm": "normalisation after each convolution (auto: the family's usual choice for the data)",
    "patch": "pixels per side of the square patches a frame is cut into",
    "pool": "halve the length (or each side) after each convolution block",
    "pooling": "how positions become one vector: their mean, or a learned summary token",
    "readout": "how the per-step (or per-position) outputs become one vector (auto: the family's usual choice)",
    "rule": "the learning rule: Rosenblatt's mistake-driven update, or gradient descent on a smooth loss",
    "season": "steps in one season (0: found from the training series' autocorrelation)",
    "shuffle": "the LSTM reads the channels as steps (the dimension shuffle of LSTM-FCN)",
    "size": "pixels per side of each rendered glyph",
    "time": "how per-frame features become one vector: their mean, or the middle frame's",
    "token_dropout": "text: fraction of whole tokens dropped while training",
    "unk": "fraction of training words read as unknown, so that the model learns what to do with unseen words",
    "width": "channels (filters) of the convolutions (the first block's, where deeper blocks widen)",
}


def describe(cls: type, name: str) -> str:
    """One line on what parameter ``name`` of model class ``cls`` does; "" when nothing says."""
    for klass in cls.__mro__:
        own = vars(klass).get("param_help", {})
        if name in own:
            return own[name]
    return GLOSSARY.get(name, "")
