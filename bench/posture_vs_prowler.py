"""``cloudwarden scan`` against Prowler on the same lab account: speed, memory, API calls and verdict agreement.

The lab (demo seed) runs in this process; both scanners run as subprocesses against its endpoint, on the
management account only (no role fan-out, so both see the same account), one region and the same services.
Prowler is run, never vendored: it is installed at run time into its own virtual environment under a scratch
directory (``python3 -m venv SCRATCH/prowler-venv && SCRATCH/prowler-venv/bin/pip install prowler``), reused
when present. Each run is measured for wall time and peak resident memory (``os.wait4`` rusage of the child and
its descendants). Both start from compiled bytecode (cloudwarden's modules are byte-compiled first, as pip
does for an installed package and did for Prowler). API calls: cloudwarden reports its own; for both, the
lab's ``requests_total`` delta is shown.

Verdicts are lined up per (FSBP control, resource): Prowler's OCSF findings carry their check id in
``metadata.event_code``, and ``../shared/reference/controls.md`` maps Prowler check ids to FSBP ids (its FSBP
tables, plus its CIS v5.0.0 tables for the Security Hub controls that FSBP does not list). A control with several
Prowler checks FAILs a resource when any of them does. Where the two decide at different scopes (per account
vs per resource; IAM.27 per identity vs once on the policy), the per-resource side is folded into the
other's. Not a test; CI does not run it.

Run: ``.venv/bin/python bench/posture_vs_prowler.py [--scratch DIR] [--services s3,iam,...] [--timeout S]``.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import cloudwarden
from cloudwarden.inventory.registry import services as cloudwarden_services
from cloudwarden.lab.client import LabClient
from cloudwarden.lab.demo_org import MANAGEMENT
from cloudwarden.lab.server import Lab

REGION = "us-east-1"
# The services of the posture issue (FSBP scope); the default run uses those both tools support.
SCOPE = ("iam", "s3", "ec2", "kms", "cloudtrail", "guardduty", "rds", "secretsmanager", "ssm", "lambda", "ecr")
PROWLER_NAME = {"lambda": "awslambda"}
REPO = Path(__file__).resolve().parent.parent
CONTROLS_MD = REPO.parent / "shared" / "reference" / "controls.md"
CHECK_RE = re.compile(r"`([a-z0-9_]+)`")


@dataclass
class Run:
    name: str
    wall: float
    peak_rss_mib: float
    exit_code: int
    lab_requests: int
    log: Path


def ensure_prowler(scratch: Path) -> Path:
    venv = scratch / "prowler-venv"
    exe = venv / "bin" / "prowler"
    if exe.exists():
        return exe
    print(f"installing Prowler into {venv} (takes minutes) ...", flush=True)
    subprocess.run([sys.executable if shutil.which("python3") is None else "python3", "-m", "venv", str(venv)],
                   check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "prowler"], check=True)
    return exe


def compile_cloudwarden() -> Path:
    """Byte-compile cloudwarden's modules, as ``pip install`` does for an installed package (Prowler's venv got
    its ``.pyc`` files when pip installed it). An editable checkout run with ``PYTHONDONTWRITEBYTECODE`` set
    would otherwise recompile every module at each start. Code only: no scan data is kept between runs."""
    package = Path(cloudwarden.__file__).resolve().parent
    if not compileall.compile_dir(str(package), quiet=1):
        raise SystemExit(f"cannot byte-compile {package}")
    return package


def prowler_services(exe: Path) -> set[str]:
    """Service folders of the installed Prowler (``awslambda`` reported as ``lambda``)."""
    found = list((exe.parent.parent / "lib").glob("python3*/site-packages/prowler/providers/aws/services"))
    if not found:
        raise SystemExit(f"cannot find Prowler's AWS services under {exe.parent.parent}")
    names = {p.name for p in found[0].iterdir() if p.is_dir() and not p.name.startswith("_")}
    back = {v: k for k, v in PROWLER_NAME.items()}
    return {back.get(n, n) for n in names}


def measured(name: str, argv: list[str], env: dict[str, str], log: Path, lab: LabClient, timeout: float) -> Run:
    """Run ``argv``; wall time, peak RSS (KiB from wait4, shown in MiB) and the lab's request delta."""
    before = int(lab.status()["requests_total"])
    with log.open("wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        timer = threading.Timer(timeout, lambda: os.killpg(proc.pid, signal.SIGKILL))
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    after = int(lab.status()["requests_total"])
    return Run(name, wall, usage.ru_maxrss / 1024, proc.returncode, after - before, log)


def control_map(path: Path) -> dict[str, set[str]]:
    """Prowler check id → FSBP / Security Hub control ids, from the reference's tables."""
    mapping: dict[str, set[str]] = defaultdict(set)
    section = ""
    cis_checks: dict[str, list[str]] = {}
    cis_to_sh: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if line.startswith("## "):
            section = line
            continue
        if not line.startswith("| ") or line.startswith("|---"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if "FSBP v1.0.0" in section and len(cells) >= 3 and re.match(r"^[A-Za-z][A-Za-z0-9]*\.\d+$", cells[0]):
            for check in CHECK_RE.findall(cells[2]):
                mapping[check].add(cells[0])
        elif "CIS AWS Foundations Benchmark v5.0.0" in section and len(cells) >= 5:
            cis_checks[cells[0]] = CHECK_RE.findall(cells[4])
        elif section.startswith("## CIS v5.0.0 to Security Hub") and len(cells) == 2 and cells[0][0].isdigit():
            cis_to_sh[cells[0]] = re.findall(r"[A-Za-z0-9]+\.\d+", cells[1])
    fsbp = {c for ids in mapping.values() for c in ids}
    for cis, shs in cis_to_sh.items():
        for sh in shs:
            if sh in fsbp or len(shs) != 1:
                continue  # FSBP's own mapping wins; a one-to-many CIS row cannot say which control a check is
            for check in cis_checks.get(cis, []):
                mapping[check].add(sh)
    return dict(mapping)


def resource_key(uid: str, account: str) -> str:
    """Account-wide settings (root, password policy, account BPA, EBS default...) collapse to the account."""
    if not uid.startswith("arn:"):
        return f"account:{uid or account}"
    parts = uid.split(":", 5)
    tail = parts[5] if len(parts) > 5 else ""
    if tail in ("root", "account", "password-policy", "") or tail.startswith(("password-policy", "account")):
        return f"account:{parts[4] or account}"
    return uid


def cloudwarden_verdicts(out_dir: Path) -> dict[tuple[str, str], str]:
    verdicts: dict[tuple[str, str], str] = {}
    for line in (out_dir / "findings.jsonl").read_text().splitlines():
        f = json.loads(line)
        if f.get("source") != "posture" or f.get("account_id") != MANAGEMENT:
            continue
        status = {"PASSED": "PASS", "FAILED": "FAIL"}.get(f["status"], f["status"])
        key = (f["control_id"], resource_key(f["resource"]["id"], f["account_id"]))
        if verdicts.get(key) != "FAIL":
            verdicts[key] = status
    return verdicts


def prowler_verdicts(out_dir: Path, mapping: dict[str, set[str]]) -> tuple[dict[tuple[str, str], str], int, set[str]]:
    files = sorted(out_dir.rglob("*.ocsf.json"))
    if not files:
        raise FileNotFoundError(f"no *.ocsf.json under {out_dir}")
    verdicts: dict[tuple[str, str], str] = {}
    total = 0
    checks: set[str] = set()
    for path in files:
        for f in json.loads(path.read_text() or "[]"):
            total += 1
            check = f.get("metadata", {}).get("event_code") or f.get("event_code", "")
            checks.add(check)
            status = f.get("status_code", "")
            if status not in ("PASS", "FAIL"):
                continue
            account = f.get("cloud", {}).get("account", {}).get("uid", MANAGEMENT)
            for res in f.get("resources") or [{}]:
                key_res = resource_key(res.get("uid", ""), account)
                for control in mapping.get(check, ()):
                    key = (control, key_res)
                    if verdicts.get(key) != "FAIL":
                        verdicts[key] = status
    return verdicts, total, checks


# FSBP decides these per identity (Security Hub's resource types are the user, group and role); Prowler once on
# the AWS managed policy they are about ("attached to no identity"). Our identity verdicts fold onto that policy
# (FAIL when any identity has it attached) so the two meet.
POLICY_SCOPED = {"IAM.27": "arn:aws:iam::aws:policy/AWSCloudShellFullAccess"}


def align_policy_scoped(ours: dict[tuple[str, str], str], theirs: dict[tuple[str, str], str]) -> None:
    for control, policy in POLICY_SCOPED.items():
        decided = [k for k in ours if k[0] == control and ours[k] in ("PASS", "FAIL")]
        if (control, policy) not in theirs or not decided:
            continue
        folded = "FAIL" if any(ours[k] == "FAIL" for k in decided) else "PASS"
        for k in decided:
            del ours[k]
        ours[(control, policy)] = folded


def align_scopes(ours: dict[tuple[str, str], str], theirs: dict[tuple[str, str], str]) -> None:
    """Where one tool decides a control once per account and the other per resource (trail, detector, policy),
    fold the per-resource side into one account verdict (FAIL when any resource FAILs) so the two can meet."""
    for control in {c for c, _ in ours} & {c for c, _ in theirs}:
        for a, b in ((ours, theirs), (theirs, ours)):
            a_keys = [k for k in a if k[0] == control]
            b_keys = [k for k in b if k[0] == control and b[k] in ("PASS", "FAIL")]
            if not b_keys or any(k[1].startswith("account:") for k in b_keys):
                continue
            if a_keys and all(k[1].startswith("account:") for k in a_keys):
                folded = "FAIL" if any(b[k] == "FAIL" for k in b_keys) else "PASS"
                for k in b_keys:
                    del b[k]
                b[(control, f"account:{MANAGEMENT}")] = folded


def agreement(ours: dict[tuple[str, str], str], theirs: dict[tuple[str, str], str]) -> list[str]:
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # agree, disagree, only ours, only theirs
    disagreements: list[str] = []
    controls_ours = {c for c, _ in ours}
    controls_theirs = {c for c, _ in theirs}
    ours_decided = {k: v for k, v in ours.items() if v in ("PASS", "FAIL")}
    for control in sorted(controls_ours & controls_theirs, key=_control_sort):
        keys = {k for k in ours_decided if k[0] == control} | {k for k in theirs if k[0] == control}
        for key in keys:
            a, b = ours_decided.get(key), theirs.get(key)
            if a and b:
                per[control][0 if a == b else 1] += 1
                if a != b:
                    disagreements.append(f"  {control:<14} {key[1]}: cloudwarden {a}, Prowler {b}")
            elif a:
                per[control][2] += 1
            else:
                per[control][3] += 1
    lines = [f"{'control':<14}{'agree':>6}{'differ':>7}{'only cw':>8}{'only pr':>8}"]
    totals = [0, 0, 0, 0]
    for control, row in per.items():
        lines.append(f"{control:<14}{row[0]:>6}{row[1]:>7}{row[2]:>8}{row[3]:>8}")
        totals = [t + r for t, r in zip(totals, row, strict=True)]
    both = totals[0] + totals[1]
    pct = 100 * totals[0] / both if both else 0.0
    lines.append(f"{'all':<14}{totals[0]:>6}{totals[1]:>7}{totals[2]:>8}{totals[3]:>8}"
                 f"   agreement {pct:.1f}% of {both} (control, resource) pairs both decided")
    lines.append(f"controls with a verdict: cloudwarden {len(controls_ours)}, Prowler (mapped) {len(controls_theirs)},"
                 f" both {len(controls_ours & controls_theirs)}; only Prowler: "
                 f"{', '.join(sorted(controls_theirs - controls_ours, key=_control_sort)) or '-'}")
    if disagreements:
        lines.append("disagreements:")
        lines.extend(disagreements[:40])
        if len(disagreements) > 40:
            lines.append(f"  ... {len(disagreements) - 40} more")
    return lines


def _control_sort(control: str) -> tuple[str, int]:
    prefix, _, num = control.rpartition(".")
    return (prefix, int(num) if num.isdigit() else 0)


def run_both(run_dir: Path, wanted: list[str], prowler: Path, timeout: float) -> tuple[Run, Run]:
    """Start the demo lab in this process and run both scanners against it, one after the other."""
    cloudwarden = REPO / ".venv" / "bin" / "cloudwarden"
    cw_out, pr_out = run_dir / "cloudwarden-out", run_dir / "prowler-out"
    with Lab(run_dir / "lab", seed="demo") as lab:
        url = lab.endpoint_url
        client = LabClient(url)
        env = {**os.environ, "AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "testing",
               "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}
        for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            env.pop(k, None)
        cw = measured("cloudwarden", [str(cloudwarden), "scan", "--endpoint-url", url, "--regions", REGION,
                                      "--services", ",".join(wanted), "--output-dir", str(cw_out),
                                      "--store", str(run_dir / "cw.duckdb"), "--format", "json"],
                      env, run_dir / "cloudwarden.log", client, timeout)
        pr = measured("prowler", [str(prowler), "aws", "--region", REGION,
                                  "--services", *[PROWLER_NAME.get(s, s) for s in wanted],
                                  "--aws-retries-max-attempts", "1", "-M", "json-ocsf", "-o", str(pr_out)],
                      env, run_dir / "prowler.log", client, timeout)
    return cw, pr


def print_runs(cw: Run, pr: Run, wanted: list[str]) -> None:
    calls = re.findall(r"(\d+) API calls", cw.log.read_text(errors="replace"))
    print(f"lab: demo seed, account {MANAGEMENT}, region {REGION}, services {','.join(wanted)}")
    print(f"{'tool':<12}{'wall s':>9}{'peak MiB':>10}{'exit':>6}{'lab requests':>14}{'self-reported calls':>21}")
    for run, own in ((cw, calls[-1] if calls else "?"), (pr, "-")):
        print(f"{run.name:<12}{run.wall:>9.2f}{run.peak_rss_mib:>10.1f}{run.exit_code:>6}{run.lab_requests:>14}"
              f"{own:>21}")
    print(f"ratio: Prowler/cloudwarden wall {pr.wall / cw.wall:.1f}x, peak memory "
          f"{pr.peak_rss_mib / cw.peak_rss_mib:.1f}x, lab requests "
          f"{pr.lab_requests / max(cw.lab_requests, 1):.1f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scratch", type=Path, default=Path(tempfile.gettempdir()) / "cloudwarden-bench-prowler")
    parser.add_argument("--services", help="comma list (default: the posture scope both tools support)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds allowed to each scanner")
    args = parser.parse_args()
    scratch: Path = args.scratch.resolve()
    scratch.mkdir(parents=True, exist_ok=True)
    prowler = ensure_prowler(scratch)
    overlap = sorted(set(cloudwarden_services()) & prowler_services(prowler))
    wanted = args.services.split(",") if args.services else [s for s in SCOPE if s in overlap]
    missing = [s for s in wanted if s not in overlap]
    if missing:
        raise SystemExit(f"--services: not supported by both tools: {', '.join(missing)}")
    print(f"bytecode: compiled ahead for both ({compile_cloudwarden()}; Prowler's by pip)")
    run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=scratch))
    sys.stderr.flush()
    saved_stderr = os.dup(2)  # the in-process lab's server prints moto's tracebacks for unimplemented actions
    with (run_dir / "lab-stderr.log").open("wb") as lab_err:
        os.dup2(lab_err.fileno(), 2)
    try:
        cw, pr = run_both(run_dir, wanted, prowler, args.timeout)
    finally:
        os.dup2(saved_stderr, 2)
    cw_out, pr_out = run_dir / "cloudwarden-out", run_dir / "prowler-out"
    print_runs(cw, pr, wanted)
    if cw.exit_code not in (0, 1):
        print(f"cloudwarden failed (exit {cw.exit_code}); see {cw.log}")
        return 1
    mapping = control_map(CONTROLS_MD)
    ours = cloudwarden_verdicts(cw_out)
    try:
        theirs, total, checks = prowler_verdicts(pr_out, mapping)
    except (FileNotFoundError, json.JSONDecodeError) as exc:
        tail = pr.log.read_text(errors="replace").splitlines()[-15:]
        print(f"Prowler produced no usable OCSF output ({exc}); last lines of {pr.log}:")
        print("\n".join("  " + t for t in tail))
        return 1
    align_policy_scoped(ours, theirs)
    align_scopes(ours, theirs)
    unmapped = sorted(c for c in checks if c not in mapping)
    print(f"Prowler: {total} findings from {len(checks)} checks ({len(checks) - len(unmapped)} map to FSBP ids)")
    print("\n".join(agreement(ours, theirs)))
    print(f"logs and outputs: {run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
