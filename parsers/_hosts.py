"""The host of an endpoint URL: all that is kept of where an agent sent its requests."""

from __future__ import annotations

from urllib.parse import urlsplit


def host_of(url: object) -> str | None:
    """The lower-case host of a base URL (``https://open.bigmodel.cn/api/anthropic`` -> ``open.bigmodel.cn``)."""
    if not isinstance(url, str) or not url.strip():
        return None
    text = url.strip()
    if "://" not in text:
        text = "https://" + text
    try:
        host = urlsplit(text).hostname
    except ValueError:
        return None
    return host.lower().rstrip(".") if host else None
