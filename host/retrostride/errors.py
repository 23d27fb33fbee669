"""Errors the CLI turns into exit codes: UsageError (a bad option or value:
exit 2, as argparse's own) and everything else it knows (exit 1)."""


class UsageError(ValueError):
    """An option's value is not one the command accepts; the message says which are."""
