"""The HTTP exchange as the recorder sees it: one captured request and its response.

The WSGI middleware fills these from the environ and from what moto answered; everything else in the
recorder (operation resolution, identity, record building) reads only these two value objects, so it
can be tested without a server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qs

# SigV4: "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/s3/aws4_request, SignedHeaders=..., ..."
_SIGV4_PREFIX = "AWS4-HMAC-SHA256"


@dataclass(frozen=True)
class CredentialScope:
    """Who signed the request and for what: the access key, region and signing name (the service)."""

    access_key_id: str | None
    region: str | None
    signing_name: str | None


@dataclass(frozen=True)
class CapturedRequest:
    """One request as received. ``headers`` keys are lower-case; ``path`` is decoded (WSGI PATH_INFO)."""

    method: str
    path: str
    query_string: str
    headers: dict[str, str]
    body: bytes
    remote_addr: str
    query: dict[str, list[str]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "query", parse_qs(self.query_string, keep_blank_values=True))

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)

    @property
    def host(self) -> str:
        return self.header("host")

    @property
    def source_ip(self) -> str:
        """The first ``X-Forwarded-For`` address when present (scenarios play outside callers), else the peer."""
        forwarded = self.header("x-forwarded-for")
        if forwarded:
            first = forwarded.split(",")[0].strip()
            if first:
                return first
        return self.remote_addr

    def form(self) -> dict[str, list[str]]:
        """Query-protocol parameters: the form body (POST) merged over the URL query string."""
        params: dict[str, list[str]] = {k: list(v) for k, v in self.query.items()}
        if self.header("content-type").startswith("application/x-www-form-urlencoded") and self.body:
            for key, values in parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True).items():
                params[key] = values
        return params

    def scope(self) -> CredentialScope:
        return parse_credential_scope(self.header("authorization"), self.query)


@dataclass(frozen=True)
class CapturedResponse:
    """What the backend answered. ``headers`` keys are lower-case."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def ok(self) -> bool:
        return self.status < 400


def parse_credential_scope(authorization: str, query: dict[str, list[str]]) -> CredentialScope:
    """Read the access key, region and service from a SigV4 header or presigned URL (SigV2: key only)."""
    credential = ""
    if authorization.startswith(_SIGV4_PREFIX):
        for part in authorization[len(_SIGV4_PREFIX) :].split(","):
            name, _, value = part.strip().partition("=")
            if name == "Credential":
                credential = value
                break
    elif "X-Amz-Credential" in query:
        credential = query["X-Amz-Credential"][0]
    elif authorization.startswith("AWS "):
        # SigV2 ("AWS AKID:signature"), still accepted by S3.
        return CredentialScope(authorization[4:].split(":")[0] or None, None, "s3")
    elif "AWSAccessKeyId" in query:
        return CredentialScope(query["AWSAccessKeyId"][0] or None, None, "s3")
    if not credential:
        return CredentialScope(None, None, None)
    parts = credential.split("/")
    if len(parts) != 5:
        return CredentialScope(parts[0] or None, None, None)
    return CredentialScope(parts[0] or None, parts[2] or None, parts[3].lower() or None)
