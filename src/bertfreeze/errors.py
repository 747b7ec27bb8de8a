"""User errors: one clear line, exit code 2, no traceback (BERTFREEZE_DEBUG=1 shows it).

A *user* error (bad data, bad config) is raised as :class:`UserError`; anything else is a bug
and keeps its traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

EXIT_USER_ERROR = 2


class UserError(Exception):
    """A problem the user can fix: the message says what, where and how."""


def find_user_error(exc: BaseException) -> UserError | None:
    """The UserError behind ``exc`` (Hydra wraps exceptions raised while instantiating)."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, UserError):
            return cur
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return None


def exit_code(main: Callable[[], int]) -> int:
    """``main()``, with a :class:`UserError` printed as ``error: <message>`` (exit 2): the
    one-line convention for the small command-line tools (bench scripts)."""
    try:
        return main()
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
