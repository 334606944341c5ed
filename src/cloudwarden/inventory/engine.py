"""The one interpreter of :class:`~cloudwarden.inventory.descriptor.Descriptor`: list, enrich, detail, document.

For each item of the list operation (up to the unit's cap): optionally replace it by a describe call's
answer (``enrich``), build ARN and name, rewrite it with ``prepare`` (where secrets are replaced by
verdicts, *before* anything is stored), then make each detail call and store its answer or its error
under ``calls``. A failed list call produces no documents and one error in the snapshot's list; a
failed detail call produces a document whose ``calls[Op]`` is the error. Nothing is retried here:
retries and throttling live in the client (:mod:`cloudwarden.aws.session`).
"""

from __future__ import annotations

from typing import Any

import jmespath  # type: ignore[import-untyped]

from cloudwarden.inventory.context import UnitContext, failed
from cloudwarden.inventory.descriptor import Descriptor, Detail, Item
from cloudwarden.inventory.document import clean, decode_policy, make_document, tags_of


def collect(descriptor: Descriptor, ctx: UnitContext) -> list[dict[str, Any]]:
    """Documents of every resource of ``descriptor``'s type in ``ctx``'s account and region."""
    listing = ctx.list(descriptor.list_operation, descriptor.items, descriptor.list_params,
                       service=descriptor.service, cap=ctx.cap_for(descriptor.type))
    documents: list[dict[str, Any]] = []
    for raw in listing.items:
        item: Item = raw if isinstance(raw, dict) else {descriptor.item_key or "Id": raw}
        calls: dict[str, Any] = {}
        if descriptor.enrich is not None:
            answer = run_detail(descriptor.enrich, item, ctx, descriptor.service)
            if failed(answer):
                calls[descriptor.enrich.name] = answer
            else:
                found = jmespath.search(descriptor.enrich_path, answer) if descriptor.enrich_path else answer
                item = {**item, **(found or {})}
        arn = descriptor.arn(item, ctx.account, ctx.region)
        name = descriptor.name(item)
        for detail in descriptor.details:
            if detail.when is None or detail.when(item):
                calls[detail.name] = run_detail(detail, item, ctx, descriptor.service)
        data = descriptor.prepare(item) if descriptor.prepare is not None else item
        data = clean(data)
        tags = descriptor.tags(data, calls) if descriptor.tags is not None else tags_of(data.get("Tags"))
        documents.append(make_document(arn=arn, type_=descriptor.type, account=ctx.account, region=ctx.region,
                                       name=name, data=data, tags=tags, calls=calls))
    return documents


def run_detail(detail: Detail, item: Item, ctx: UnitContext, default_service: str,
               region: str | None = None) -> dict[str, Any]:
    """One detail call for ``item``: its answer (decoded/transformed) or its error entry."""
    answer = ctx.call(detail.operation, detail.params(item), service=detail.service or default_service,
                      region=region)
    if failed(answer):
        return answer
    if detail.decode is not None and detail.decode in answer:
        answer["PolicyDocument"] = decode_policy(answer[detail.decode])
    if detail.transform is not None:
        answer = detail.transform(answer)
    return answer
