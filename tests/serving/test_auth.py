"""API keys: stored hashed, shown once; missing/unknown keys are 401, the wrong role 403, with a reason."""

from __future__ import annotations

import json

import pytest

from spend.serving.auth import AuthError, KeyStore, permissions


def test_keys_are_stored_hashed_and_roles_decide_permissions(tmp_path):
    store = KeyStore(tmp_path / "keys.json")
    marketing = store.add("crm", "marketing")
    pricing = store.add("pricer", "pricing-engine")
    assert marketing not in (tmp_path / "keys.json").read_text()  # only the digest is kept
    assert store.authorize(marketing, "recall").role == "marketing"
    assert store.authorize(pricing, "fraud").name == "pricer"
    with pytest.raises(AuthError) as refused:
        store.authorize(marketing, "fraud")
    assert refused.value.status == 403 and "may not call fraud" in refused.value.reason
    for key, status, text in ((None, 401, "missing API key"), ("forged", 401, "unknown API key")):
        with pytest.raises(AuthError) as error:
            store.authorize(key, "churn")
        assert (error.value.status, text in error.value.reason) == (status, True)


LETTERS = "letters, digits"


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("", "must not be blank"),
        ("  ", "must not be blank"),
        (" erp", LETTERS),
        ("crm\nINFO forged line", LETTERS),  # a name is written on every log line of its calls
        ("anna@example.com", LETTERS),  # a person's address would be an id in the logs
        ("team crm", LETTERS),
        ("-crm", LETTERS),
        ("x" * 65, "65 characters"),
    ],
)
def test_a_key_needs_a_short_plain_name_it_can_be_told_apart_and_revoked_by(tmp_path, name, words):
    store = KeyStore(tmp_path / "keys.json")
    with pytest.raises(ValueError, match=words):
        store.add(name, "marketing")
    assert not (tmp_path / "keys.json").exists()  # nothing was created
    assert store.add("x" * 64, "marketing") and store.add("erp-2.eu_west", "supply-chain")


def test_admin_calls_are_for_data_scientists_and_admins_only():
    assert [role for role, perms in permissions().items() if "admin" in perms] == ["data-scientist", "admin"]


def test_each_model_is_callable_by_the_roles_its_spec_names_and_by_data_scientists_and_admins():
    roles = permissions()
    assert {r for r, perms in roles.items() if "churn" in perms} == {"marketing", "data-scientist", "admin"}
    assert {r for r, perms in roles.items() if "fraud" in perms} == {"pricing-engine", "data-scientist", "admin"}
    assert not any("clv" in perms for perms in roles.values())  # batch only: no route


def test_bad_roles_duplicates_and_revocation(tmp_path):
    store = KeyStore(tmp_path / "keys.json")
    with pytest.raises(ValueError, match="unknown role 'boss'"):
        store.add("x", "boss")
    key = store.add("crm", "marketing")
    with pytest.raises(ValueError, match="a key named 'crm' exists"):
        store.add("crm", "admin")
    assert store.revoke("crm")
    with pytest.raises(AuthError, match="unknown API key"):
        store.authorize(key, "churn")


def test_keys_from_the_command_line(settings):
    from typer.testing import CliRunner

    from spend.cli import app

    runner = CliRunner()
    added = runner.invoke(app, ["keys", "add", "crm", "--role", "marketing"])
    assert added.exit_code == 0 and len(added.stdout.strip()) > 30
    listed = runner.invoke(app, ["keys", "list", "--json"])
    assert '"name": "crm"' in listed.stdout and added.stdout.strip() not in listed.stdout
    bad = runner.invoke(app, ["keys", "add", "x", "--role", "boss"])
    assert bad.exit_code == 2 and "unknown role 'boss'" in bad.output
    assert runner.invoke(app, ["keys", "revoke", "crm"]).exit_code == 0
    assert runner.invoke(app, ["keys", "revoke", "crm"]).exit_code == 2
    scripted = json.loads(runner.invoke(app, ["keys", "add", "engine", "--role", "pricing-engine", "--json"]).stdout)
    assert (scripted["name"], scripted["role"]) == ("engine", "pricing-engine")
    assert (
        KeyStore(settings.paths.home / "serving" / "api_keys.json").authorize(scripted["key"], "pricing").role
        == "pricing-engine"
    )


@pytest.mark.parametrize("text", ['{"keys": [', "[]", '{"abc": "marketing"}', "\xff\xfe"])
def test_a_damaged_key_file_authorises_nobody_and_says_which_file(settings, text):
    """Was `unexpected JSONDecodeError` from `spend keys list`, and the raw JSON error from `keys add`."""
    from typer.testing import CliRunner

    from spend.cli import app
    from spend.serving.auth import KeyFileError, key_store

    store = key_store(settings.paths.home)
    key = store.add("crm", "marketing")
    store.path.write_bytes(text.encode("latin-1"))
    with pytest.raises(KeyFileError, match="cannot be read"):
        store.authorize(key, "churn")
    for command in (["keys", "list"], ["keys", "add", "erp", "--role", "marketing"], ["keys", "revoke", "crm"]):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 2 and result.output.count("error:") == 1, result.output
        assert "the key file" in result.output and "unexpected" not in result.output, result.output


def test_metrics_are_for_monitoring_data_scientists_and_admins():
    assert [role for role, perms in permissions().items() if "metrics" in perms] == [
        "data-scientist",
        "admin",
        "monitoring",
    ]
    assert permissions()["monitoring"] == frozenset({"metrics"})


def test_readers_never_see_a_half_written_key_file_while_keys_change(tmp_path):
    """The service reads the key file on every request while `spend keys add/revoke` rewrite it: a reader
    must see the old file or the new one, whole (in-place writes gave requests an empty file)."""
    import threading

    path = tmp_path / "keys.json"
    writer = KeyStore(path)
    kept = writer.add("kept", "marketing")
    failures, done = [], threading.Event()

    def read() -> None:
        reader = KeyStore(path)
        while not done.is_set():
            try:
                assert reader.authorize(kept, "recall").name == "kept"
            except Exception as error:  # noqa: BLE001 - any failure is the finding
                failures.append(repr(error))

    readers = [threading.Thread(target=read) for _ in range(2)]
    for thread in readers:
        thread.start()
    try:
        for i in range(150):
            writer.add(f"churn-{i}", "marketing")
            writer.revoke(f"churn-{i}")
    finally:
        done.set()
        for thread in readers:
            thread.join()
    assert failures == []
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def _add_keys(path: str, prefix: str) -> None:
    for i in range(15):
        KeyStore(path).add(f"{prefix}-{i}", "marketing")


def test_two_processes_adding_keys_at_once_keep_every_key(tmp_path):
    import multiprocessing

    path = str(tmp_path / "keys.json")
    workers = [multiprocessing.Process(target=_add_keys, args=(path, p)) for p in ("a", "b")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert len(KeyStore(path).list()) == 30
