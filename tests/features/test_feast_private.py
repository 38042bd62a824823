"""The private Feast names Spend relies on (features/store/feast_private.py) were read from one Feast
version: on any other, this fails first and says what to check, before the format tests fail obscurely."""

from __future__ import annotations

import pathlib
import re

from spend.features.store import feast_private

SOURCE_FOLDERS = ("features", "models", "training", "serving", "spend", "benchmarks")
PRIVATE = re.compile(r"_get_provider|_table_id|_mmh3|_get_conn\b|_get_client|_parse_connection_string|\._client\b")


def test_the_installed_feast_is_the_one_its_private_names_were_checked_against():
    assert feast_private.checked_version(), (
        f"Feast {feast_private.installed_feast()} is installed, but features/store/feast_private.py was checked "
        f"against Feast {feast_private.CHECKED_WITH}: re-read each private name it uses in the new Feast, run "
        "tests/features/test_codec.py and test_store.py (byte-for-byte format), then update CHECKED_WITH"
    )


def test_no_module_but_feast_private_reaches_below_feasts_public_api():
    root = pathlib.Path(__file__).resolve().parents[2]
    offenders = [
        str(path.relative_to(root))
        for folder in SOURCE_FOLDERS
        for path in (root / folder).rglob("*.py")
        if path.name != "feast_private.py" and PRIVATE.search(path.read_text())
    ]
    assert offenders == [], f"private Feast names outside features/store/feast_private.py: {offenders}"
