"""Credential redaction: tracking URIs may carry passwords and tokens.

Every log message that names a URI, and the URI stored in ``mlflow_run.json``,
go through :func:`redact`.
"""

from __future__ import annotations

import re

_USERINFO_RE = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^:/@\s]*):(?P<secret>[^/\s]*)@"
)
_SECRET_QUERY_RE = re.compile(
    r"(?P<key>[?&;][^=&#\s]*?(?:password|passwd|pwd|token|secret|key|signature|sig|"
    r"credential|auth)[^=&#\s]*=)(?P<value>[^&#\s]*)",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """Mask credentials in a URI or in any text that contains URIs.

    ``http://user:pass@host`` becomes ``http://user:***@host``; query
    parameters that look secret (``?token=``, ``&password=``, ``sig=``, ...)
    get ``***`` as their value.
    """
    text = _USERINFO_RE.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    return _SECRET_QUERY_RE.sub(lambda m: f"{m['key']}***", text)


def _short(exc: BaseException) -> str:
    """One redacted line describing ``exc`` (MLflow errors can be pages long)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return redact(text if len(text) <= 300 else text[:297] + "...")
