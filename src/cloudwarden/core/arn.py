"""ARN parsing: ``arn:partition:service:region:account:resource``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from cloudwarden.core.errors import BadInputError


class Arn(BaseModel):
    """A parsed ARN. ``resource`` keeps everything after the fifth colon (``user/alice``, ``bucket/key``)."""

    model_config = ConfigDict(frozen=True)

    partition: str
    service: str
    region: str
    account: str
    resource: str

    @classmethod
    def parse(cls, text: str, where: str = "arn") -> Arn:
        parts = text.split(":", 5)
        if len(parts) != 6 or parts[0] != "arn" or not parts[1] or not parts[2]:
            raise BadInputError(where, f"not an ARN: {text!r} (expected arn:partition:service:region:account:resource)")
        return cls(partition=parts[1], service=parts[2], region=parts[3], account=parts[4], resource=parts[5])

    @property
    def resource_type(self) -> str:
        """``user`` for ``user/alice`` or ``function:name``; empty when the resource has no type prefix."""
        for sep in ("/", ":"):
            if sep in self.resource:
                return self.resource.split(sep, 1)[0]
        return ""

    @property
    def resource_name(self) -> str:
        """The last path element: ``alice`` for ``user/dev/alice``."""
        tail = self.resource
        for sep in ("/", ":"):
            tail = tail.rsplit(sep, 1)[-1]
        return tail

    def __str__(self) -> str:
        return f"arn:{self.partition}:{self.service}:{self.region}:{self.account}:{self.resource}"
