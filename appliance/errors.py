"""The one base class for bad input.

Whatever a person or a document hands in and is wrong raises a subclass of
BadInput with a message saying what to fix; nothing has been changed when it
is raised. The CLI turns it into exit status 2, the web and the API into 400.
A plain ValueError is a bug and is never mistaken for a usage error.
"""


class BadInput(ValueError):
    """Input is invalid; the message names the field and how to fix it."""


class FieldErrors(BadInput):
    """Bad input in named fields: {field: message}, so a form can show each."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors
