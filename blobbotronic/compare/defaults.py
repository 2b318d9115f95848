"""The models a comparison runs when it is given none: the primer's families that fit the data, and why.

The primer weighs a perceptron network (MLP), a CNN, the recurrent networks (LSTM and GRU, the gated
RNNs that cure "memory loss") and hybrids of the two. For each kind of data the default set is those
families in the form that reads that data, plus a hybrid where one fits; a model that cannot take the
data (its registry tags say so) is left out. Every entry says why it is there, and the report prints it.
"""

from __future__ import annotations

from ..data.spec import Spec
from ..models import MODELS

FAMILIES = {"mlp": "the perceptron network of the primer, blind to order and position: the baseline",
            "logistic": "one linear layer: how far a linear readout goes",
            "cnn": "filters that scan the input, pooling that condenses it",
            "lstm": "a recurrent network with gates that keep a long memory",
            "gru": "a lighter gated recurrent network",
            "cnn_rnn": "the hybrid: convolutional features read in order by a recurrent layer",
            "glyph_cnn_lstm": "the primer's CJK hybrid: characters drawn as images, a CNN per glyph, an LSTM over them",
            "naive": "the last value repeated: the forecast any model must beat",
            "seasonal_naive": "last season repeated: the seasonal forecast any model must beat",
            "bilstm_tagger": "a bidirectional LSTM tagging each token",
            "cnn_tagger": "a CNN tagging each token from its window",
            "cnn_bilstm_tagger": "the hybrid tagger: character CNN features into a word BiLSTM",
            "seq2seq_gru": "an encoder-decoder of GRUs",
            "seq2seq_cnn": "a convolutional encoder-decoder",
            "seq2seq_attention": "an encoder-decoder with attention",
            "frame_cnn": "a CNN on each frame, averaged over time",
            "crnn": "the primer's video hybrid: a 2-D CNN per frame (or over a spectrogram), a recurrent layer over time"}

# (kind of data, task) -> models in the order the report lists them; "*" is any task not named. The kind is the
# modality, except that sound (a sequence of feature frames or a spectrogram picture) has the audio CRNN as hybrid.
CANDIDATES = {("table", "*"): ("mlp", "logistic"),
              ("image", "*"): ("mlp", "cnn", "lstm", "gru", "cnn_rnn"),
              ("sequence", "forecast"): ("naive", "seasonal_naive", "mlp", "cnn", "lstm", "gru"),
              ("sequence", "*"): ("mlp", "cnn", "lstm", "gru", "cnn_rnn"),
              ("text", "tag"): ("bilstm_tagger", "cnn_tagger", "cnn_bilstm_tagger"),
              ("text", "translate"): ("seq2seq_gru", "seq2seq_cnn", "seq2seq_attention"),
              ("text", "*"): ("mlp", "cnn", "lstm", "gru", "cnn_rnn"),
              ("video", "*"): ("mlp", "frame_cnn", "lstm", "gru", "crnn"),
              ("sound", "*"): ("mlp", "cnn", "lstm", "gru", "crnn")}


def kind(spec: Spec) -> str:
    """What the default set is chosen by: "sound" for audio read in either view, else the modality."""
    return "sound" if "audio" in (spec.extra or {}) else spec.modality


def fits(name: str, spec: Spec) -> bool:
    """Whether model ``name`` takes ``spec``'s modality and task, from its registry tags."""
    tags = MODELS.tags(name)
    return spec.modality in tags.get("accepts", ()) and spec.task in tags.get("tasks", ("classify", "regress",
                                                                                         "forecast"))


def default_models(spec: Spec) -> list[tuple[str, str]]:
    """(model, why) for the comparison of ``spec`` when no models are named.

    >>> from ..data.spec import Spec
    >>> [m for m, _ in default_models(Spec("x", "sequence", "classify", (150, 1), 2))]
    ['mlp', 'cnn', 'lstm', 'gru', 'cnn_rnn']
    >>> [m for m, _ in default_models(Spec("t", "table", "classify", (4,), 3))]
    ['mlp', 'logistic']
    >>> [m for m, _ in default_models(Spec("words", "sequence", "classify", (101, 13), 10, extra={"audio": {}}))]
    ['mlp', 'cnn', 'lstm', 'gru', 'crnn']
    """
    names = CANDIDATES.get((kind(spec), spec.task)) or CANDIDATES.get((kind(spec), "*"), ("mlp",))
    return [(n, FAMILIES.get(n, "")) for n in names if n in MODELS and fits(n, spec)]


def union(specs: list[Spec]) -> list[tuple[str, str]]:
    """The default sets of several data sets merged, in first-seen order (a model that cannot take one of the
    data sets is skipped there by the grid, as for named models)."""
    seen: dict[str, str] = {}
    for spec in specs:
        for name, why in default_models(spec):
            seen.setdefault(name, why)
    return list(seen.items())
