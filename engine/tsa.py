"""Trusted time for checkpoints (optional): with `[log] tsa_url`, each signed checkpoint is sent to an RFC 3161
time-stamping authority, and its answer (the DER TimeStampResponse, base64) is kept with the checkpoint. The token
proves, on the authority's word and not the installation's, that the checkpoint - and so every record it covers -
existed at that moment: a log rewritten later cannot be given earlier tokens.

The request asks for SHA-256 of the whole signed note, a nonce and the authority's certificate; the answer is
checked here (granted, this note, this nonce) before it is kept. Checking a kept token is the independent
verifier's (convenant/verify.py `verify_timestamp`), so `audit verify` and `convenant-verify` judge it alike."""
from __future__ import annotations

import base64
import urllib.error
import urllib.request
from collections.abc import Sequence

from convenant.engine.errors import ConvenantError
from convenant.verify import BadInput, Invalid, verify_timestamp

CONTENT_TYPE = "application/timestamp-query"


class TsaError(ConvenantError):
    """The time-stamping authority did not answer with a token for this checkpoint."""


def stamp(note: str, url: str, *, timeout: float = 10) -> str:
    """The authority's token for this signed note (base64 of its DER TimeStampResponse)."""
    import rfc3161_client
    request = (rfc3161_client.TimestampRequestBuilder().data(note.encode("utf-8"))
               .hash_algorithm(rfc3161_client.HashAlgorithm.SHA256)
               .nonce(nonce=True).cert_request(cert_request=True).build())
    http = urllib.request.Request(url, data=request.as_bytes(), method="POST",
                                  headers={"Content-Type": CONTENT_TYPE, "Accept": "application/timestamp-reply"})
    try:
        with urllib.request.urlopen(http, timeout=timeout) as answer:   # noqa: S310 - the configured authority
            body = answer.read(1 << 20)
    except (urllib.error.URLError, OSError) as exc:
        raise TsaError(f"[log] tsa_url {url}: no answer ({getattr(exc, 'reason', exc)})", field="log.tsa_url") from None
    token = base64.b64encode(body).decode("ascii")
    try:
        verify_timestamp(token, note, what="the authority's answer")
        if rfc3161_client.decode_timestamp_response(body).tst_info.nonce != request.nonce:
            raise Invalid("the authority's answer: its nonce is not the request's")
    except (Invalid, BadInput) as exc:
        raise TsaError(f"[log] tsa_url {url}: {exc}", field="log.tsa_url") from None
    return token


def check(token: str, note: str, roots: Sequence[bytes] = ()) -> str:
    """The stamped time, once the token is shown to stamp this note (Invalid or BadInput otherwise)."""
    return verify_timestamp(token, note, roots)
