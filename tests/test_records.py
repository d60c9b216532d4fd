"""The records boundary: one schema declares every column, the tables follow it (names, order,
dtypes, also when empty), the README documents it, and records cannot be changed after the run."""

import dataclasses
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import calm
from model.config import Content
from model.content import make_frames, verify
from model.records import (
    CONTENT_KINDS,
    DISCONNECT_SCHEMA,
    INTEGRITY_COLUMNS,
    STREAM_SCHEMA,
    DisconnectRecord,
    StreamRecord,
    column_reference,
)
from model.simulation import run_session, session_record, simulate, stream_timeline

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_column_reference_is_the_schema():
    text = README.read_text()
    block = re.search(r"<!-- columns:begin -->\n(.*?)\n<!-- columns:end -->", text, re.S)
    assert block, "README has no generated column reference"
    assert block.group(1) == column_reference(), "regenerate it with: python -m model.records"
    for schema in (STREAM_SCHEMA, DISCONNECT_SCHEMA):
        for column in schema.columns:
            assert f"| `{column.name}` |" in block.group(1)


@pytest.mark.parametrize("kind", CONTENT_KINDS)
def test_integrity_columns_of_each_kind_are_what_verify_returns(kind):
    frames = make_frames(Content(kind=kind, frames=40, components=3), np.random.default_rng(0))
    checks = list(verify(frames, np.arange(40), frames.digest))
    declared = [c.name for c in INTEGRITY_COLUMNS if not c.kinds or kind in c.kinds]
    assert declared == checks
    in_table = [c for c in STREAM_SCHEMA.for_kind(kind) if c.name in checks]
    assert in_table == [c for c in INTEGRITY_COLUMNS if c.name in checks]


@pytest.mark.parametrize("kind", CONTENT_KINDS)
def test_tables_follow_the_schema_full_and_empty(kind):
    cfg = calm(content__kind=kind, content__frames=60, disconnects__schedule="0.5:close:0.5")
    res = simulate(cfg, 2, seed=1)
    assert len(res.disconnects) == 2
    for table, schema, k in (
        (res.streams, STREAM_SCHEMA, kind),
        (res.disconnects, DISCONNECT_SCHEMA, None),
    ):
        empty = schema.table([], k)
        assert list(table.columns) == list(empty.columns) == schema.names(k)
        assert table.dtypes.equals(empty.dtypes)
        assert object not in list(empty.dtypes)  # typed even when empty: no astype needed


def test_a_row_is_the_table_row_of_its_record():
    cfg = calm(content__frames=60, disconnects__schedule="0.5:close:0.5")
    run = run_session(cfg, 0, 0).members[0]
    record = run.record()
    table = simulate(cfg, 1, seed=0)
    assert STREAM_SCHEMA.row(record) == table.streams.iloc[0].to_dict()
    (d,) = record.disconnect_log
    assert pd.Series(DISCONNECT_SCHEMA.row(d)).equals(table.disconnects.iloc[0])
    assert record.disconnects == 1 and record.reconnect_attempts == d.attempts == 1


def test_every_plain_column_is_an_attribute_of_its_record():
    for schema, cls in ((STREAM_SCHEMA, StreamRecord), (DISCONNECT_SCHEMA, DisconnectRecord)):
        fields = {f.name for f in dataclasses.fields(cls)}
        for column in schema.columns:
            if column.get is None:
                is_property = isinstance(getattr(cls, column.name, None), property)
                assert column.name in fields or is_property, column.name


def test_records_are_frozen_and_timelines_hold_the_figures_data():
    cfg = calm(content__frames=60, disconnects__schedule="0.5:close:0.5")
    timeline = stream_timeline(cfg, 0, 0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        timeline.record.outcome = "failed"
    with pytest.raises(dataclasses.FrozenInstanceError):
        timeline.record.disconnect_log[0].attempts = 9
    arrivals = timeline.arrivals
    assert len(arrivals.times) >= 60 and (np.diff(arrivals.times) >= 0).all()
    assert set(arrivals.connection) == {0, 1} and len(timeline.generated) == 60
    assert [e.kind for e in timeline.network.events] == ["close"]
    session = session_record(cfg, 0, 0)
    assert session.memory.peak == session.streams[0].session_buffer_peak_bytes > 0


def test_tables_and_records_hold_plain_strings_not_the_engines_enums():
    cfg = calm(
        content__frames=60,
        disconnects__schedule="0.5:close:0.5;0.6:half_open:60",
        client__auth_failure_prob=0.0,
    )
    record = session_record(cfg, 0, 0).streams[0]
    strings = [record.outcome, record.error, *(s for _, s in record.log)]
    strings += [v for d in record.disconnect_log for v in (d.cause, d.detected_by, d.outcome)]
    assert all(type(v) is str for v in strings), [type(v) for v in strings]
    res = simulate(cfg, 2, seed=0)
    for table in (res.streams, res.disconnects):
        for name in table.columns[table.dtypes == pd.Series([""], dtype=str).dtype]:
            assert all(type(v) is str for v in table[name].to_numpy()), name
