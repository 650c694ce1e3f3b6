"""One GET returning JSON, with errors a person can act on and no secret in them.

Standard library only (``urllib.request``): a quota poll is one small request,
and nothing here pays for a dependency. Every failure becomes a
``QuotaError`` whose ``kind`` says what happened (``auth``, ``rate_limited``,
``timeout``, ``network``, ``http``, ``not_json``, ``shape``, ``refused``) and
whose message never holds a credential: the values in ``secrets`` are masked
in anything quoted from the server.
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping

from analyzer import __version__

USER_AGENT = f"coding-plan-analyzer/{__version__}"
MAX_BODY = 4 * 1024 * 1024
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


class QuotaError(Exception):
    """A quota endpoint could not be read; ``kind`` classifies it, the message explains it."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def check_url(url: str) -> str:
    """Refuse to send a credential in clear text anywhere but this machine."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOCAL_HOSTS):
        return url
    raise QuotaError("refused", f"refusing to send credentials to {parts.scheme}://{parts.hostname}: use https")


def _server_message(body: bytes, secrets: Iterable[str]) -> str:
    """A short quote of what the server said, from its JSON error fields when it has them."""
    text = body[:2000].decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        err = data.get("error")
        for candidate in (
            err.get("message") if isinstance(err, dict) else err,
            data.get("message"),
            data.get("msg"),
            data.get("detail"),
        ):
            if isinstance(candidate, str) and candidate.strip():
                text = candidate
                break
    text = " ".join(text.split())[:200]
    return redact(text, secrets)


def get_json(url: str, headers: Mapping[str, str], *, timeout: float = 10.0, secrets: Iterable[str] = ()) -> object:
    """GET ``url`` and decode its JSON body; raise ``QuotaError`` for anything else."""
    secrets = [s for s in secrets if s]
    request = urllib.request.Request(
        check_url(url), headers={"User-Agent": USER_AGENT, "Accept": "application/json", **headers}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read(MAX_BODY + 1)
    except urllib.error.HTTPError as exc:
        said = _server_message(exc.read(MAX_BODY) if exc.fp else b"", secrets)
        suffix = f": {said}" if said else ""
        if exc.code in (401, 403):
            raise QuotaError("auth", f"HTTP {exc.code}, the credentials were refused{suffix}") from None
        if exc.code == 429:
            retry = exc.headers.get("Retry-After") if exc.headers else None
            wait = f"; the server asks to wait {retry} s" if retry else ""
            raise QuotaError("rate_limited", f"HTTP 429, too many requests{wait}{suffix}") from None
        raise QuotaError("http", f"HTTP {exc.code} {exc.reason}{suffix}") from None
    except TimeoutError:
        raise QuotaError("timeout", f"no answer within {timeout:g} s") from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, (TimeoutError, socket.timeout)):
            raise QuotaError("timeout", f"no answer within {timeout:g} s") from None
        raise QuotaError("network", f"cannot reach {urllib.parse.urlsplit(url).hostname}: {exc.reason}") from None
    except OSError as exc:
        raise QuotaError("network", f"connection failed: {exc.strerror or exc}") from None
    if len(body) > MAX_BODY:
        raise QuotaError("shape", f"the answer is larger than {MAX_BODY // 1024 // 1024} MB; not a quota answer")
    try:
        return json.loads(body.decode("utf-8-sig"))
    except (ValueError, UnicodeDecodeError):
        start = redact(" ".join(body[:80].decode("utf-8", "replace").split()), secrets)
        raise QuotaError("not_json", f"the answer is not JSON (it starts {start!r})") from None
