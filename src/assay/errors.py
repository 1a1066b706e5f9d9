"""The errors assay raises: one hierarchy, each with a stable code for the CLI and the HTTP API.

Every error says what was wrong and how to fix it. Pure module: no I/O.
"""

from __future__ import annotations


class AssayError(Exception):
    """Base of every error assay raises on purpose; ``code`` is stable across releases."""

    code = "INTERNAL_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(AssayError):
    """A value given to assay breaks a rule (key syntax, type, length, ...)."""

    code = "INVALID_ARGUMENT"


class NotFound(AssayError):
    """An experiment, run, artifact or other named thing does not exist."""

    code = "NOT_FOUND"


class Conflict(AssayError):
    """The request contradicts what is stored (a param re-logged with another value, a duplicate name)."""

    code = "CONFLICT"


class InvalidState(AssayError):
    """The target is in a state that forbids the operation (logging to an ended or deleted run)."""

    code = "INVALID_STATE"


class AccessDenied(AssayError):
    """The caller may not do this: base of the two auth failures. The SDK keeps the data through both
    (``assay.sdk.policy``): a batch refused as Unauthenticated waits in the spool until a valid token sends
    it; an operation refused as PermissionDenied is set aside until the role is given back."""

    code = "ACCESS_DENIED"


class Unauthenticated(AccessDenied):
    """No credentials, or credentials the server does not know (a missing, wrong or revoked token)."""

    code = "UNAUTHENTICATED"


class PermissionDenied(AccessDenied):
    """The caller is known but lacks the role the operation needs in the project it touches."""

    code = "PERMISSION_DENIED"


class Unavailable(AssayError):
    """The store or server cannot be reached or failed to answer (not a refusal: worth retrying).

    The message names the store without its password and says what to check."""

    code = "UNAVAILABLE"


class MissingDependency(AssayError):
    """An optional package is needed; the message names the extra that installs it."""

    code = "MISSING_DEPENDENCY"


class FilterSyntaxError(InvalidInput):
    """A search filter or order-by clause could not be parsed.

    The message shows the text with a caret under the offending position::

        unexpected 'adn': expected 'and', 'or' or the end of the filter
          metrics.acc > 0.9 adn params.model = 'rf'
                            ^
    """

    def __init__(self, reason: str, text: str, position: int) -> None:
        self.reason = reason
        self.text = text
        self.position = position
        caret = " " * (2 + position) + "^"
        super().__init__(f"{reason}\n  {text}\n{caret}")
