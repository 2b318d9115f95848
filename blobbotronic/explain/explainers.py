"""The explainer registry: each explainer turns (model, one input, its data) into numbers and figures.

``explain_model`` runs every explainer that applies to a model (a convolutional one gets filters,
feature maps, pooling sizes, Grad-CAM and saliency; a sequence model gets its memory curve, a
recurrent one its hidden-state trajectories), so the report and the claims can iterate them.
A new explainer is one registered function ``fn(ctx) -> Explanation`` with a ``needs`` tag.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..data.spec import Split
from ..registry import Registry
from . import figures
from .filters import feature_maps, first_filters, grad_cam, has_convolutions, pooling_table, saliency
from .memory import hidden_trajectories, memory_curve

EXPLAINERS = Registry("explainer")


@dataclass
class Context:
    """What an explainer sees: the model, the one input to explain, the data set's split for averages."""

    model: nn.Module
    x: torch.Tensor  # one input, batch of 1
    lengths: torch.Tensor | None
    label: str  # how the input is named in titles, e.g. "test:3" or a file name
    out: Path  # where figures go
    data: Split | None = None  # for data-set averages (memory curve)
    target: int | None = None  # class to explain (None: the predicted one)
    prefix: str = "explain"
    truth: Any = None  # the input's true target (a class index, or the regression target), None when unknown
    prediction: dict[str, Any] = field(default_factory=dict)  # see prediction()


@dataclass
class Explanation:
    """One explainer's result: numbers (JSON-able), figure paths, and an optional table of rows."""

    name: str
    title: str
    numbers: dict[str, Any] = field(default_factory=dict)
    figures: list[str] = field(default_factory=list)
    table: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "numbers": self.numbers, "figures": self.figures,
                "table": self.table, "note": self.note}


def prediction(model: nn.Module, x: torch.Tensor, lengths: torch.Tensor | None = None, truth: Any = None,
               target: int | None = None) -> dict[str, Any]:
    """What the model says about one input: for a classifier the predicted class and its probability, the class
    explained (``target``, else the predicted one) and its probability, and the true label when known; for a
    regression the output and the true value. Sequence taggers (one class per position) get the true label only.
    """
    from .attribution import attribution_mode, device_of

    spec = model.spec
    with attribution_mode(model), torch.no_grad():
        out = model(x[:1].to(device_of(model)), None if lengths is None else lengths[:1])[0].float().cpu()
    name = lambda i: spec.classes[i] if i < len(spec.classes) else str(i)  # noqa: E731
    if not spec.is_classification:
        values = [float(v) for v in out.flatten()]
        true = None if truth is None else [float(v) for v in torch.as_tensor(truth).flatten()]
        return {"output": values, "true": true}
    true = None
    if truth is not None and torch.as_tensor(truth).numel() == 1:
        true = name(int(torch.as_tensor(truth)))
    if out.ndim != 1:  # one class per position: no single class to name
        return {"true": true}
    probs = out.softmax(0)
    pred = int(probs.argmax())
    cls = pred if target is None else int(target)
    return {"class": name(cls), "class_index": cls, "probability": float(probs[cls]), "predicted": name(pred),
            "predicted_probability": float(probs[pred]), "true": true}


def describe(pred: dict[str, Any]) -> str:
    """``class 'XY' (p = 0.93), true label 'XX'``: one phrase for titles and console lines."""
    if "output" in pred:
        out = ", ".join(f"{v:.3g}" for v in pred["output"][:4])
        true = ", ".join(f"{v:.3g}" for v in pred["true"][:4]) if pred["true"] is not None else "unknown"
        return f"output {out}, true value {true}"
    true = f"true label {pred['true']!r}" if pred.get("true") is not None else "true label unknown"
    if "class" not in pred:
        return true
    text = f"class {pred['class']!r} (p = {pred['probability']:.2f})"
    if pred["class"] != pred["predicted"]:  # a --target other than the predicted class
        text += f", predicted {pred['predicted']!r} (p = {pred['predicted_probability']:.2f})"
    return f"{text}, {true}"


def applies(name: str, model: nn.Module, has_data: bool = True) -> bool:
    needs = EXPLAINERS.tags(name).get("needs")
    modality = getattr(getattr(model, "spec", None), "modality", None)
    if needs == "conv":
        return has_convolutions(model)
    if needs == "sequence":
        return has_data and modality in ("sequence", "text")
    if needs == "recurrent":
        return hasattr(model, "run") and modality in ("sequence", "text")
    return True


def explain_model(model: nn.Module, x: torch.Tensor, lengths: torch.Tensor | None = None, *, out: str | Path,
                  label: str = "input", data: Split | None = None, target: int | None = None,
                  only: list[str] | None = None, truth: Any = None) -> list[Explanation]:
    """Run every registered explainer that applies to ``model`` (or those named in ``only``).

    ``truth``: the input's true target, named in the titles beside the class explained and its probability.
    """
    ctx = Context(model, x[:1], None if lengths is None else lengths[:1], label, Path(out), data, target,
                  prefix=_safe(f"{getattr(model, 'name', 'model')}-{label}"), truth=truth)
    ctx.prediction = prediction(model, ctx.x, ctx.lengths, truth, target)
    names = only or [n for n in EXPLAINERS if applies(n, model, data is not None)]
    return [EXPLAINERS.get(n)(ctx) for n in names]


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


