"""Headers on every answer of the web process: the admin pages are what they protect, and
on the receiver's JSON they cost a constant dict (nothing that touches Redis).

The Content-Security-Policy allows nothing but the admin pages' one inline stylesheet, by
its hash (so no nonce per response), forms posting back to the relay, and no framing
(clickjacking the Replay button) or <base> tricks. X-Frame-Options says the same to older
browsers. No Strict-Transport-Security: whether a host name is HTTPS-only is the operator's
decision, made at the proxy that terminates TLS.
"""

from __future__ import annotations

import base64
import hashlib

from web.admin import CSS

STYLE_HASH = "sha256-" + base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'none'",
    f"style-src '{STYLE_HASH}'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
])

HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
HEADER_ITEMS = tuple(HEADERS.items())
"""Added to every answer by web/request_frame.py; the admin surfaces add Cache-Control:
no-store (web/responses.py ``no_store``)."""
