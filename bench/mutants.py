"""Mutation run: does the test named after each rule fail when the rule's decision is switched off?

For every mutant below (a rule's decision replaced by "always synced", "never deleted", "no
order", …) the script copies the checkout to a temporary directory, applies the one edit
there, and runs the unit tests named after the rule (``pytest -k test_rNN_``). A mutant is
*killed* when at least one of them fails, *survived* when all pass. The checkout itself is
never changed. Prints one line per mutant and writes ``bench/results/mutants-<time>.json``.

    python bench/mutants.py            # every mutant
    python bench/mutants.py R08 R11    # only these rules

Exit code 0 when every mutant is killed, 1 otherwise (2 when a mutant no longer applies:
the code it edits changed).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
IGNORE = shutil.ignore_patterns(".venv", ".git", ".state", "build", "*.egg-info", "__pycache__", ".hypothesis",
                                ".mypy_cache", ".pytest_cache", "results")


@dataclass(frozen=True)
class Mutant:
    rule: str  # "R08": the tests named test_r08_* must kill it
    name: str
    path: str
    old: str
    new: str


RULES = "streams/projection/rules.py"
MUTANTS: tuple[Mutant, ...] = (
    Mutant("R01", "property selection ignored", RULES,
           "if cfg.properties is not None and (p.mandant_no, p.property_no) not in cfg.properties", "if False"),
    Mutant("R01", "management end ignored", RULES,
           "if p.management_end is not None and p.management_end < self.today:", "if False:"),
    Mutant("R01", "cached configuration ignores the selection's contents", RULES,
           "fingerprint = config.fingerprint()",
           "fingerprint = f'{len(config.properties or [])}/{len(config.mandanten or [])}'"),
    Mutant("R02", "Mandanten selection ignored", RULES,
           "if cfg.mandanten is not None and p.mandant_no not in cfg.mandanten:", "if False:"),
    Mutant("R03", "separator ignored", "streams/projection/ids.py",
           'return f"{mandant_no}{sep}{property_no}"', 'return f"{mandant_no}-{property_no}"'),
    Mutant("R04", "phantom units synced", RULES, "        if u.is_phantom:\n", "        if False:\n"),
    Mutant("R05", "persons synced without a synced contract", RULES,
           "                if reason == NO_VALID_CONTRACT:\n                    reason = off\n        return reason",
           "                if reason == NO_VALID_CONTRACT:\n                    reason = off\n        return None"),
    Mutant("R05", "e-mail sent with its blanks", "streams/erp/rows.py",
           "return self.email.strip() if self.has_email else None", "return self.email if self.has_email else None"),
    Mutant("R06", "every person type enabled", RULES,
           "return self.cfg.person_types is None or p.type_key in self.cfg.person_types", "return True"),
    Mutant("R07", "main tenant needs no e-mail", RULES,
           'if c.contract_type == "TENANT" and not main.has_email:', "if False:"),
    Mutant("R07", "co-tenants need no e-mail", RULES,
           'if c.contract_type == "TENANT" and role in TENANT_PARTY_ROLES and not person.has_email:', "if False:"),
    Mutant("R08", "every person keeps a shared address", RULES,
           "            if self._email_owner[key] != p.person_id:\n                return None",
           "            if False:\n                return None"),
    Mutant("R09", "contracts valid forever", RULES, '"""R09 alone."""', '"""R09 alone."""\n        return None'),
    Mutant("R10", "OWNER contracts without the licence", RULES,
           'if c.contract_type == "OWNER" and not self.cfg.owner_licence:', "if False:"),
    Mutant("R10", "owners and caretakers without their licence", RULES,
           "                if licence:\n", "                if True:\n"),
    Mutant("R11", "anonymized persons synced", RULES,
           "        if p.is_anonymized:\n            return PERSON_ANONYMIZED",
           "        if False:\n            return PERSON_ANONYMIZED"),
    Mutant("R11", "a refused contact delete keeps the personal data", "streams/casavi/import_contract.py",
           "return {\"id\": reference_id, ARCHIVE_FLAG: True, PORTAL_USER: False, **ERASED_CONTACT}",
           "return {\"id\": reference_id, ARCHIVE_FLAG: True, PORTAL_USER: False}"),
    Mutant("R12", "inactive staff synced", RULES, "        if u.active is False:\n", "        if False:\n"),
    Mutant("R12", "teams carry no members", RULES,
           "members = set(st.members_by_team.of(team.team_id)) if team is not None else set()",
           "members: set[int] = set()"),
    Mutant("R13", "nothing deleted", "streams/projection/diff.py",
           "        reason = (reasons or {}).get(key, GONE)\n        cmds.append(", "        continue\n        cmds.append("),
    Mutant("R14", "no current contract on the unit", RULES,
           "current_contract_start=current.start_date if current else None", "current_contract_start=None"),
    Mutant("R14", "responsible users not marked", RULES,
           "responsible=bool(rights and rights.is_responsible)", "responsible=False"),
    Mutant("R15", "a balance field on the contact", "streams/casavi/models.py",
           "    portal_user: bool = True\n", "    portal_user: bool = True\n    account_balance: str | None = None\n"),
    Mutant("R16", "unreleased documents synced", RULES,
           "        if not d.released:\n            return DOCUMENT_NOT_RELEASED, p",
           "        if False:\n            return DOCUMENT_NOT_RELEASED, p"),
    Mutant("R16", "time filter ignored", RULES,
           "if d.created_at is not None and d.created_at.date() < self._since:", "if False:"),
    Mutant("R16", "document type selection ignored", RULES,
           "if cfg.document_types is not None and code not in cfg.document_types:", "if False:"),
    Mutant("R16", "content over the limit sent", RULES,
           "return (d.content_size or 0) > MAX_CONTENT_BYTES", "return False"),
    Mutant("R16", "shared with the property whatever the row says", RULES,
           "        if d.person_id is not None:\n            person = st.person(d.person_id)",
           "        if False:\n            person = st.person(d.person_id)"),
    Mutant("R16", "the worker keeps the content in its table", "streams/worker/processor.py",
           "        if change.table not in DERIVED_COLUMNS or change.after is None:",
           "        if True:"),
    Mutant("R17", "done tickets synced", RULES,
           '        if status.status_kind == "DONE":\n            return TICKET_DONE, p, tt',
           '        if False:\n            return TICKET_DONE, p, tt'),
    Mutant("R17", "ticket time filter ignored", RULES,
           "if not full and t.reported_at is not None and t.reported_at.date() < self._since:", "if False:"),
    Mutant("R17", "team filter ignored", RULES,
           "if cfg.ticket_teams is not None and t.responsible_team_id is not None \\", "if False \\"),
    Mutant("R17", "portal tickets sent back", RULES,
           '        if t.origin == "PORTAL":\n            return TICKET_FROM_PORTAL, p, tt',
           '        if False:\n            return TICKET_FROM_PORTAL, p, tt'),
    Mutant("R17", "portal tickets published twice", "streams/inbound/intake.py",
           "            if self.index.where(event.event_id) is not None:", "            if False:"),
    Mutant("R17", "the bridge's own tickets come back", "streams/inbound/model.py",
           "        return int(m.group(1)) if m else None", "        return None"),
    Mutant("R18", "blocked tickets synced", RULES,
           '        if tt.portal_mode == "BLOCKED":\n            return TICKET_TYPE_BLOCKED, p, tt',
           '        if False:\n            return TICKET_TYPE_BLOCKED, p, tt'),
    Mutant("R18", "pinboard notices as tickets", "streams/projection/project.py",
           'if reason is None and tt is not None and tt.portal_mode == "PINBOARD":', "if False:"),
    Mutant("R18", "property tickets shared with the reporter only", RULES,
           'shared_with_property = tt.portal_mode == "PROPERTY"', "shared_with_property = False"),
    Mutant("R19", "internal notes synced", RULES,
           "        if n.is_internal is not False:\n            return NOTE_INTERNAL",
           "        if n.is_internal is True:\n            return NOTE_INTERNAL"),
    Mutant("R19", "internal comments from casavi come back", "streams/inbound/intake.py",
           '        if comment.get("isInternal") is not False:', "        if False:"),
    Mutant("R20", "commands in projection order", "streams/projection/diff.py",
           "return sorted(cmds, key=_order_key)", "return list(cmds)"),
    Mutant("R21", "replayed changes applied again", "streams/worker/processor.py",
           "if seen is not None and position <= seen:", "if False:"),
    Mutant("R21", "a moved contract leaves its old unit alone", "streams/projection/state.py",
           "        for c in (o, n):\n            if c is not None:\n                roots.add(UnitRoot(c.unit_id))\n"
           "        if _changed(o, n, _CONTRACT_FOR_PERSONS):",
           "        if n is not None:\n            roots.add(UnitRoot(n.unit_id))\n"
           "        if _changed(o, n, _CONTRACT_FOR_PERSONS):"),
    Mutant("R22", "always the production system", "streams/settings.py",
           'return self.production if self.system == "production" else self.test', "return self.production"),
    Mutant("R22", "receipts of another system applied", "streams/worker/processor.py",
           "if r.system != self.system:", "if False:"),
)


@dataclass
class Outcome:
    rule: str
    name: str
    path: str
    status: str  # killed | survived | invalid
    tests: int = 0
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0


def run_tests(workdir: Path, rule: str) -> tuple[int, int, list[str]]:
    """(pytest exit code, tests run, failed test ids) for the unit tests named after ``rule``."""
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rf", "-p", "no:cacheprovider", "-m", "not integration",
         "-k", f"test_{rule.lower()}_", "tests"],
        cwd=workdir, capture_output=True, text=True, timeout=1800)
    out = proc.stdout
    failed = [line.split()[1] for line in out.splitlines() if line.startswith("FAILED ")]
    counts = re.findall(r"(\d+) (passed|failed|error)", out.splitlines()[-1] if out.strip() else "")
    return proc.returncode, sum(int(n) for n, _ in counts), failed


def check_copy(workdir: Path) -> None:
    """The copy's code is what the tests import (not the checkout's editable install)."""
    where = subprocess.run([sys.executable, "-c", "import streams; print(streams.__file__)"], cwd=workdir,
                           capture_output=True, text=True, check=True).stdout.strip()
    if not Path(where).resolve().is_relative_to(workdir.resolve()):
        raise SystemExit(f"the tests would import {where}, not the copy in {workdir}")


def main(argv: list[str]) -> int:
    wanted = {a.upper() for a in argv}
    mutants = [m for m in MUTANTS if not wanted or m.rule in wanted]
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="bridge-mutants-") as tmp:
        work = Path(tmp) / "repo"
        shutil.copytree(REPO, work, ignore=IGNORE)
        check_copy(work)
        for rule in sorted({m.rule for m in mutants}):
            code, n, failed = run_tests(work, rule)
            if code != 0 or n == 0:
                raise SystemExit(f"the tests named after {rule} do not pass unmutated ({n} run, failed: {failed})")
        for m in mutants:
            target = work / m.path
            original = target.read_text()
            started = time.monotonic()
            if original.count(m.old) != 1:
                outcomes.append(Outcome(m.rule, m.name, m.path, "invalid"))
            else:
                target.write_text(original.replace(m.old, m.new))
                try:
                    code, n, failed = run_tests(work, m.rule)
                finally:
                    target.write_text(original)
                status = "killed" if code == 1 and failed else "survived" if code == 0 else f"error {code}"
                outcomes.append(Outcome(m.rule, m.name, m.path, status, n, failed))
            outcomes[-1].seconds = round(time.monotonic() - started, 1)
            o = outcomes[-1]
            print(f"{o.rule} {o.status:8} {o.name} ({o.tests} tests, {len(o.failed)} failed, {o.seconds}s)",
                  flush=True)
    killed = sum(o.status == "killed" for o in outcomes)
    survived = [o for o in outcomes if o.status != "killed"]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                            text=True).stdout.strip()
    result = {
        "run_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "commit": commit,
        "summary": {"mutants": len(outcomes), "killed": killed, "survived": len(survived),
                    "rules": len({o.rule for o in outcomes}),
                    "rules_all_killed": sorted({o.rule for o in outcomes} - {o.rule for o in survived})},
        "mutants": [asdict(o) for o in outcomes],
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"mutants-{time.strftime('%Y%m%d-%H%M')}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{killed}/{len(outcomes)} mutants killed over {result['summary']['rules']} rules; {path}")
    if any(o.status == "invalid" for o in outcomes):
        return 2
    return 0 if not survived else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
