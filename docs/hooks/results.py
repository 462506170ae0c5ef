"""MkDocs hook: include one section of a benchmark results file into a page.

A line ``<!-- results FILE "Heading" -->`` is replaced by the section of
``benchmarks/results/FILE`` under that heading (up to the next heading of the same or a higher
level), its headings moved so that the section's own heading becomes level 3. A line
``<!-- results FILE -->`` includes the whole file the same way. A missing file or heading
fails the build, so a page never shows figures that no results file holds.
"""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.exceptions import PluginError

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
DIRECTIVE = re.compile(r'^<!-- results (?P<file>[\w.-]+\.md)(?: "(?P<heading>[^"]+)")? -->$', re.M)
HEADING = re.compile(r"^(#{1,6}) +(.*?) *$")
TOP_LEVEL = 3


def section(file: str, heading: str | None) -> str:
    """The lines of ``file`` under ``heading`` (all of it when None), headings moved."""
    path = RESULTS / file
    if not path.is_file():
        raise PluginError(f"results include: {path} does not exist")
    lines = path.read_text(encoding="utf-8").splitlines()
    start, level = 0, None
    if heading is not None:
        found = [
            (i, len(m.group(1)))
            for i, line in enumerate(lines)
            if (m := HEADING.match(line)) and m.group(2) == heading
        ]
        if not found:
            raise PluginError(f"results include: no heading {heading!r} in {path}")
        start, level = found[0]
        end = next(
            (
                j
                for j in range(start + 1, len(lines))
                if (m := HEADING.match(lines[j])) and len(m.group(1)) <= level
            ),
            len(lines),
        )
        lines = lines[start:end]
    levels = [len(m.group(1)) for line in lines if (m := HEADING.match(line))]
    shift = TOP_LEVEL - (level if level is not None else min(levels, default=TOP_LEVEL))
    out = []
    for line in lines:
        m = HEADING.match(line)
        if m:
            line = "#" * min(6, max(1, len(m.group(1)) + shift)) + " " + m.group(2)
        out.append(line)
    return "\n".join(out)


def on_page_markdown(markdown: str, **kwargs: object) -> str:
    """Replace every results directive in a page by the section it names."""
    return DIRECTIVE.sub(lambda m: section(m.group("file"), m.group("heading")), markdown)
