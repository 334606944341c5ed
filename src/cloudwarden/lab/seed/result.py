"""What seeding the demo organisation produced, saved as ``<state dir>/seed.json``.

Traffic, attack scenarios, tests and ``cloudwarden lab status`` need the ids AWS generated while the
organisation was built (VPC, instance, snapshot, key ids...) and the access keys of the seeded IAM
users, so the seeder writes them down once. The file holds secret access keys, so it is written with
mode 0600 and the secrets never appear in a ``repr``.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cloudwarden.core.errors import BadInputError

SEED_FILE = "seed.json"


class AccessKeyPair(BaseModel):
    """One IAM user access key; ``secret_access_key`` is kept out of ``repr`` and logs."""

    model_config = ConfigDict(frozen=True)

    access_key_id: str
    secret_access_key: str = Field(repr=False)


class SeedResult(BaseModel):
    """Everything later stages need to act in, or assert on, the seeded organisation.

    ``credentials`` is keyed ``"<alias>/<user>"`` (``"<alias>/<user>#2"`` for a user's second key);
    ``resources`` maps a stable name such as ``"prod/instance/web-1"`` to the id AWS generated.
    """

    model_config = ConfigDict(frozen=True)

    accounts: dict[str, str]
    organization_id: str
    credentials: dict[str, AccessKeyPair] = Field(repr=False)
    resources: dict[str, str]
    regions_used: list[str]
    seeded_at: datetime

    def save(self, state_dir: Path) -> Path:
        """Write ``<state_dir>/seed.json`` atomically with mode 0600; returns its path."""
        state_dir.mkdir(parents=True, exist_ok=True)
        target = state_dir / SEED_FILE
        fd, tmp_name = tempfile.mkstemp(prefix=".seed-", suffix=".json", dir=state_dir)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(self.model_dump_json(indent=2))
                handle.write("\n")
            os.replace(tmp_name, target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        return target

    @classmethod
    def load(cls, state_dir: Path) -> SeedResult:
        """Read ``<state_dir>/seed.json``; a missing or malformed file is a :class:`BadInputError`."""
        path = state_dir / SEED_FILE
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise BadInputError(
                str(path), "no seed file: the lab was not seeded (run `cloudwarden lab up --seed demo`)"
            ) from None
        try:
            return cls.model_validate(json.loads(text))
        except json.JSONDecodeError as exc:
            raise BadInputError(f"{path}:{exc.lineno}", f"not valid JSON: {exc.msg}") from None
        except ValidationError as exc:
            first = exc.errors()[0]
            pointer = "/" + "/".join(str(part) for part in first["loc"])
            raise BadInputError(f"{path}#{pointer}", first["msg"]) from None
