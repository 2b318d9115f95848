"""Language-model pretraining of text models: semi-supervised sequence learning (Dai & Le 2015).

Before a text classifier sees a single label, its input layers learn to predict each text's next token: the
token and bigram embeddings, and, where the model has one that reads them, its LSTM (the forward direction of a
bidirectional one). The corpus is the training split's texts, plus the unlabelled text a data set names
(``meta["corpus"]``: People's Daily for ``chinese_sentiment``), never the validation or test texts. Fine-tuning
then starts from those weights. A model without an LSTM over its embeddings (the CNN, attention) trains its
embeddings under a temporary LSTM that is thrown away afterwards.

Only the most frequent ``LM_TARGETS`` tokens are predicted (rarer ones as ``<unk>``), so the output layer stays
small; embedding tables take sparse updates (SparseAdam), so a step costs what its batch touches. One step of
32 windows of 100 tokens took 0.06 s on one core of this project's CPU for the text LSTM, 0.11 s under the
throw-away LSTM (the CNN) and 0.15-0.21 s through the glyph CNN (chinese_sentiment, 2026-12-04).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch
from torch import nn

from ..data.spec import Dataset
from ..errors import BlobError
from ..models.base import TextEmbedding
from ..models.rnn import run_rnn

LM_TARGETS = 2000  # next-token classes: the vocabulary's most frequent tokens (ids are frequency-ordered)
WINDOW = 100  # tokens per training window
BATCH = 32
LR = 3e-3
TEMP_HIDDEN = 128  # the throw-away LSTM's width, for models without an LSTM of their own over the embeddings


def lm_parts(model: nn.Module) -> tuple[Callable[[torch.Tensor], torch.Tensor], nn.LSTM | None, TextEmbedding] | None:
    """What pretraining trains: a function of token ids -> per-token vectors (B, L, D), the model's own LSTM that
    reads them (or None), and the model's TextEmbedding. None when the model has no token embedding."""
    embed = next((m for m in model.modules() if isinstance(m, TextEmbedding)), None)
    if embed is None:
        return None
    own = getattr(model, "language_model_parts", None)  # models whose LSTM reads the embeddings say so
    inputs, lstm = own() if callable(own) else (embed, None)
    return inputs, lstm, embed


def forward_direction(lstm: nn.LSTM) -> nn.LSTM | None:
    """An LSTM that reads left to right with ``lstm``'s own parameters (the same tensors, so training it trains
    them): the module itself when it is one-way, its forward direction when it is a one-layer bidirectional one,
    else None (a deeper bidirectional stack's upper layers need both directions)."""
    if not lstm.bidirectional:
        return lstm
    if lstm.num_layers != 1 or lstm.proj_size:
        return None
    one = nn.LSTM(lstm.input_size, lstm.hidden_size, batch_first=lstm.batch_first, bias=lstm.bias)
    for name in one._flat_weights_names:
        setattr(one, name, getattr(lstm, name))
    return one


def corpus_windows(data: Dataset, corpus: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The windows an LM trains on: each training text (its first WINDOW tokens), then the extra corpus's token
    ids cut into pieces as long (WINDOW, or the texts' padded length where that is shorter). Returns the ids
    (N, window) padded with 0 and their lengths (N,)."""
    x, lengths = data.train.x.cpu(), data.train.lengths
    lengths = (x != 0).sum(1) if lengths is None else lengths.cpu()
    w = min(WINDOW, x.shape[1])
    texts = x[:, :w].clone()
    text_lengths = lengths.clamp(1, w)
    if corpus is None or len(corpus) < w:
        return texts, text_lengths
    pieces = corpus[: len(corpus) // w * w].view(-1, w)
    return torch.cat([texts, pieces]), torch.cat([text_lengths, torch.full((len(pieces),), w)])


def pretrain_language_model(model: nn.Module, data: Dataset, steps: int, *, seed: int = 0,
                            corpus: str | torch.Tensor | None = None) -> dict[str, float]:
    """Train ``model``'s text inputs (and its LSTM over them) as a next-token language model for ``steps`` steps,
    in place, on the training texts and ``corpus`` (token ids, or the name of one in data/text.py's CORPORA).
    Returns what it cost and reached: seconds, the last steps' mean loss and perplexity."""
    if isinstance(corpus, str):
        from ..data.text import corpus_ids

        corpus = corpus_ids(corpus, data.spec)
    parts = lm_parts(model)
    if parts is None:
        raise BlobError(f"pretrain={steps}: language-model pretraining trains a text model's token embeddings, and "
                        f"{getattr(model, 'name', type(model).__name__)!r} on {data.spec.name} ({data.spec.modality}) "
                        "has none. Use it with a text model, or leave it at 0.")
    inputs, own_lstm, embed = parts
    device = next(model.parameters()).device
    encoder = forward_direction(own_lstm) if own_lstm is not None else None
    dim = embed.embed.embedding_dim
    if encoder is None:  # a throw-away LSTM over the embeddings alone
        inputs = embed
        encoder = nn.LSTM(dim, TEMP_HIDDEN, batch_first=True).to(device)
    out = nn.Linear(encoder.hidden_size, min(LM_TARGETS, data.spec.vocab_size)).to(device)
    drop = nn.Dropout(0.2)
    windows, lengths = corpus_windows(data, corpus)
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)

    tables = [m for m in (embed.embed, embed.bigram) if m is not None]
    sparse = [m.weight for m in tables]
    dense = [p for mod in (model, encoder, out) for p in mod.parameters()
             if p.requires_grad and all(p is not q for q in sparse)]
    dense = list({id(p): p for p in dense}.values())  # the model's own LSTM is both the model's and the encoder's
    # parameters that get no gradient here (the classifier head, a reverse direction) are left as they are
    opt = torch.optim.AdamW(dense, lr=LR, weight_decay=0.01)
    opt_sparse = torch.optim.SparseAdam(sparse, lr=LR)
    was_training = model.training
    model.eval()  # the model's own dropouts are for fine-tuning; the LM drops 0.2 of its inputs and outputs
    for m in tables:
        m.sparse = True
    start, losses = time.perf_counter(), []
    try:
        for step in range(steps):
            idx = torch.randint(len(windows), (BATCH,), generator=gen)
            xb, lb = windows[idx], lengths[idx]
            xb = xb[:, : int(lb.max())].to(device)
            h, _ = run_rnn(encoder, drop(inputs(xb[:, :-1])), (lb - 1).clamp_min(1).to(device))
            target = xb[:, 1:]
            keep = target != 0
            target = torch.where(target < out.out_features, target, torch.ones_like(target))  # rare -> <unk>
            loss = nn.functional.cross_entropy(out(drop(h[keep])), target[keep])
            lr = LR * min(1.0, (step + 1) / 50) * 0.5 * (1 + math.cos(math.pi * step / steps))
            for o in (opt, opt_sparse):
                for g in o.param_groups:
                    g["lr"] = lr
            opt.zero_grad(set_to_none=True)
            opt_sparse.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(dense, 1.0)
            opt.step()
            opt_sparse.step()
            losses.append(loss.detach())
    finally:
        for m in tables:
            m.sparse = False
        for p in [*sparse, *dense]:
            p.grad = None
        model.train(was_training)
    tail = torch.stack(losses[-50:]).mean().item() if losses else math.nan
    return {"pretrain_seconds": time.perf_counter() - start, "pretrain_loss": tail,
            "pretrain_perplexity": math.exp(tail) if math.isfinite(tail) else math.nan}
