"""Predictions of a trained model on new input files, one record per input, shaped by the task.

``predict(model, paths, skip_bad)`` returns ``(predictions, skipped)``: a class with its probabilities
(classify), a value (regress, forecast), the tokens with one tag each and the entities they form (tag),
or the greedy decoding as text (translate). Tag and translate read plain UTF-8 text files, one input
per line (blank lines skipped), tokenised as the training text was (``spec.extra``). Sequences must have
the model's length (``data.inputs.conform``): others are refused, or resampled to it only when asked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import BlobError

Prediction = dict[str, Any]


def predict(model: nn.Module, paths: list[str | Path], skip_bad: bool = False,
            resample: bool = False) -> tuple[list[Prediction], list[str]]:
    """Run ``model`` (evaluation mode) on the inputs in ``paths``; with ``skip_bad`` an unreadable file is
    left out and named in the second value instead of stopping the prediction. A sequence whose length the
    model does not read is an error, or with ``resample`` is interpolated to it and its prediction records
    ``resampled`` (``{"from": its length, "to": the model's}``)."""
    spec = model.spec
    model.eval()
    if spec.task in ("tag", "translate"):
        lines, bad = text_lines([Path(p) for p in paths], skip_bad)
        with torch.no_grad():
            return (tag(model, lines) if spec.task == "tag" else translate(model, lines)), bad
    from ..data.bad_files import read_inputs_skipping
    from ..data.inputs import conform

    x, lengths, names, bad = read_inputs_skipping(spec, list(paths), skip_bad)
    x, lengths, resampled = conform(spec, x, lengths, names, resample)
    with torch.no_grad():
        out = model(x, lengths).float()
    if not spec.is_classification:
        preds = [{"input": n, "value": v.tolist()} for n, v in zip(names, out, strict=True)]
    else:
        preds = []
        for name, p in zip(names, out.softmax(-1), strict=True):
            k = int(p.argmax())
            preds.append({"input": name, "label": spec.classes[k], "probability": float(p[k]),
                          "probabilities": dict(zip(spec.classes, map(float, p), strict=True))})
    for pred in preds:
        if pred["input"] in resampled:
            pred["resampled"] = {"from": resampled[pred["input"]], "to": spec.input_shape[0]}
    return preds, bad


# --- text inputs -----------------------------------------------------------------------------------


def text_lines(paths: list[Path], skip_bad: bool = False) -> tuple[list[tuple[str, str]], list[str]]:
    """(name, text) per non-blank line of UTF-8 text files, named like ``new.txt:line 3``; files that
    cannot be read are an error, or with ``skip_bad`` left out and listed."""
    from ..data.text import decode_utf8, read_bytes

    lines, bad = [], []
    for path in paths:
        try:
            if not path.is_file():
                raise BlobError(f"{path}: not found (or not a file); give text files, one input per line.")
            text = decode_utf8(path, read_bytes(path))
        except BlobError:
            if not skip_bad:
                raise
            bad.append(str(path))
            continue
        lines += [(f"{path.name}:line {n}", line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not lines:
        raise BlobError(f"{', '.join(map(str, paths))}: no text to predict; write one input per line.")
    return lines, bad


def tokens_of(text: str, extra: dict[str, Any]) -> list[str]:
    """The tokens of a tagging input as training saw them: ``given`` tokens are split at white space
    (a CoNLL file has one token a line), else the data set's tokenizer (char, word, cjk).

    >>> tokens_of("Paris  is nice", {"tokenizer": "given"})
    ['Paris', 'is', 'nice']
    >>> tokens_of("北京", {"tokenizer": "char"})
    ['北', '京']
    """
    from ..data.text import tokenize

    kind = extra.get("tokenizer", "given")
    return text.split() if kind == "given" else tokenize(text, kind)


def tag(model: nn.Module, lines: list[tuple[str, str]]) -> list[Prediction]:
    """Each line's tokens with their predicted tags and the entities (type, text, token span) they form.
    Tokens past the training length (``max_len``) get no tag; ``untagged`` counts them."""
    from ..data.tagging import open_vocabulary
    from ..data.text import encode
    from .task_tag import bio_spans

    extra = model.spec.extra
    if "vocab" not in extra or "max_len" not in extra:
        raise BlobError(f"Data set {model.spec.name!r} recorded no vocabulary, so new text cannot be encoded for it.")
    names = list(model.spec.classes)
    tokens = [tokens_of(text, extra) for _, text in lines]
    fed = [[t.lower() for t in ts] if extra.get("lower") else ts for ts in tokens]
    max_len = int(extra["max_len"])
    vocab = list(extra["vocab"])
    add_words = getattr(model, "add_words", None)  # a model that reads characters spells the words it never saw
    if add_words is not None:
        vocab = open_vocabulary(vocab, fed, max_len)
        add_words(vocab[len(extra["vocab"]):])
    x, lengths = encode(fed, vocab, max_len)
    out = model(torch.from_numpy(x), torch.from_numpy(lengths)).float()  # (N, L, n_tags)
    joiner = "" if extra.get("tokenizer") in ("char", "cjk") else " "
    preds = []
    for (name, text), toks, ids in zip(lines, tokens, out.argmax(-1).tolist(), strict=True):
        kept = toks[:max_len]
        tags = [names[i] for i in ids[: len(kept)]]
        entities = [{"type": kind, "text": joiner.join(kept[a:b]), "start": a, "end": b}
                    for kind, a, b in sorted(bio_spans(tags), key=lambda s: (s[1], s[2]))]
        preds.append({"input": name, "text": text, "tokens": kept, "tags": tags, "entities": entities,
                      "untagged": len(toks) - len(kept)})
    return preds


def translate(model: nn.Module, lines: list[tuple[str, str]]) -> list[Prediction]:
    """Each line's greedy decoding as text (``target_vocab`` of the Spec, stopping at ``</s>``); sources
    longer than the training ones are cut to ``max_len`` characters (``truncated``)."""
    from ..data.text import encode_texts
    from ..data.translation import decode_target

    extra = model.spec.extra
    if "vocab" not in extra or "target_vocab" not in extra:
        raise BlobError(f"Data set {model.spec.name!r} recorded no source and target vocabularies, so new text "
                        "cannot be translated with it.")
    texts = [text for _, text in lines]
    x, lengths = encode_texts(texts, extra)
    ids = model(x, lengths).argmax(-1).tolist()  # greedy: the logits of each chosen token
    max_len = int(extra["max_len"])
    return [{"input": name, "text": text, "output": decode_target(row, list(extra["target_vocab"])),
             "truncated": len(text) > max_len}
            for (name, text), row in zip(lines, ids, strict=True)]


def show_line(p: Prediction) -> tuple[str, str, str]:
    """(input, prediction, probability) cells for the predict table."""
    if "tags" in p:
        tagged = " ".join(f"{t}/{g}" if g != "O" else t for t, g in zip(p["tokens"], p["tags"], strict=True))
        found = "; ".join(f"{e['type']}: {e['text']}" for e in p["entities"]) or "no entities"
        return p["input"], f"{tagged}  [{found}]", ""
    if "output" in p:
        return p["input"], f"{p['text']} -> {p['output']}", ""
    prob = f"{p['probability']:.3f}" if "probability" in p else ""
    name = p["input"]
    if "resampled" in p:
        name += f" (resampled from {p['resampled']['from']} to {p['resampled']['to']} steps)"
    return name, str(p.get("label", p.get("value"))), prob
