"""Exit codes, the CLI's one error type, and the guard that turns library errors into one line."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click

from rules_export import RuleSetError
from rules_export.reference import InputError

EXIT_OK = 0
EXIT_BROKEN = 1
EXIT_USAGE = 2
EXIT_CLOSED_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a tool killed by a closed pipe


class CliError(click.ClickException):
    """A usage or input error: one line on stderr, exit code 2."""

    exit_code = EXIT_USAGE


def one_line(e: BaseException) -> str:
    text = str(e).strip()
    return " ".join(text.split()) if text else type(e).__name__


def guard(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the library's error types (and failed file I/O) into one line and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (InputError, RuleSetError) as e:
            raise CliError(one_line(e)) from None
        except BrokenPipeError:  # a closed stdout is no input error (see app.CommandGroup)
            raise
        except OSError as e:
            where = f"{e.filename}: " if getattr(e, "filename", None) else ""
            raise CliError(f"{where}{e.strerror or one_line(e)}") from None

    return wrapper
