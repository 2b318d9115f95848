"""Perceptron, logistic regression and the multi-layer perceptron: the primer's first networks."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from ..data.spec import Spec
from . import MODELS
from .base import AsVector, Model, make_head

FLAT = ("table", "image", "sequence", "text", "video")


@MODELS.register("perceptron", accepts=FLAT, family="perceptron", tasks=("classify",))
class Perceptron(Model):
    """Rosenblatt's perceptron: inputs times weights plus a bias, through a step function.

    Use when: teaching, or as the floor every other model must beat. One unit separates two classes
    with a straight line (a hyperplane), so it learns AND and OR but never XOR. With more than two
    classes there is one unit per class (one-vs-rest). ``rule="perceptron"`` trains with the classic
    error-correction rule (w += lr * (target - output) * x on mistakes); ``rule="gradient"`` trains
    the same unit by gradient descent on a sigmoid surrogate. Cost: inputs x classes weights.
    """

    train_defaults = {"lr": 0.1, "schedule": "constant", "weight_decay": 0.0}

    def __init__(self, spec: Spec, *, rule: Literal["perceptron", "gradient"] = "perceptron"):
        super().__init__(spec)
        self.rule = rule
        self.inputs = AsVector(spec)
        self.units = 1 if spec.n_outputs == 2 else spec.n_outputs
        self.head = nn.Linear(self.inputs.dim, self.units)

    def forward_features(self, x, lengths=None):
        return self.inputs(x, lengths)

    def forward_head(self, f):
        z = self.head(f)  # (B, units)
        if self.units == 1:  # logits [0, z]: softmax of these is sigmoid(z), the one unit's output
            return torch.cat([torch.zeros_like(z), z], dim=1)
        return z

    @torch.no_grad()
    def rule_step(self, x: torch.Tensor, y: torch.Tensor, lr: float) -> torch.Tensor:
        """One batch of the perceptron learning rule; returns the fraction of mistakes."""
        f = self.forward_features(x)
        z = self.head(f)
        if self.units == 1:
            target, out = y.float().view(-1, 1), (z > 0).float()
        else:
            target = nn.functional.one_hot(y, self.units).float()
            out = nn.functional.one_hot(z.argmax(1), self.units).float()
        err = target - out  # (B, units): +1 missed, -1 false alarm, 0 right
        self.head.weight += lr * err.T @ f / len(x)
        self.head.bias += lr * err.mean(0)
        return (err != 0).any(1).float().mean()


@MODELS.register("logistic", accepts=FLAT, family="perceptron")
class Logistic(Model):
    """Logistic (softmax) regression: one linear layer trained by gradient descent.

    Use when: you need the linear baseline. It is a perceptron with a smooth output and a
    probabilistic loss. Cost: inputs x outputs weights, microseconds per sample.
    """

    def __init__(self, spec: Spec):
        super().__init__(spec)
        self.inputs = AsVector(spec)
        self.head = make_head(spec, self.inputs.dim)

    def forward_features(self, x, lengths=None):
        return self.inputs(x, lengths)


@MODELS.register("mlp", accepts=FLAT, family="mlp")
class MLP(Model):
    """Multi-layer perceptron: layers of perceptrons with a smooth activation, trained by backpropagation.

    Use when: inputs are a fixed set of attributes (tables), or as the order-blind baseline for
    images and sequences: it sees every position as a separate input, so it neither exploits nor
    suffers from order. Alternatives: a CNN for images and local patterns, an RNN for order.
    Cost: about inputs x hidden + depth x hidden^2 weights; fast on a CPU.
    """

    def __init__(
        self,
        spec: Spec,
        *,
        hidden: int = 100,
        depth: int = 2,
        activation: Literal["relu", "tanh", "gelu"] = "relu",
        dropout: float = 0.0,
    ):
        super().__init__(spec)
        self.inputs = AsVector(spec)
        act = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}[activation]
        layers: list[nn.Module] = []
        dim = self.inputs.dim
        for _ in range(depth):
            layers += [nn.Linear(dim, hidden), act()]
            if dropout:
                layers.append(nn.Dropout(dropout))
            dim = hidden
        self.body = nn.Sequential(*layers)
        self.head = make_head(spec, dim)

    def forward_features(self, x, lengths=None):
        return self.body(self.inputs(x, lengths))
