"""Readable names for the arms of one model on one data set: the settings that set the arms apart.

Two arms of one model differ in their model parameters or training settings (their stored ``params_hash``
differs). A name such as ``mlp (budget 200 steps)`` or ``mlp (lr=0.01)`` says what differs; the hash is a
last resort, kept only where the stored settings do not tell two arms apart.
"""

from __future__ import annotations

from typing import Any

IGNORED = frozenset({"seed", "quiet", "data"})  # not settings of an arm: the seed, the console, skipped files
MAX_SHOWN = 3  # more differing settings than this: the first few, then how many more


def budget_text(budget: Any) -> str:
    """``200 steps``, ``30 epochs``, ``60 s`` (several units: joined with 'or'); ``the default`` when unset.

    >>> budget_text({"steps": 200}), budget_text({"seconds": 60.0}), budget_text(None)
    ('200 steps', '60 s', 'the default')
    """
    if not isinstance(budget, dict) or not budget:
        return "the default" if budget in (None, {}) else value_text(budget)
    units = {"seconds": "s"}
    return " or ".join(f"{value_text(v)} {units.get(k, k)}" for k, v in budget.items())


def value_text(v: Any) -> str:
    """A setting's value, short: 0.01, 3e-05, 100, relu, none.

    >>> value_text(0.01), value_text(3e-05), value_text(100), value_text(None), value_text(True)
    ('0.01', '3e-05', '100', 'none', 'true')
    """
    if v is None:
        return "none"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return format(v, ".4g")
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(value_text(x) for x in v) + "]"
    return str(v)


def settings(row: dict[str, Any]) -> dict[str, Any]:
    """One arm's settings, flat: model parameters first, then training settings (nested ones as ``a.b``);
    a training setting whose name a model parameter already has is called ``train.NAME``."""
    out: dict[str, Any] = {}

    def put(prefix: str, d: Any, train: bool) -> None:
        for k, v in (d or {}).items() if isinstance(d, dict) else ():
            if not prefix and k in IGNORED:
                continue
            name = prefix + str(k)
            if isinstance(v, dict) and name != "budget":
                put(name + ".", v, train)
                continue
            out["train." + name if train and name in out else name] = v

    put("", row.get("params"), False)
    put("", row.get("config"), True)
    return out


def describe(name: str, value: Any) -> str:
    """One differing setting in words: ``budget 200 steps``, ``lr=0.01``."""
    return f"budget {budget_text(value)}" if name == "budget" else f"{name}={value_text(value)}"


def arm_names(arms: dict[str, dict[str, Any]]) -> dict[str, str]:
    """For one model's arms (params hash -> one of its stored rows): hash -> what sets the arm apart, e.g.
    ``budget 200 steps``; a short hash is added where those words do not tell two arms apart.

    >>> row = lambda steps, lr: {"params": {"hidden": 8}, "config": {"budget": {"steps": steps}, "lr": lr}}
    >>> arm_names({"aa11": row(50, 0.01), "bb22": row(200, 0.01)})
    {'aa11': 'budget 50 steps', 'bb22': 'budget 200 steps'}
    >>> arm_names({"aa11": row(50, 0.01), "bb22": row(50, 0.1)})
    {'aa11': 'lr=0.01', 'bb22': 'lr=0.1'}
    >>> arm_names({"aa1111": {}, "bb2222": {}})
    {'aa1111': '#aa1111', 'bb2222': '#bb2222'}
    """
    flat = {h: settings(r) for h, r in arms.items()}
    missing = object()
    names = list(dict.fromkeys(k for s in flat.values() for k in s))
    differ = [k for k in names if len({repr(s.get(k, missing)) for s in flat.values()}) > 1]
    differ.sort(key=lambda k: k != "budget")  # the budget first; otherwise parameters, then training settings
    words = {}
    for h, s in flat.items():
        parts = [describe(k, s[k]) if k in s else f"no {k}" for k in differ[:MAX_SHOWN]]
        if len(differ) > MAX_SHOWN:
            parts.append(f"{len(differ) - MAX_SHOWN} more setting{'s' if len(differ) - MAX_SHOWN > 1 else ''}")
        words[h] = ", ".join(parts)
    seen = list(words.values())
    return {h: w if w and seen.count(w) == 1 else (f"{w}, #{h[:6]}" if w else f"#{h[:6]}")
            for h, w in words.items()}
