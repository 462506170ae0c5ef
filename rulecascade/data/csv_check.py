"""Finding what is wrong with a CSV file that polars could not read (or read oddly): the row
and line of an unbalanced quote, a ragged row or a value of another type; and a cheap check
of a file's first bytes before it is read at all."""

from __future__ import annotations

import csv
import re
from pathlib import Path

HEAD_BYTES = 64 * 1024
_PARSE_ERROR = re.compile(
    r"could not parse `(?P<value>.*?)` as dtype `(?P<dtype>[^`]+)` at column "
    r"'(?P<column>.*)' \(column number (?P<number>\d+)\)",
    re.DOTALL,
)


def check_head(path: Path) -> str | None:
    """A reason the file cannot be a CSV text table, from its first bytes (NUL bytes: a
    binary or UTF-16 file), or None."""
    with open(path, "rb") as fh:
        head = fh.read(HEAD_BYTES)
    at = head.find(b"\0")
    if at >= 0:
        return (
            f"holds a NUL byte at byte {at}: not a CSV text table "
            "(binary, or UTF-16 text: save it as UTF-8)"
        )
    return None


def find_problem(path: Path, sep: str, error: str | None = None) -> str | None:
    """The first problem a strict CSV reader finds, with its row (0-based, as data rows are
    counted elsewhere) and line: an unbalanced quote, a row with more or fewer fields than the
    header, or (``error`` being polars' parse error) the first value that does not parse."""
    parse = _PARSE_ERROR.search(error or "")
    try:
        with open(path, newline="", encoding="utf-8-sig", errors="replace") as fh:
            reader = csv.reader(fh, delimiter=sep, strict=True)
            line = 1
            try:
                header = next(reader)
            except StopIteration:
                return None
            except csv.Error:
                return f"line {line}: unbalanced quote in the header (a quoted name never ends)"
            row = -1
            while True:
                start = reader.line_num + 1
                try:
                    fields = next(reader)
                except StopIteration:
                    return None
                except csv.Error as e:
                    return (
                        f"row {row + 1} (line {start}): unbalanced quote (a quoted field never "
                        f"ends)" + ("" if "end of data" in str(e) else f": {e}")
                    )
                if not fields:
                    continue
                row += 1
                if len(fields) > len(header):
                    return (
                        f"row {row} (line {start}) has {len(fields)} fields, the header has "
                        f"{len(header)}"
                    )
                if parse is not None:
                    k = int(parse["number"]) - 1
                    if k < len(fields) and fields[k] == parse["value"]:
                        return (
                            f"column {parse['column']!r}, row {row} (line {start}): "
                            f"{fields[k]!r} is not a {parse['dtype']} like the rows before it (a "
                            "column's type is inferred from its first 10,000 rows)"
                        )
    except OSError:
        return None
