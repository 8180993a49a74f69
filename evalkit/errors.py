"""The error type for user mistakes: shown as one line, exit status 2, no traceback."""


class UserError(Exception):
    """A mistake in the user's input (options, files, names) that evalkit explains in one line."""
