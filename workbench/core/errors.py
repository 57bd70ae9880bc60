"""The one user-facing error type: a clear sentence, never a traceback."""


class WorkbenchError(Exception):
    """A problem the user can fix (bad input, missing file, invalid setting).

    The CLI prints ``error: <message>`` and exits non-zero; the TUI shows the message in place.
    """


def shown(value: object, limit: int = 60) -> str:
    """``value`` (a column name, a label, a line of data) as it may appear inside a one-line message: line breaks
    and other control characters escaped, long text cut to ``limit`` characters."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        text = text[:limit] + "…"
    return text if text.isprintable() else repr(text)[1:-1]


def shown_list(values, limit: int = 10) -> str:
    """A comma-separated list of ``values`` for a one-line message: each one :func:`shown`, at most ``limit``."""
    values = list(values)
    items = ", ".join(shown(v, 40) for v in values[:limit])
    return items + (f", … ({len(values)} in all)" if len(values) > limit else "")


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none), for a one-line error."""
    lines = str(exc).strip().splitlines()
    return shown(lines[0], 200) if lines else type(exc).__name__
