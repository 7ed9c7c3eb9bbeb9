"""Endpoint probes through httpx's transport seam."""

from __future__ import annotations

import httpx

from dyno.client import Endpoint


def _ep(handler: httpx.MockTransport) -> Endpoint:
    return Endpoint("http://x", transport=handler)


def test_status_code_reports_what_answered_and_none_when_nothing_did() -> None:
    locked = httpx.MockTransport(lambda req: httpx.Response(401 if req.url.path == "/v1/models" else 200))
    assert _ep(locked).status_code("/v1/models") == 401

    def refuse(req: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=req)

    assert _ep(httpx.MockTransport(refuse)).status_code("/v1/models") is None
