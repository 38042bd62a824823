"""The one error type users see: a message that names the field or file and the problem, printed on one line."""

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

DAMAGED_STORE = "`spend doctor` lists damaged files, and `--repair` removes their batches to ingest again"


class SpendError(Exception):
    """A problem with the user's input or configuration, reported without a traceback."""


class SpendWarning(UserWarning):
    """A warning Spend gives the user itself (libraries' warnings go to the log file, not the terminal)."""


class NoModel(SpendError):
    """No version of `model` holds the alias asked for: what to train is in the message."""

    def __init__(self, message: str, model: str) -> None:
        super().__init__(message)
        self.model = model


class NoCustomers(SpendError):
    """No purchase in the history names a customer (anonymous sales, daily totals): the customer decisions
    cannot be made, the product ones can."""

    def __init__(self) -> None:
        super().__init__(
            "no purchase names a customer (anonymous sales or daily totals): churn, CLV, segments, recall "
            "lists, scores and offers need purchases by customer; demand, pricing and replenishment do not"
        )


class OnlineStoreUnavailable(SpendError):
    """The online store cannot be read now (Redis down or too slow, the SQLite file missing): the serving
    path answers from defaults where it can and with a 503 where it cannot."""

    def __init__(self, message: str, public: str = "the online store cannot be read") -> None:
        super().__init__(message)
        self.public = public  # what a service answer may say: what failed, not where (no path, no host)


def first_line(error: BaseException) -> str:
    """An exception's message in one line (its first), or its type's name when it has none."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def first_few(items: list[str], most: int = 5) -> str:
    """A list for a message: its first `most` items, and how many more there are."""
    return ", ".join(items[:most]) + (f" and {len(items) - most} more" if len(items) > most else "")


@contextmanager
def database_damage(what: str, advice: str) -> Iterator[None]:
    """A SQLite file that is damaged or not a database at all, as one error naming `what` and what to do; a
    lock or a constraint (subclasses of the same error) is not damage and passes through."""
    try:
        yield
    except sqlite3.DatabaseError as error:
        if type(error) is not sqlite3.DatabaseError:
            raise
        raise SpendError(f"{what} cannot be read ({error}): {advice}") from error
