"""The one error type users see: a message that names the field or file and the problem, printed on one line."""


class SpendError(Exception):
    """A problem with the user's input or configuration, reported without a traceback."""