def _png(ctx: Context, what: str) -> Path:
    return ctx.out / f"{ctx.prefix}-{what}.png"


def _sample(ctx: Context) -> Any:
    """The input as a numpy array for figures: (C, H, W) image or (L, C) sequence."""
    x = ctx.x[0].detach().float().cpu()
    return x.numpy() if x.ndim > 1 else x[:, None].numpy()


@EXPLAINERS.register("filters", needs="conv", about="the first convolution's learned filters")
def _filters(ctx: Context) -> Explanation:
    w = first_filters(ctx.model)
    path = figures.filters_figure(w.numpy(), _png(ctx, "filters"),
                                  title=f"{getattr(ctx.model, 'name', '')}: first-layer filters {tuple(w.shape)}")
    return Explanation("filters", "Learned first-layer filters", {"shape": list(w.shape)}, [str(path)])


@EXPLAINERS.register("feature_maps", needs="conv", about="each convolution block's maps for one input")
def _feature_maps(ctx: Context) -> Explanation:
    if ctx.model.spec.modality == "text":  # maps of token ids: show the embedded input instead
        return Explanation("feature_maps", "Feature maps", note="not drawn for text inputs")
    layers = feature_maps(ctx.model, ctx.x, ctx.lengths)
    shown = [(f"{o.name} {o.module}", o.output.numpy()) for o in layers]
    path = figures.feature_maps_figure(_sample(ctx), shown, _png(ctx, "feature-maps"),
                                       title=f"Feature maps of {ctx.label} ({getattr(ctx.model, 'name', '')}): "
                                             + describe(ctx.prediction))
    numbers = {"layers": [{"layer": o.name, "module": o.module, "shape": list(o.output.shape)} for o in layers]}
    return Explanation("feature_maps", "Feature maps layer by layer", numbers, [str(path)])


@EXPLAINERS.register("pooling", needs="conv", about="data size before and after each pooling layer")
def _pooling(ctx: Context) -> Explanation:
    rows = pooling_table(ctx.model, ctx.x, ctx.lengths)
    note = "" if rows else "this model has no pooling layer"
    return Explanation("pooling", "Data size before and after each pooling layer", {"layers": len(rows)},
                       table=rows, note=note)


@EXPLAINERS.register("gradcam", needs="conv", about="Grad-CAM on the last convolution and input saliency")
def _gradcam(ctx: Context) -> Explanation:
    cam, cls = grad_cam(ctx.model, ctx.x, ctx.lengths, ctx.target)
    sal = saliency(ctx.model, ctx.x, ctx.lengths, cls)
    spec = ctx.model.spec
    name = spec.classes[cls] if cls is not None and cls < len(spec.classes) else None
    x = _sample(ctx)
    if spec.modality == "text":
        x = ctx.x[0].float().cpu()[:, None].numpy()
    pred = ctx.prediction if name is None or ctx.prediction.get("class_index") == cls else \
        prediction(ctx.model, ctx.x, ctx.lengths, ctx.truth, cls)
    path = figures.gradcam_figure(x, cam.numpy(), sal.numpy(), _png(ctx, "gradcam"),
                                  title=f"{ctx.label} ({getattr(ctx.model, 'name', '')}): why {describe(pred)}",
                                  channels=spec.extra.get("channels"), tokens=spec.modality == "text")
    numbers = {"class": name, "class_index": cls, "probability": pred.get("probability"), "true": pred.get("true")}
    return Explanation("gradcam", "Grad-CAM and saliency", numbers, [str(path)])


@EXPLAINERS.register("memory_curve", needs="sequence", about="attribution of the output to each input position")
def _memory_curve(ctx: Context) -> Explanation:
    curves = {m: memory_curve(ctx.model, ctx.data, method=m, n=128)
              for m in ("integrated_gradients", "gradient_x_input")}
    name = getattr(ctx.model, "name", "model")
    shares = {name: curves["integrated_gradients"].last_quarter}
    path = figures.memory_curves_figure({name: {m: c.shares for m, c in curves.items()}}, _png(ctx, "memory-curve"),
                                        title=f"Memory curve over {curves['integrated_gradients'].n} test sequences",
                                        shares=shares)
    numbers = {m: {"last_quarter_share": c.last_quarter, "shares": [float(v) for v in c.shares]}
               for m, c in curves.items()}
    return Explanation("memory_curve", "Memory curve", numbers, [str(path)])


@EXPLAINERS.register("hidden_states", needs="recurrent", about="hidden-state trajectories on two principal components")
def _hidden_states(ctx: Context) -> Explanation:
    x = ctx.data.x[:4] if ctx.data is not None else ctx.x
    lengths = None if ctx.data is None or ctx.data.lengths is None else ctx.data.lengths[:4]
    proj, var = hidden_trajectories(ctx.model, x, lengths)
    name = getattr(ctx.model, "name", "model")
    path = figures.trajectories_figure({name: (proj, var)}, _png(ctx, "hidden-states"),
                                       title=f"Hidden states of {len(proj)} sequences (x: last step)")
    return Explanation("hidden_states", "Hidden-state trajectories (PCA)",
                       {"explained_variance": [float(v) for v in var]}, [str(path)])
