"""The one user-facing error type: a clear sentence, never a traceback."""


class WorkbenchError(Exception):
    """A problem the user can fix (bad input, missing file, invalid setting).

    The CLI prints ``error: <message>`` and exits non-zero; the TUI shows the message in place.
    """
