"""The data-quality report: ERP data the rules had to work around, for the ERP's users to fix.

Each case names the rule and ERP numbers only (person numbers, user numbers), never a
name, an address or an e-mail address; anonymized persons never appear (they are not
synced, R11). Pure, like the projection: ``quality_cases(state, config, today)``.

* ``R08`` — several synced persons share one e-mail address: the one with the lowest
  person number keeps it (``kept``), each other one (``other``) is synced without it.
* ``R12`` — an active staff user casavi cannot take: no user number (``other`` is
  ``id <user_id>``) or no first or last name.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel

from streams.projection.project import Config
from streams.projection.rules import STAFF_INACTIVE, Rules
from streams.projection.state import ErpState


class QualityCase(BaseModel):
    rule: Literal["R08", "R12"]
    case: str
    kept: str | None = None  # R08: the person number that keeps the address
    other: str  # the person (R08) or staff user (R12) the case is about


class QualityReport(BaseModel):
    generated_at: datetime
    today: date
    cases: list[QualityCase]

    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(c.rule for c in self.cases).items()))

    def lines(self) -> list[str]:
        """One line per case, for people."""
        out = []
        for c in self.cases:
            if c.rule == "R08":
                out.append(f"R08 shared e-mail address: person {c.kept} keeps it, person {c.other} is synced without it")
            else:
                out.append(f"R12 staff user {c.other}: {c.case}")
        return out


SHARED_EMAIL = "shared e-mail address"


def quality_cases(state: ErpState, config: Config, today: date) -> list[QualityCase]:
    rules = Rules(state, config, today)
    cases: list[QualityCase] = []
    for key in state.shared_email_keys():
        owner_id = rules.email_owner(key)
        owner = state.person(owner_id) if owner_id is not None else None
        if owner is None:
            continue  # none of them is synced
        for pid in state.persons_by_email.of(key):
            p = state.person(pid)
            if p is not None and pid != owner_id and rules.person_reason(p) is None:
                cases.append(QualityCase(rule="R08", case=SHARED_EMAIL, kept=owner.person_no, other=p.person_no))
    for u in state.staff_users.values():
        reason = rules.staff_reason(u)
        if reason is None or reason == STAFF_INACTIVE:
            continue
        other = u.user_no.strip() if u.user_no and u.user_no.strip() else f"id {u.user_id}"
        cases.append(QualityCase(rule="R12", case=reason.removeprefix("R12 "), other=other))
    return sorted(cases, key=lambda c: (c.rule, c.kept or "", c.other))
