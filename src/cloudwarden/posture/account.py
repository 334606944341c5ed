"""Account contact controls: a security contact registered (CIS 1.2, Account.1)."""

from __future__ import annotations

from cloudwarden.core.severity import Severity
from cloudwarden.posture.inventory import ACCOUNT, Inventory
from cloudwarden.posture.model import NotAvailable, ResourceDoc, Verdict, verdict
from cloudwarden.posture.registry import control


@control("Account.1", title="Security contact information should be provided for an AWS account",
         severity=Severity.MEDIUM, resource_type=ACCOUNT, service="account", calls=("GetAlternateContact",),
         rationale="AWS contacts the security contact about abuse and compromise; without one, notices get lost.",
         remediation="Register a security alternate contact for the account.",
         cli="aws account put-alternate-contact --alternate-contact-type SECURITY --name <n> "
             "--email-address <e> --phone-number <p> --title <t>")
def security_contact(doc: ResourceDoc, inv: Inventory) -> Verdict:
    op = next((k for k in ("GetAlternateContact_SECURITY", "GetAlternateContact") if k in doc.calls), None)
    if op is None:
        raise NotAvailable(f"account:GetAlternateContact was not collected for {doc.account}")
    answer = doc.call(op, not_configured=("ResourceNotFoundException",))
    contact = (answer or {}).get("AlternateContact") or {}
    if answer is not None and contact.get("AlternateContactType", "SECURITY") != "SECURITY":
        raise NotAvailable(f"the alternate contact collected for {doc.account} is not the security contact")
    return verdict(bool(contact.get("EmailAddress")), f"account {doc.account} has a security contact",
                   f"account {doc.account} has no security contact")
