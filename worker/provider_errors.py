"""How a provider call failed, in two classes the jobs act on.

Transient: the same call may succeed later (network, timeout, 5xx, 429, a provider's
"internal error"); the job schedules a retry with backoff, honouring ``retry_after``.
Permanent: it will not (credentials, bad template, bad number); the job fails at once
with the provider's code and message and lands in the failed-job registry for replay.
"""

from __future__ import annotations


class ProviderError(Exception):
    """Not a RelayError: the message is the provider's own text, which may quote what it
    was sent (a number, a name), so logs mask its quoted values like any foreign text."""

    def __init__(self, provider: str, message: str, code: int | str | None = None, status: int | None = None):
        self.provider = provider
        self.code = code
        self.status = status
        self.message = message
        detail = f"{provider}"
        if status is not None:
            detail += f" HTTP {status}"
        if code is not None:
            detail += f" code {code}"
        super().__init__(f"{detail}: {message}")


class TransientError(ProviderError):
    def __init__(self, *args, retry_after: float | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.retry_after = retry_after


class PermanentError(ProviderError):
    pass
