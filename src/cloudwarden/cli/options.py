"""Options shared by every AWS-facing command (CONTRACTS.md → Installing and running)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from cloudwarden.aws.target import AwsTarget
from cloudwarden.core.errors import BadInputError
from cloudwarden.core.severity import Severity

FINDING_FORMATS = ("json", "asff", "ocsf", "sarif", "csv", "html")

EndpointOpt = Annotated[
    str | None,
    typer.Option("--endpoint-url", help="AWS endpoint (the lab's URL); default $AWS_ENDPOINT_URL."),
]
ProfileOpt = Annotated[str | None, typer.Option("--profile", help="AWS shared-config profile.")]
RegionsOpt = Annotated[str | None, typer.Option("--regions", help="Comma list of regions, or 'all'.")]
RoleNameOpt = Annotated[
    str | None,
    typer.Option("--role-name", help="Role to assume in each Organizations member account."),
]
OutputDirOpt = Annotated[
    Path, typer.Option("--output-dir", help="Where findings and reports are written.")
]
FormatOpt = Annotated[
    str, typer.Option("--format", help="Comma list of json,asff,ocsf,sarif,csv,html.")
]
FailOnOpt = Annotated[
    str | None,
    typer.Option("--fail-on", help="Exit 1 when a finding at or above this severity exists."),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print only errors and the final line.")]

DEFAULT_OUTPUT_DIR = Path("cloudwarden-out")
DEFAULT_FORMATS = "json,asff,ocsf,sarif,csv,html"


@dataclass(frozen=True)
class AwsOptions:
    """The global options, parsed and checked once."""

    endpoint_url: str | None
    profile: str | None
    regions: tuple[str, ...] | None  # None: the session's default region; ("all",) every enabled region
    role_name: str | None
    output_dir: Path
    formats: tuple[str, ...]
    fail_on: Severity | None
    quiet: bool

    def target(self) -> AwsTarget:
        """Where to call AWS: the endpoint and profile, in the first named region (else the default one)."""
        region = self.regions[0] if self.regions and self.regions[0] != "all" else None
        extra = {"region": region} if region else {}
        return AwsTarget(endpoint_url=self.endpoint_url, profile=self.profile, **extra)

    def region_list(self) -> list[str] | None:
        """The regions named, or None for "the default" and for ``all``."""
        if self.regions is None or "all" in self.regions:
            return None
        return list(self.regions)

    @classmethod
    def from_flags(
        cls,
        *,
        endpoint_url: str | None = None,
        profile: str | None = None,
        regions: str | None = None,
        role_name: str | None = None,
        output_dir: Path = DEFAULT_OUTPUT_DIR,
        formats: str = DEFAULT_FORMATS,
        fail_on: str | None = None,
        quiet: bool = False,
    ) -> AwsOptions:
        return cls(
            endpoint_url=endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None,
            profile=profile,
            regions=parse_regions(regions),
            role_name=role_name,
            output_dir=output_dir,
            formats=parse_formats(formats),
            fail_on=Severity.parse(fail_on, "--fail-on") if fail_on else None,
            quiet=quiet,
        )


def parse_formats(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(n.strip().lower() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in FINDING_FORMATS]
    if unknown or not names:
        wrong = ", ".join(unknown) or repr(text)
        raise BadInputError("--format", f"unknown format {wrong} (one of {','.join(FINDING_FORMATS)})")
    return names


def parse_regions(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    if not names:
        raise BadInputError("--regions", "empty region list")
    for name in names:
        if name != "all" and not _looks_like_region(name):
            raise BadInputError("--regions", f"{name!r} is not a region name (like us-east-1)")
    return names


def _looks_like_region(name: str) -> bool:
    parts = name.split("-")
    return len(parts) >= 3 and parts[-1].isdigit() and all(p.isalpha() for p in parts[:-1])
