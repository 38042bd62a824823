"""docs/data-dictionary.md is generated from the schema and kept in step with it."""

from pathlib import Path

from spend.features.schema.dictionary import render_dictionary
from spend.features.schema.fields import default_context
from spend.features.schema.tables import TABLES

DICTIONARY = Path(__file__).resolve().parents[2] / "docs" / "data-dictionary.md"


def test_the_committed_dictionary_is_up_to_date():
    assert DICTIONARY.read_text() == render_dictionary(), "run `spend dictionary` and commit docs/data-dictionary.md"


def test_every_field_and_rule_is_documented():
    text = render_dictionary()
    for spec in TABLES.values():
        for field in spec.fields(default_context()):
            assert f"| `{field.name}` |" in text
            for rule in field.rules:
                assert f"`{field.name}:{rule.name}`" in text
        for rule in spec.row_rules(default_context()):
            assert f"`{rule.reason}`" in text
