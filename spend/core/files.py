"""Files other processes read while we write them: replaced in one step, changed under a lock.

A file rewritten in place is empty or half-written for a moment, and a reader then (the service checking
its API keys on every request) fails. `replace_atomically` writes a temporary file beside it and renames
it over the old one: a reader opens either the old file or the new, whole. `exclusive` serialises
read-modify-write cycles of several processes (two `spend keys add` at once would lose one key).
"""

from __future__ import annotations

import fcntl
import functools
import os
import tempfile
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from pathlib import Path


def replace_atomically(path: Path, text: str, mode: int = 0o600) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, mode)  # before the rename: never visible with wider permissions
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def replace_with(path: Path, write) -> None:
    """`write(temporary)` to a hidden file beside `path`, then move it into place (a reader sees the old
    file or the new one); the temporary file is removed if writing fails. Its name does not end in the
    path's suffix, so no reader or sweep of `*.parquet` picks it up."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


@contextmanager
def exclusive(lock_path: Path, waiting: Callable[[], None] | None = None) -> Iterator[None]:
    """An exclusive lock (flock) on `lock_path`, released when the block ends or the process dies.
    `waiting` is called once if another process holds it (then this one waits its turn)."""
    with _flock(lock_path, fcntl.LOCK_EX, waiting):
        yield


@contextmanager
def shared(lock_path: Path) -> Iterator[None]:
    """A shared lock (flock) on `lock_path`: held by many at once, never beside an exclusive one."""
    with _flock(lock_path, fcntl.LOCK_SH):
        yield


@contextmanager
def _flock(lock_path: Path, mode: int, waiting: Callable[[], None] | None = None) -> Iterator[None]:
    lock_path = Path(lock_path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+b") as handle:
        try:
            fcntl.flock(handle, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            if waiting is not None:
                waiting()
            fcntl.flock(handle, mode)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def user_text(path: Path, option: str) -> str:
    """A text file a user named on the command line (`option`: the flag, for the message), read as UTF-8
    (a byte-order mark, as Excel and Notepad write, is dropped: it would stick to the first value); a missing
    file or bytes that are not UTF-8 text end as one clear error, not an unexpected one."""
    from spend.core.errors import SpendError

    path = Path(path)
    if not path.is_file():
        raise SpendError(f"{option}: {path} is not a file")
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise SpendError(f"{option}: {path.name} is not UTF-8 text (byte {error.start}); save it as UTF-8") from error


def writable(path: Path, option: str) -> None:
    """Before any work: a file can be written at `path` (its folder is made if missing), or one clear error
    naming the option. Found only when writing, it came after minutes of work, as an unexpected error."""
    from spend.core.errors import SpendError

    path = Path(path)
    if path.is_dir():
        raise SpendError(f"{option}: {path} is a folder; name a file in it")
    blocking = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise SpendError(f"{option}: {blocking} is a file, not a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".probe")
    except OSError as error:
        raise SpendError(f"{option}: cannot write in {path.parent} ({error.strerror or error})") from error
    os.close(handle)
    os.unlink(probe)
    if path.exists() and not os.access(path, os.W_OK):
        raise SpendError(f"{option}: {path} cannot be replaced (permission denied)")


def load_yaml(text: str, where: str, kind: str = "YAML"):
    """A user's YAML (or JSON) as `yaml.safe_load` reads it, except that a key given twice in one mapping
    is an error: safe_load keeps the last one silently, so a rules file that says `margin_floor` twice
    would quote by whichever came last without a word. Errors name `where` (the option and file)."""
    import yaml

    from spend.core.errors import SpendError

    loader = _strict_loader()
    try:
        return yaml.load(text, Loader=loader)  # noqa: S506 - a SafeLoader subclass
    except loader.Repeated as error:
        raise SpendError(f"{where}: {yaml_problem(error)}") from None
    except yaml.YAMLError as error:
        raise SpendError(f"{where} is not {kind}: {yaml_problem(error)}") from None


@functools.cache
def _strict_loader():
    import yaml

    class StrictLoader(yaml.SafeLoader):
        class Repeated(yaml.constructor.ConstructorError):
            """A key given twice in one mapping."""

        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *defaults`, which own keys may override
                    continue
                key = self.construct_object(key_node, deep=deep)
                if not isinstance(key, Hashable):
                    continue  # safe_load's own error names it
                if key in seen:
                    raise self.Repeated(None, None, f"{key!r} is given twice", key_node.start_mark)
                seen.add(key)
            return super().construct_mapping(node, deep)

    return StrictLoader


def yaml_problem(error) -> str:
    """A YAML error in one line: PyYAML's message runs over several, with a caret under the spot, so its
    first line and the line number where it has one."""
    where = f" (line {error.problem_mark.line + 1})" if getattr(error, "problem_mark", None) else ""
    return f"{str(error).splitlines()[0]}{where}"
