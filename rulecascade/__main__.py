"""``python -m rulecascade``: the same as the ``rulecascade`` command."""

from .cli import main

if __name__ == "__main__":
    main(prog_name="rulecascade")
