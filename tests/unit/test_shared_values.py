"""Equal column values of the state's rows are one object; a column of mostly unique values
is left alone after its probe; values that compare equal but print differently stay apart."""

from __future__ import annotations

from decimal import Decimal

import pytest

from streams.erp.rows import parse_row
from streams.projection import shared
from streams.projection.shared import SharedValues
from streams.projection.state import ErpState


def person(i: int, city: str) -> dict[str, object]:
    return {"person_id": i, "person_no": f"P{i}", "city": "".join(city), "email": f"p{i}@example.org"}


def test_repeated_values_are_one_object_and_unique_columns_are_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shared, "PROBE", 20)
    st = ErpState()
    for i in range(100):
        st.set_row("person", person(i, ["K", "ö", "l", "n"]))  # a new str object each time
    rows = [st.persons[(i,)] for i in range(100)]
    assert len({id(r.city) for r in rows}) == 1 and rows[0].city == "Köln"
    stats = st._shared.stats()
    assert stats["person.city"] == 1 and "person.email" not in stats  # e-mails never repeat: not cached
    assert [r.email for r in rows] == [f"p{i}@example.org" for i in range(100)]


def test_a_value_equal_but_written_otherwise_is_not_replaced() -> None:
    values = SharedValues()
    first = values.share(parse_row("contract", {"contract_id": 1, "contract_no": "1", "contract_type": "TENANT",
                                                "unit_id": 1, "person_id": 1, "rent_amount": Decimal("500.00")}))
    other = parse_row("contract", {"contract_id": 2, "contract_no": "2", "contract_type": "TENANT", "unit_id": 1,
                                   "person_id": 1, "rent_amount": Decimal("500.00")})
    assert values.share(other).rent_amount is first.rent_amount
    odd = parse_row("contract", {"contract_id": 3, "contract_no": "3", "contract_type": "TENANT", "unit_id": 1,
                                 "person_id": 1})
    object.__setattr__(odd, "rent_amount", Decimal("500.0"))  # as a value the quantizer could not scale
    assert str(values.share(odd).rent_amount) == "500.0"
