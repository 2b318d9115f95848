"""The README's and docs/catalogue.md's tables are generated from the registries and must not drift."""

import json
import subprocess
import sys

from blobbotronic import catalogue


def test_the_generated_tables_match_the_registries():
    stale = catalogue.stale()
    assert not stale, f"stale: {stale}; run python -m blobbotronic.catalogue --write"


def test_the_tables_name_exactly_what_the_cli_lists(tmp_path):
    models = json.loads(subprocess.run([sys.executable, "-m", "blobbotronic", "models", "--json"], check=True,
                                       capture_output=True, text=True).stdout)["models"]
    data = json.loads(subprocess.run([sys.executable, "-m", "blobbotronic", "datasets", "--json"], check=True,
                                     capture_output=True, text=True).stdout)["datasets"]
    readme = (catalogue.ROOT / "README.md").read_text(encoding="utf-8")
    page = (catalogue.ROOT / "docs" / "catalogue.md").read_text(encoding="utf-8")
    for row in models + data:
        assert f"`{row['name']}`" in readme and f"| `{row['name']}` |" in page, row["name"]


def test_a_new_registration_makes_the_tables_stale(tmp_path, monkeypatch):
    rows = catalogue.model_rows() + [{"name": "brand_new", "family": "cnn", "accepts": ["image"], "tasks": [],
                                      "presets": [], "about": "A new model."}]
    monkeypatch.setattr(catalogue, "model_rows", lambda: rows)
    assert catalogue.ROOT / "README.md" in catalogue.stale()
    assert "`brand_new`" in catalogue.models_table(rows)
