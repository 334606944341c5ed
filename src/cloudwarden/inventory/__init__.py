"""Inventory collection: accounts × regions × resource types -> normalised resource documents in a snapshot.

Entry point: :func:`cloudwarden.inventory.stage.collect_snapshot`. Resource types are data
(:mod:`~cloudwarden.inventory.descriptor`, interpreted by :mod:`~cloudwarden.inventory.engine`) where a
list call plus detail calls is enough, and small collectors (:mod:`~cloudwarden.inventory.collectors`)
where code is needed: IAM, S3, account/region settings, Organizations, Identity Center. Every unit is
registered in :mod:`~cloudwarden.inventory.registry`. Documents follow the snapshot contract
(``notes/snapshot_contract.md``); readers use :mod:`cloudwarden.store.resources`.

Where the documents go beyond or differ from the contract (on purpose):

* ``AwsAccount.calls.GetAlternateContact`` is the ``SECURITY`` alternate contact.
* ``AwsAccount`` also stores ``GenerateCredentialReport`` (the last poll's answer).
* ``AwsSsmParameter.calls.GetParameter_plaintext_check`` is ``{"looks_secret", "reason", "entropy"}``;
  Lambda's per-variable verdicts are ``{"looks_secret", "reason"}``; EC2 user data keeps its verdict
  beside the masked text as ``calls.DescribeInstanceAttribute_userData.plaintext_check``
  (``{"looks_secret", "reasons"}``) and the raw base64 ``UserData`` is dropped (it would carry the
  secrets the masking removed). Launch template versions get the same treatment
  (``LaunchTemplateData.UserDataText`` / ``plaintext_check``).
* AWS managed IAM policies share one ARN across accounts, so each is stored once per snapshot with
  ``account`` = ``"aws"`` and ``data.AttachedInAccounts`` listing where it is attached.
* Extra types: ``AwsOrganizationsOrganization`` (calls ``ListRoots``, ``ListDelegatedAdministrators``) and
  ``AwsOrganizationsOrganizationalUnit``; accounts and OUs carry ``ParentId`` and ``Path`` in ``data``.
* Trails are listed with ``includeShadowTrails=False``: each trail appears once, in its home region.
* Snapshot errors leave out AWS's "not configured" answers (``NoSuchBucketPolicy`` ...), which stay in
  the documents; ``CapReached`` marks a list cut by a per-type cap. The snapshot row's ``account`` and
  ``region`` are the comma-joined lists scanned; API call counts go to the run's stats.
* Secret material some endpoints return beside metadata (virtual MFA seeds and QR codes) is never stored.
"""
