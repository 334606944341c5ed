"""Which instance a network interface or a private address belongs to, from an inventory snapshot.

Flow logs name the network interface (``eni-...``), resolver query logs the instance id and source
address; a finding is about the instance, so its resource is the instance's ARN and its details carry
the instance's name. The map comes from the ``AwsEc2Instance`` documents of a snapshot in the store
(their ``NetworkInterfaces`` with private addresses). Without a snapshot, or for an interface the
snapshot does not know, findings name the interface itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import duckdb

from cloudwarden.store import Store
from cloudwarden.store.resources import resources

INSTANCE_TABLE = "net_instances"


@dataclass(frozen=True)
class InstanceInterface:
    """One private address of one interface of one instance."""

    account: str
    region: str
    instance_id: str
    arn: str
    name: str
    eni_id: str
    address: str


@dataclass
class InstanceMap:
    rows: list[InstanceInterface] = field(default_factory=list)

    @classmethod
    def from_documents(cls, documents: Iterable[dict[str, Any]]) -> InstanceMap:
        """From inventory documents of type ``AwsEc2Instance`` (others are ignored)."""
        out = cls()
        for doc in documents:
            if doc.get("type") != "AwsEc2Instance":
                continue
            data = doc.get("data") or {}
            instance_id = str(data.get("InstanceId") or doc.get("arn", "").rsplit("/", 1)[-1])
            name = str(doc.get("name") or instance_id)
            for eni in data.get("NetworkInterfaces") or []:
                eni_id = eni.get("NetworkInterfaceId")
                if not eni_id:
                    continue
                addresses = {a.get("PrivateIpAddress") for a in eni.get("PrivateIpAddresses") or []}
                addresses.add(eni.get("PrivateIpAddress"))
                for address in sorted(a for a in addresses if a):
                    out.rows.append(InstanceInterface(str(doc.get("account", "")), str(doc.get("region", "")),
                                                      instance_id, str(doc["arn"]), name, str(eni_id), address))
        return out

    @classmethod
    def from_store(cls, store: Store, snapshot_id: str | None = None) -> InstanceMap:
        """From the latest finished snapshot (or ``snapshot_id``); empty when the store has none."""
        return cls.from_documents(resources(store, snapshot_id, types=["AwsEc2Instance"]))

    def __len__(self) -> int:
        return len({r.instance_id for r in self.rows})

    def create_table(self, conn: duckdb.DuckDBPyConnection) -> None:
        """(Re)create ``net_instances(account, region, instance_id, arn, name, eni_id, address)``."""
        conn.execute(f"CREATE OR REPLACE TABLE {INSTANCE_TABLE} (account VARCHAR, region VARCHAR, "
                     "instance_id VARCHAR, arn VARCHAR, name VARCHAR, eni_id VARCHAR, address VARCHAR)")
        if self.rows:
            conn.executemany(f"INSERT INTO {INSTANCE_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?)",
                             [(r.account, r.region, r.instance_id, r.arn, r.name, r.eni_id, r.address)
                              for r in self.rows])
