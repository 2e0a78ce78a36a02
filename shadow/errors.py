"""The exceptions of the shadow comparison core.

Only configuration mistakes and programming errors raise. Everything that can go wrong with a
live request or a candidate response (bad JSON, an unknown encoding, a missing parameter) becomes
data in the outcome instead, because the candidate must never hurt the live path.
"""

from __future__ import annotations


class ShadowError(Exception):
    """Base class of every error raised by `shadow`."""


class RuleError(ShadowError, ValueError):
    """A comparison rule cannot be used as written (bad path, template or pattern)."""


class DecodeError(ShadowError):
    """A body could not be decoded (unknown content encoding, corrupt stream, not JSON)."""


class BodyTooLargeError(DecodeError):
    """A body, once decoded, is larger than the configured limit."""


class TranslationError(ShadowError):
    """A request cannot be translated for the candidate (a parameter the route needs is missing)."""


class StoreUnavailableError(ShadowError):
    """The store cannot be reached or cannot take a write now (a server down, a connection lost,
    a database locked); the same write may succeed later.

    `maybe_stored`: the write failed in its commit, so the client cannot tell whether it went in
    (a failure before the commit leaves nothing stored)."""

    def __init__(self, message: str, *, maybe_stored: bool = False) -> None:
        super().__init__(message)
        self.maybe_stored = maybe_stored
