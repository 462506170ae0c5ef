"""The ``rulecascade`` command line: a thin layer over the library.

Every user mistake (missing file or column, wrong type, empty file, malformed rule file, a rule
file for other features) ends as one line on stderr naming the file, column, row or value, and
exit code 2; the library's error types (``InputError``, ``RuleSetError``) are caught here.
Commands: ``fit``, ``show``, ``apply``, ``export``, ``audit``, ``diff``, ``demo``.
"""

from .app import main
from .errors import EXIT_BROKEN, EXIT_OK, EXIT_USAGE

__all__ = ["EXIT_BROKEN", "EXIT_OK", "EXIT_USAGE", "main"]
