"""R12 staff and teams, R14 user rights and responsible users, with R13 and R20 for both.

``minimal_dataset()`` plus: staff users MKS (Maria Kaiser, rights on property 10 and
responsible), TLB (Tom Lehmann, rights, not responsible, member of team 5) and JVO (Jana
Vogel, team 5 only); property 10 belongs to team 5 "Team Nord".
"""

from __future__ import annotations

from streams.commands.model import CasaviCommand
from streams.projection import EmittedTable, ErpState, PropertyRoot, all_roots, order_commands, plan, project_all
from streams.projection.roots import StaffRoot
from streams.projection.sample import Dataset, change, delete, minimal_dataset
from streams.settings import SyncSettings
from tests.unit.rules_support import TODAY, keys, state_of


def company() -> Dataset:
    ds = minimal_dataset()
    ds.rows["property"][0]["team_id"] = 5
    ds.add("team", team_id=5, name="Team Nord")
    ds.add("staff_user", user_id=1, user_no="MKS", first_name="Maria", last_name="Kaiser",
           email=" m.kaiser@hv.example ", phone="+49 30 5", active=True)
    ds.add("staff_user", user_id=2, user_no="TLB", first_name="Tom", last_name="Lehmann", email=None, phone=None,
           active=True)
    ds.add("staff_user", user_id=3, user_no="JVO", first_name="Jana", last_name="Vogel",
           email="j.vogel@hv.example", phone=None, active=None)  # not mapped: counts as active
    ds.add("property_user", property_id=10, user_id=1, is_responsible=True)
    ds.add("property_user", property_id=10, user_id=2, is_responsible=False)
    ds.add("team_member", team_id=5, user_id=2)
    ds.add("team_member", team_id=5, user_id=3)
    return ds


STAFF = {"staff:MKS", "staff:TLB", "staff:JVO"}
RESPONSIBILITIES = {"responsibility:1-1000-SMKS", "responsibility:1-1000-STLB", "responsibility:1-1000-SJVO"}


def synced(ds: Dataset, cfg: SyncSettings | None = None) -> tuple[ErpState, EmittedTable]:
    st = state_of(ds)
    emitted = EmittedTable()
    plan(st, all_roots(st), cfg or SyncSettings(), TODAY, emitted)
    return st, emitted


def test_r12_staff_users_synced_with_their_fields() -> None:
    out = project_all(state_of(company()), SyncSettings(), TODAY)
    assert STAFF <= set(out)
    assert out["staff:MKS"].document == {"id": "MKS", "firstName": "Maria", "lastName": "Kaiser",
                                         "email": "m.kaiser@hv.example", "role": "MANAGER"}
    assert out["staff:TLB"].document["email"] is None


def test_r12_staff_role_is_configurable() -> None:
    out = project_all(state_of(company()), SyncSettings(staff_role="EDITOR"), TODAY)
    assert {out[k].document["role"] for k in STAFF} == {"EDITOR"}


def test_r12_inactive_or_unnamed_staff_users_are_not_synced() -> None:
    ds = company()
    ds.rows["staff_user"][0]["active"] = False
    ds.rows["staff_user"][1]["last_name"] = " "
    ds.add("staff_user", user_id=4, user_no=None, first_name="Ohne", last_name="Nummer", active=True)
    got = keys(state_of(ds))
    assert {k for k in got if k.startswith("staff:")} == {"staff:JVO"}
    assert {k for k in got if k.startswith("responsibility:")} == {"responsibility:1-1000-SJVO"}


def test_r12_responsibilities_from_user_rights_and_the_team() -> None:
    out = project_all(state_of(company()), SyncSettings(), TODAY)
    docs = {k: out[k].document for k in RESPONSIBILITIES}
    assert docs == {
        "responsibility:1-1000-SMKS": {"id": "1-1000-SMKS", "propertyId": "1-1000", "staffId": "MKS",
                                       "responsible": True, "team": None},
        "responsibility:1-1000-STLB": {"id": "1-1000-STLB", "propertyId": "1-1000", "staffId": "TLB",
                                       "responsible": False, "team": "Team Nord"},
        "responsibility:1-1000-SJVO": {"id": "1-1000-SJVO", "propertyId": "1-1000", "staffId": "JVO",
                                       "responsible": False, "team": "Team Nord"},
    }
    assert {out[k].parent_ids for k in RESPONSIBILITIES} == {("1-1000",)}


