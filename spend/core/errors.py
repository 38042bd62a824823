"""The one error type users see: a message that names the field or file and the problem, printed on one line."""


class SpendError(Exception):
    """A problem with the user's input or configuration, reported without a traceback."""


class SpendWarning(UserWarning):
    """A warning Spend gives the user itself (libraries' warnings go to the log file, not the terminal)."""


class OnlineStoreUnavailable(SpendError):
    """The online store cannot be read now (Redis down or too slow, the SQLite file missing): the serving
    path answers from defaults where it can and with a 503 where it cannot."""

    def __init__(self, message: str, public: str = "the online store cannot be read") -> None:
        super().__init__(message)
        self.public = public  # what a service answer may say: what failed, not where (no path, no host)
