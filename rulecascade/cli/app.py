"""The ``rulecascade`` command group."""

from __future__ import annotations

import click

from .. import __version__
from .demo import demo
from .fit import fit
from .review import audit, certify, diff_cmd, show
from .serve import apply, export

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
"""


class CommandGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return ["fit", "show", "apply", "export", "audit", "certify", "diff", "demo"]


@click.group(
    cls=CommandGroup,
    help=MAIN_HELP,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="rulecascade")
def main() -> None:
    pass


for command in (fit, show, apply, export, audit, certify, diff_cmd, demo):
    main.add_command(command)
