"""Errors raised by llmguard.

llmguard raises only two kinds of errors into an application: misuse, found when a
decorator or ``configure`` is given something it cannot work with, and (in later
capabilities) its own run-time decisions. Failures of llmguard's own machinery -- a
sink, a redactor, a serializer -- are never raised; they are counted and reported
(see `llmguard.stats`), except under ``configure(strict=True)``, meant for
tests, where they propagate unchanged.

The tree::

    LLMGuardError
    └── ConfigurationError      misuse, raised at decoration or configure() time
"""

from __future__ import annotations

__all__ = ["ConfigurationError", "LLMGuardError"]


class LLMGuardError(Exception):
    """Base class of every error llmguard raises on purpose."""


class ConfigurationError(LLMGuardError, ValueError):
    """An option, decorator argument or environment setting cannot be used.

    Raised when the misuse is found -- at decoration or ``configure()`` time -- never
    in the middle of a call. The message names the offending option and value.
    """
