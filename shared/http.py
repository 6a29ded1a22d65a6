"""Small helpers for the providers' HTTP answers."""

from __future__ import annotations

from typing import Any

import requests


def json_body(response: requests.Response) -> Any:
    """The decoded JSON body, or None when there is none or it is not JSON."""
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None
