"""The reports package's one exception.

ReportError   a report cannot be made: the store is unreachable or missing, or an input
              cannot be read; the message is one paragraph for the user (what, why, what to do)
"""

from __future__ import annotations


class ReportError(Exception):
    """A report could not be made; the message says why and what to do."""
