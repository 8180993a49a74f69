"""Errors for user mistakes: shown as one line, exit status 2, no traceback."""

from __future__ import annotations


class UserError(Exception):
    """A mistake in the user's input (options, files, names) that evalkit explains in one line."""


class OptionError(UserError):
    """A bad value of one option; the API names the parameter (`device`), the CLI its flag (`--device`)."""

    def __init__(self, option: str, value: object, reason: str) -> None:
        self.option, self.value, self.reason = option, value, reason
        super().__init__(self.text(option))

    def text(self, name: str) -> str:
        """The message with the option called `name`."""
        shown = "" if self.value is None else f" {self.value}"
        return f"{name}{shown}: {self.reason}"
