"""The ``rulecascade`` command group."""

from __future__ import annotations

import io
import os
import sys
from typing import Any

import click

from .. import __version__
from .demo import demo
from .errors import EXIT_CLOSED_PIPE
from .fit import fit
from .review import audit, certify, diff_cmd, show
from .serve import apply, export
from .warm import warmup_cmd

MAIN_HELP = """\
Pure-region rules that answer the easy rows before an expensive classifier runs.

\b
DATA files: parquet (.parquet, .pq), CSV (.csv, .tsv), Arrow IPC (.arrow, .feather, .ipc)
or a 2-D numpy array (.npy; columns are named x0, x1, ...).

\b
Exit codes:
  0  success (audit: every bound holds; certify: certified; diff: identical)
  1  audit: a rule or the set breaks its bound; certify: refused; diff: the rule sets differ
  2  usage or input error (one line on stderr naming the file, column, row or value)
  141  stdout was closed by its reader (e.g. `| head`); files written stay written
"""


class CommandGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return ["fit", "show", "apply", "export", "audit", "certify", "diff", "demo", "warmup"]

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; a reader that closed stdout (``| head``) ends it quietly with exit
        code 141, as a shell reports a tool stopped by SIGPIPE (files already written stay)."""
        try:
            rv = super().invoke(ctx)
            sys.stdout.flush()
            return rv
        except BrokenPipeError:
            try:  # Python's advice: point stdout at devnull so the exit's flush does not fail
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
            except (OSError, ValueError, io.UnsupportedOperation):
                pass
            sys.exit(EXIT_CLOSED_PIPE)


@click.group(
    cls=CommandGroup,
    help=MAIN_HELP,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="rulecascade")
def main() -> None:
    pass


for command in (fit, show, apply, export, audit, certify, diff_cmd, demo, warmup_cmd):
    main.add_command(command)
