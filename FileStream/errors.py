"""Errors that cross layers and reach the operator."""


class StartupError(RuntimeError):
    """Start-up failed for a reason the operator can fix; str() says what and what to set."""
