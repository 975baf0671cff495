"""The state image: a restart from an image and the table writes after it holds the state a
restart from every table entry holds, and an image of other settings, code or stores is not used."""

from __future__ import annotations

import pickle
import random
from datetime import date
from pathlib import Path

from streams.projection.model import EmittedEntry
from streams.projection.sample import change, random_dataset
from streams.projection.state import _INDEX_NAMES
from streams.settings import SyncSettings
from streams.worker.image import ImageDelta, ImageWriter, StateImage, changed_keys, delta_of, read_image, write_image
from streams.worker.processor import Processor
from streams.worker.rowcodec import dumps_entry, loads_entry

TODAY = date(2025, 6, 15)


def _stored(rows: dict[str, bytes], table: dict[str, dict]) -> Processor:
    return Processor(SyncSettings(today=TODAY),
                     stored_entry=lambda k: loads_entry(rows[k]) if k in rows else None,
                     stored_emitted=lambda slot: EmittedEntry.from_dict(table[slot]) if slot in table else None)


def _carry_out(proc: Processor, batch: list, rows: dict[str, bytes], table: dict[str, dict]) -> tuple[set[str], set[str]]:
    """One batch as the worker carries it out; returns the row keys and slots it wrote."""
    step = proc.fold(batch)
    commands = proc.project(step.roots)
    for key, row, position in step.row_writes:
        rows[key] = dumps_entry(row, position)
    slots = set()
    for slot, entry in proc.emitted_writes(commands):
        slots.add(slot)
        if entry is None:
            table.pop(slot, None)
        else:
            table[slot] = entry
    return {key for key, _, _ in step.row_writes}, slots


def _loaded(rows: dict[str, bytes], table: dict[str, dict]) -> Processor:
    proc = _stored(rows, table)
    for key, value in rows.items():
        proc.load_row(key, *loads_entry(value))
    for entry in table.values():
        proc.load_emitted(entry)
    return proc


def _rows(proc: Processor) -> dict[str, dict]:
    return {name: dict(t) for name, t in proc.state._tables.items()}


def _same(a: Processor, b: Processor) -> None:
    assert _rows(a) == _rows(b)
    for index in _INDEX_NAMES:
        assert getattr(a.state, index) == getattr(b.state, index), index
    assert dict(a.emitted.by_root) == dict(b.emitted.by_root)
    assert len(a.emitted) == len(b.emitted)
    assert a.failed == b.failed
    assert {d: s for d, s in a.due.by_day.items()} == {d: s for d, s in b.due.by_day.items()}


def test_the_state_pickles_as_value_lists_per_column_and_comes_back_equal_with_its_indexes_and_shared_values() -> None:
    ds = random_dataset(5, properties=4, units_per_property=5, today=TODAY)
    proc = Processor(SyncSettings(today=TODAY))  # every row held in memory
    proc.fold(ds.changes())
    back = pickle.loads(pickle.dumps(proc.state, protocol=pickle.HIGHEST_PROTOCOL))
    assert back.dump() == proc.state.dump()
    for index in _INDEX_NAMES:
        assert getattr(back, index) == getattr(proc.state, index), index
    assert back.units is back.rows("unit")  # the typed views name the rebuilt tables
    cities = {id(r.city) for r in back.buildings.values()}
    assert len(cities) <= len({r.city for r in back.buildings.values()})  # equal values are one object again


def test_a_state_reading_its_rows_from_the_state_table_pickles_keys_and_indexes_only() -> None:
    ds = random_dataset(6, properties=4, units_per_property=5, today=TODAY)
    rows: dict[str, bytes] = {}
    proc = _stored(rows, {})
    for i in range(0, len(ds.changes()), 30):
        _carry_out(proc, ds.changes()[i:i + 30], rows, {})
    data = pickle.dumps(proc.state, protocol=pickle.HIGHEST_PROTOCOL)
    names = {r.last_name for r in proc.state.persons.values() if r.last_name}
    assert names and not any(name.encode() in data for name in names)  # no row value in the image
    back = pickle.loads(data)
    back.attach(proc._stored_row)
    assert {n: dict(t) for n, t in back._tables.items()} == _rows(proc) and len(back) == len(proc.state)
    for index in _INDEX_NAMES:
        assert getattr(back, index) == getattr(proc.state, index), index