def test_r12_team_member_leaves_and_the_team_is_renamed() -> None:
    ds = company()
    st, emitted = synced(ds)
    leave = st.apply(delete("team_member", ds.rows["team_member"][1]))
    assert leave == {PropertyRoot(10)}
    cmds = plan(st, leave, SyncSettings(), TODAY, emitted)
    assert [(c.op, c.entity, c.reference_id) for c in cmds] == [("DELETE", "responsibility", "1-1000-SJVO")]
    cmds = plan(st, st.apply(change("team", {"team_id": 5, "name": "Team Süd"}, "u")), SyncSettings(), TODAY,
                emitted)
    assert [(c.op, c.reference_id, (c.document or {}).get("team")) for c in cmds] == [
        ("UPSERT", "1-1000-STLB", "Team Süd")]


def test_r12_deactivated_staff_user_is_deleted_after_its_responsibilities() -> None:
    ds = company()
    st, emitted = synced(ds)
    roots = st.apply(change("staff_user", {**ds.rows["staff_user"][0], "active": False}, "u"))
    assert roots == {StaffRoot(1), PropertyRoot(10)}
    cmds = plan(st, roots, SyncSettings(), TODAY, emitted)
    assert [(c.op, c.entity, c.reference_id, c.reason) for c in cmds] == [
        ("DELETE", "responsibility", "1-1000-SMKS", "R12 staff user inactive"),
        ("DELETE", "staff", "MKS", "R12 staff user inactive"),
    ]


def test_r14_property_user_rights_and_responsible_users() -> None:
    ds = company()
    st, emitted = synced(ds)
    rights = {**ds.rows["property_user"][1], "is_responsible": True}
    cmds = plan(st, st.apply(change("property_user", rights, "u")), SyncSettings(), TODAY, emitted)
    assert [(c.op, c.reference_id, (c.document or {}).get("responsible")) for c in cmds] == [
        ("UPSERT", "1-1000-STLB", True)]
    cmds = plan(st, st.apply(delete("property_user", ds.rows["property_user"][0])), SyncSettings(), TODAY, emitted)
    assert [(c.op, c.reference_id) for c in cmds] == [("DELETE", "1-1000-SMKS")]


def test_r13_property_deselected_deletes_its_responsibilities_not_the_staff() -> None:
    st, emitted = synced(company())
    cmds = plan(st, all_roots(st), SyncSettings(properties=["1:2000"]), TODAY, emitted)
    deleted = {(c.entity, c.reference_id, c.reason) for c in cmds if c.op == "DELETE" and c.entity in
               ("property", "responsibility", "staff")}
    assert deleted == {("property", "1-1000", "R01 property not selected")} | {
        ("responsibility", r.split(":", 1)[1], "R01 property not selected") for r in RESPONSIBILITIES}
    assert STAFF <= set(emitted.entries)


def test_r20_staff_and_property_before_responsibilities_and_the_other_way_round_for_deletes() -> None:
    cmds = [
        CasaviCommand.delete("staff", "OLD"),
        CasaviCommand.upsert("responsibility", "1-1-SNEW", {"id": "1-1-SNEW"}, ("1-1",)),
        CasaviCommand.delete("responsibility", "1-1-SOLD", ("1-1",)),
        CasaviCommand.upsert("staff", "NEW", {"id": "NEW"}),
        CasaviCommand.upsert("property", "1-1", {"id": "1-1"}),
    ]
    assert [(c.op, c.entity) for c in order_commands(cmds)] == [
        ("UPSERT", "staff"), ("UPSERT", "property"), ("UPSERT", "responsibility"),
        ("DELETE", "responsibility"), ("DELETE", "staff"),
    ]
