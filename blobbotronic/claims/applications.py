"""Claim: the primer's applications (faces, medical and image analysis; sentiment, entities, speech,
translation) run end to end, each on real offline data or an honest generator, and reach a useful level."""

from __future__ import annotations

from pathlib import Path

from .base import Arm, Claim, Evidence, Verdict, register
from .cnn_position import BUDGET as POSITION_BUDGET
from .cnn_position import DATA as MNIST

# (application, data set, model, headline metric, the level that counts as useful)
# --quick trains these for fewer epochs than their data sets' defaults; measured here (seed 0): the MNIST CNN
# reached 0.972 after 5 epochs as after 15 (4: 0.961), the date translator 0.999 validation exact match after 3
# of 20 epochs (0.998 after 2), the movie-review LSTM 0.750-0.755 validation accuracy after 5 of 8 (best 0.760,
# after 7). In --quick the image application reads the runs of cnn-position (the same CNN on the same digits,
# 4 epochs; its test sets add the shifted and rotated digits), so they train once.
QUICK_BUDGET = {MNIST: POSITION_BUDGET["quick"], "date_translation": "3 epochs", "movie_sentiment": "5 epochs"}

APPS = [
    ("face detection", "faces", "cnn", "accuracy", 0.85),
    ("medical measurements", "breast_cancer", "mlp", "accuracy", 0.90),
    ("image recognition", MNIST, "cnn", "accuracy", 0.95),
    ("sentiment", "movie_sentiment", "lstm", "accuracy", 0.65),
    ("entity extraction", "tweet_entities", "bilstm_tagger", None, 0.30),
    ("speech (spoken digits)", "spoken_digits", "gru", "accuracy", 0.90),
    ("translation (dates)", "date_translation", "seq2seq_gru", None, 0.90),
]
NOT_RUN = "intent detection (no labelled intent corpus exists offline)"


def decide(ev: Evidence) -> Verdict:
    reached, notes = 0, []
    for app, ds, model, metric, level in APPS:
        s = ev.metric(f"{app}", ds, metric)
        name = metric or ev.runs(app, ds)[0]["metric"]
        reached += s.mean >= level
        notes.append(f"{app}: {model} {name} {s.mean:.3f} (useful >= {level})")
    rule = ("supported if every application reaches its stated useful level on its test split; refuted if fewer "
            "than half do; mixed otherwise. Not run: " + NOT_RUN)
    verdict = "supported" if reached == len(APPS) else ("refuted" if reached < len(APPS) / 2 else "mixed")
    return Verdict(verdict, f"{reached} of {len(APPS)} applications reach their level; " + "; ".join(notes), rule,
                   {"reached": reached, "of": len(APPS)})


def _figure(ev: Evidence, out: Path) -> list[tuple[Path, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    for i, (app, ds, model, metric, level) in enumerate(APPS):
        s = ev.metric(app, ds, metric)
        ax.bar(i, s.mean, yerr=[[s.mean - s.low], [s.high - s.mean]], capsize=3, color="#4269d0")
        ax.plot([i - 0.4, i + 0.4], [level, level], color="black", lw=1)
    ax.set_xticks(range(len(APPS)), [a for a, *_ in APPS], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("test headline metric")
    ax.spines[["top", "right"]].set_visible(False)
    path = Path(out) / "applications.png"
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return [(path, "Each application's headline test metric; black line: the level that counts as useful.")]


register(Claim(
    id="applications",
    claim="CNNs serve faces, medical and image analysis; RNNs serve translation, entity extraction, sentiment "
          "and speech.",
    experiment="Each application end to end on real offline data (faces, tumour measurements, MNIST, movie "
               "reviews, tweets, spoken digits) or an honest generator (dates to ISO 8601).",
    arms=[Arm(app, model, (ds,), budget={"quick": QUICK_BUDGET[ds]} if ds in QUICK_BUDGET else {})
          for app, ds, model, _, _ in APPS],
    decide=decide, figures=_figure, seeds={"quick": 2, "full": 5}, order=160,
))
