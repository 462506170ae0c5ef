"""``rulecascade warmup``: compile the serving kernels ahead of the first request."""

from __future__ import annotations

import click

from .errors import guard
from .options import QUIET


@click.command("warmup")
@QUIET
@guard
def warmup_cmd(quiet: bool) -> None:
    """Compile the rule kernels into the on-disk cache (once after install; later runs only
    check the cache), so that the first `apply` or `Cascade.predict` does not pay for it."""
    from ..kernels.jit import cache_dir
    from ..serve.warmup import warmup

    seconds = warmup(quiet=quiet)
    if not quiet:
        click.echo(f"serving kernels ready in {seconds:.1f} s (cache: {cache_dir()})", err=True)
