"""casavi authentication as the simulator does it: ``POST /authenticate`` with
``{key, secret}`` returns ``{token, expiresAt}``; every other call sends the token in
the ``token`` header. Tokens last ``token_ttl_s`` (casavi: about a month) and are kept
in the store as SHA-256 digests, so they survive a restart of the simulator.

The API text also describes a "Refresh access token" operation, but gives no path for
it; the simulator does not invent one (clients re-authenticate on 401, as with casavi).
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

from streams.casavi.models import AuthRequest, AuthResponse
from streams.simulator.store import Store

TOKEN_HEADER = "token"


def legacy_request(body: Mapping[str, object]) -> Mapping[str, object]:
    """The deprecated ``{apiKey, email, password}`` form, mapped as casavi does:
    key = apiKey, secret = password, email is ignored."""
    if "key" not in body and "apiKey" in body:
        return {"key": body["apiKey"], "secret": body.get("password")}
    return body


class Authenticator:
    def __init__(self, store: Store, credentials: Mapping[str, str], ttl_s: float,
                 clock: Callable[[], datetime]) -> None:
        self._store = store
        self._credentials = dict(credentials)
        self._ttl = timedelta(seconds=ttl_s)
        self._clock = clock

    def authenticate(self, request: AuthRequest) -> AuthResponse | None:
        """A new token for a known key and secret, else None."""
        expected = self._credentials.get(request.key)
        if expected is None or not hmac.compare_digest(expected.encode(), request.secret.encode()):
            return None
        token = str(uuid.uuid4())
        expires_at = self._clock() + self._ttl
        self._store.add_token(_digest(token), expires_at.timestamp())
        return AuthResponse(token=token, expiresAt=expires_at.astimezone(UTC))

    def is_valid(self, token: str | None) -> bool:
        if not token:
            return False
        expires_at = self._store.token_expiry(_digest(token))
        return expires_at is not None and self._clock().timestamp() < expires_at

    def expire_all(self) -> None:
        """Every token issued so far expires now (the next call with it gets 401)."""
        self._store.expire_tokens(self._clock().timestamp())


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
