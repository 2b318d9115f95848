"""What is registered, as rows and as Markdown: the one source of `blobbotronic models` / `datasets` and of the
README's and docs/catalogue.md's tables, so that no table drifts from the registries.

    python -m blobbotronic.catalogue --write     # regenerate the tables in README.md and docs/catalogue.md
    python -m blobbotronic.catalogue --check     # exit 1 if any is stale (tests/test_catalogue.py runs this)
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODALITIES = ("table", "image", "sequence", "text", "video", "audio")
FAMILY_ORDER = ("perceptron", "mlp", "cnn", "recurrent", "hybrid", "attention", "random-filters", "baseline")


def model_rows() -> list[dict]:
    """One row per registered model: name, family, the modalities and tasks it takes, presets, first doc line."""
    from .models import MODELS, presets

    rows = []
    for n in MODELS:
        tags = MODELS.tags(n)
        rows.append({"name": n, "family": tags.get("family", ""), "accepts": list(tags.get("accepts", ())),
                     "tasks": list(tags.get("tasks", ())), "presets": presets.PRESETS.names(model=n),
                     "about": (MODELS.get(n).__doc__ or "").strip().splitlines()[0]})
    return rows


def dataset_rows() -> list[dict]:
    """One row per built-in data set: name, modality, task, about, source (and any other registration tags)."""
    from .data import DATASETS

    return [{"name": n, **{k: v for k, v in DATASETS.tags(n).items() if k != "budget"}} for n in DATASETS]


def _order(key: str, order: tuple[str, ...]) -> tuple[int, str]:
    return (order.index(key) if key in order else len(order), key)


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def models_table(rows: list[dict]) -> str:
    """The README's models table: one line per family."""
    by_family: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_family[r["family"]].append(r)
    lines = ["| family | models | reads |", "|---|---|---|"]
    for fam in sorted(by_family, key=lambda f: _order(f, FAMILY_ORDER)):
        names = ", ".join(f"`{r['name']}`" for r in by_family[fam])
        reads = sorted({m for r in by_family[fam] for m in r["accepts"]}, key=lambda m: _order(m, MODALITIES))
        lines.append(f"| {fam} | {names} | {', '.join(reads)} |")
    return "\n".join(lines)


def data_table(rows: list[dict]) -> str:
    """The README's data table: one line per modality, each set with its task where it is not classification."""
    by_modality: dict[str, list[str]] = defaultdict(list)
    for r in rows:
        task = r.get("task", "classify")
        by_modality[r.get("modality", "")].append(f"`{r['name']}`" + ("" if task == "classify" else f" ({task})"))
    lines = ["| modality | built-in sets (task when not classification) |", "|---|---|"]
    for mod in sorted(by_modality, key=lambda m: _order(m, MODALITIES)):
        lines.append(f"| {mod} | {', '.join(by_modality[mod])} |")
    return "\n".join(lines)


def catalogue_page(models: list[dict], data: list[dict]) -> str:
    """docs/catalogue.md: every model and every built-in set, one row each."""
    out = ["# Catalogue", "", "Generated from the registries by `python -m blobbotronic.catalogue --write`; "
           "`blobbotronic models --json` and `blobbotronic datasets --json` print the same rows.", "",
           "## Models", "", "| name | family | reads | tasks | about |", "|---|---|---|---|---|"]
    for r in models:
        out.append(f"| `{r['name']}` | {r['family']} | {', '.join(r['accepts'])} | "
                   f"{', '.join(r['tasks']) or 'classify, regress'} | {_cell(r['about'])} |")
    out += ["", "## Built-in data sets", "", "| name | modality | task | about | source |", "|---|---|---|---|---|"]
    for r in data:
        out.append(f"| `{r['name']}` | {r.get('modality', '')} | {r.get('task', '')} | {_cell(r.get('about', ''))} | "
                   f"{_cell(r.get('source', ''))} |")
    return "\n".join(out) + "\n"


def _splice(text: str, name: str, table: str) -> str:
    """Replace what lies between ``<!-- generated: NAME -->`` and ``<!-- end generated -->``."""
    pattern = re.compile(rf"(<!-- generated: {name} -->\n).*?(<!-- end generated -->)", re.S)
    if not pattern.search(text):
        raise ValueError(f"README.md has no '<!-- generated: {name} -->' ... '<!-- end generated -->' block")
    return pattern.sub(lambda m: m.group(1) + table + "\n" + m.group(2), text, count=1)


def expected_files(root: Path = ROOT) -> dict[Path, str]:
    """Each generated file's path and the text it should hold now."""
    models, data = model_rows(), dataset_rows()
    readme = (root / "README.md").read_text(encoding="utf-8")
    readme = _splice(_splice(readme, "models", models_table(models)), "data", data_table(data))
    return {root / "README.md": readme, root / "docs" / "catalogue.md": catalogue_page(models, data)}


def stale(root: Path = ROOT) -> list[Path]:
    """The generated files whose text differs from what the registries give now."""
    return [p for p, text in expected_files(root).items()
            if not p.exists() or p.read_text(encoding="utf-8") != text]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m blobbotronic.catalogue", description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="regenerate the tables")
    ap.add_argument("--check", action="store_true", help="exit 1 if a table is stale")
    args = ap.parse_args(argv)
    if args.write:
        for path, text in expected_files().items():
            path.write_text(text, encoding="utf-8")
        return 0
    out = stale()
    for p in out:
        print(f"{p.relative_to(ROOT)} is stale: run python -m blobbotronic.catalogue --write", file=sys.stderr)
    return 1 if out else 0


if __name__ == "__main__":
    sys.exit(main())