def test_a_start_from_an_image_and_the_writes_after_it_holds_what_a_start_from_every_entry_holds(tmp_path: Path) -> None:
    ds = random_dataset(11, properties=5, units_per_property=4, today=TODAY)
    history = ds.changes()
    rnd = random.Random(11)
    rows: dict[str, bytes] = {}
    table: dict[str, dict] = {}
    proc = _stored(rows, table)
    half = len(history) // 2
    for i in range(0, half, 20):
        _carry_out(proc, history[i:i + 20], rows, table)
    write_image(tmp_path / "image", StateImage("id", {"rows": 1, "emitted": 1}, proc.image_parts()))
    # after the image: the rest of the history, edits and deletes of rows already imaged
    later = history[half:] + [c for c in history[:half] if rnd.random() < 0.2]
    from streams.projection.sample import delete
    later += [delete(c.table, c.after) for c in history[:half] if c.op != "d" and c.table == "contract"
              and rnd.random() < 0.3]
    # rows of a key of several columns deleted (their index entries are found by the key alone)
    later += [delete(c.table, c.after) for c in history[:half] if c.op != "d"
              and c.table in ("contract_party", "property_owner", "property_user") and rnd.random() < 0.5]
    # rows moved under another indexed value (a unit to another property, a person's e-mail): in
    # store mode the table holds only the new row, the image the old index entries
    units = [c.after for c in history[:half] if c.table == "unit" and c.after]
    persons = [c.after for c in history[:half] if c.table == "person" and c.after]
    later += [change("unit", {**u, "property_id": units[-1]["property_id"] + 1}, op="u", before=u) for u in units[:3]]
    later += [change("person", {**p, "email": f"neu{i}@example.org"}, op="u", before=p) for i, p in enumerate(persons[:3])]
    written_rows: set[str] = set()
    written_slots: set[str] = set()
    for i in range(0, len(later), 20):
        keys, slots = _carry_out(proc, later[i:i + 20], rows, table)
        written_rows |= keys
        written_slots |= slots
    image = read_image(tmp_path / "image", "id")
    assert image is not None
    restarted = _stored(rows, table)
    restarted.load_image(image.parts)
    restarted.reload_rows({key: loads_entry(rows[key]) if key in rows else None for key in written_rows})
    restarted.reload_emitted({slot: table.get(slot) for slot in written_slots})
    _same(restarted, _loaded(rows, table))


def test_an_image_of_other_settings_or_code_is_not_read(tmp_path: Path) -> None:
    write_image(tmp_path / "image", StateImage("one", {"rows": 3, "emitted": None}, {}))
    assert read_image(tmp_path / "image", "other") is None
    assert read_image(tmp_path / "missing", "one") is None
    (tmp_path / "broken").write_bytes(b"not a pickle")
    assert read_image(tmp_path / "broken", "one") is None


def test_the_writes_to_read_again_are_those_between_the_image_and_the_stores() -> None:
    image = StateImage("id", {"rows": 100, "emitted": None}, {})
    assert delta_of(image, {"rows": 100, "emitted": None}) == ImageDelta({})
    assert delta_of(image, {"rows": 130, "emitted": 4}) == ImageDelta({"rows": (101, 130), "emitted": (0, 4)})
    assert delta_of(image, {"rows": 130, "emitted": 4}).records == 35  # type: ignore[union-attr]
    assert delta_of(image, {"rows": 90, "emitted": None}) is None  # the store was rebuilt: behind the image
    assert delta_of(image, {"rows": None, "emitted": None}) is None
    read = {("rows-changelog", 101, 130): [b'"unit|[1]"', b'"unit|[1]"', b"person|[2]"]}  # as Faust writes str keys
    keys = changed_keys(lambda topic, first, last: read[(topic, first, last)], {"rows": "rows-changelog"},
                        ImageDelta({"rows": (101, 130)}))
    assert keys == {"rows": {"unit|[1]", "person|[2]"}}


def test_the_writer_writes_an_image_by_a_child_once_due_caught_up_and_changed(tmp_path: Path) -> None:
    now = [0.0]
    offsets = {"rows": 5, "emitted": 2}
    rows: dict[str, bytes] = {}
    proc = _stored(rows, {})
    _carry_out(proc, random_dataset(3, properties=2, units_per_property=2, today=TODAY).changes(), rows, {})
    writer = ImageWriter(tmp_path / "image", "id", 60.0, parts=proc.image_parts, offsets=lambda: dict(offsets),
                         rows=lambda: proc.row_count, clock=lambda: now[0])
    writer.loaded({"rows": 5, "emitted": 2})
    now[0] = 61.0
    assert not writer.after_batch(caught_up=True)  # nothing written since the load
    offsets["rows"] = 9
    assert not writer.after_batch(caught_up=False)  # a bulk load goes on
    assert writer.after_batch(caught_up=True)
    writer.wait()
    assert writer.written == 1
    image = read_image(tmp_path / "image", "id")
    assert image is not None and image.offsets == {"rows": 9, "emitted": 2} and image.rows == proc.row_count
    image.parts["state"].attach(proc._stored_row)
    assert {n: dict(t) for n, t in image.parts["state"]._tables.items()} == _rows(proc)
    offsets["rows"] = 12
    now[0] = 100.0
    assert not writer.after_batch(caught_up=True)  # not due yet
    assert not ImageWriter(tmp_path / "x", "id", 0.0, parts=dict, offsets=dict, rows=int).after_batch(caught_up=True)


def test_after_a_failed_batch_no_image_is_written_and_the_one_on_disk_is_removed(tmp_path: Path) -> None:
    offsets = {"rows": 1, "emitted": 1}
    writer = ImageWriter(tmp_path / "image", "id", 1.0, parts=dict, offsets=lambda: dict(offsets), rows=int,
                         clock=lambda: 10.0)
    writer._last = 0.0
    assert writer.after_batch(caught_up=True)
    writer.wait()
    assert (tmp_path / "image").exists()
    writer.discard()
    offsets["rows"] = 2
    assert not (tmp_path / "image").exists() and not writer.after_batch(caught_up=True)
