"""The tables of small seeded runs of every scenario are bit-identical to the stored digests
(`tests/golden.py`; regenerate with `python -m tests.golden --update` after an intended change),
and with `link.fast_recovery=false` to the digests from before fast recovery."""

import pytest

import golden
from model.scenarios import CATALOGUE


def test_every_catalogue_scenario_has_a_golden_case():
    assert {e.name for e in CATALOGUE} <= {scenario for scenario, _, _ in golden.CASES.values()}
    assert set(golden.stored()) == set(golden.CASES) == set(golden.stored(golden.TEXTBOOK))


@pytest.mark.parametrize("textbook", [False, True], ids=["fast-recovery", "textbook-rto"])
@pytest.mark.parametrize("case", golden.CASES)
def test_tables_are_bit_identical_to_the_golden_digests(case, textbook):
    if textbook:  # every frame on its own RTO timer: the textbook link model
        want = golden.stored(golden.TEXTBOOK)[case]
        got = golden.case_digests(case, golden.TEXTBOOK_SET)
    else:
        want, got = golden.stored()[case], golden.case_digests(case)
    for table in ("streams", "disconnects"):
        assert got[table]["rows"] == want[table]["rows"], (table, "rows")
        got_columns, want_columns = got[table]["columns"].items(), want[table]["columns"].items()
        changed = [(g, w) for g, w in zip(got_columns, want_columns) if g != w]
        assert not changed and len(got_columns) == len(want_columns), (table, changed)


def test_the_digest_sees_a_one_ulp_change_and_a_dtype_change():
    import numpy as np
    import pandas as pd

    a = pd.Series([0.1, 2.0, np.nan])
    assert golden.column_digest(a) != golden.column_digest(pd.Series(np.nextafter(a, 1)))
    assert golden.column_digest(a) != golden.column_digest(a.astype(object))
    mixed, ints = pd.Series([1, True], dtype=object), pd.Series([1, 1], dtype=object)
    assert golden.column_digest(mixed) != golden.column_digest(ints)
