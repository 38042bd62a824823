"""Which --ts-format an export's timestamps are written in, read from the values."""

from __future__ import annotations

import pandas as pd
import pytest

from spend.features.ingest.ts_formats import format_hint, readable_formats


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["12/1/2009 7:45", "12/13/2009 10:05"], ["%m/%d/%Y %H:%M"]),  # a day above 12 settles it
        (["13/01/2011 08:26:00", "02/01/2011 09:00:00"], ["%d/%m/%Y %H:%M:%S"]),
        (["03.04.2011", "25.12.2011"], ["%d.%m.%Y"]),
        (["2011/01/12 08:26"], ["%Y/%m/%d %H:%M"]),
        (["12 Jan 2011 8:26 PM"], ["%d %b %Y %I:%M %p"]),
        (["12 Jan 2011 08:26"], ["%d %b %Y %H:%M"]),
        (["1767348000", "1767348060"], ["unix"]),
        (["1767348000123"], ["unix_ms"]),
        (["45413.4375", "45414", "45382.1"], ["excel"]),  # a spreadsheet's serial days
        (["45413.4375", "12/1/2009 7:45"], []),
        (["123.5"], []),  # a number, but no day of a recent year
        (["12/1/2009 7:45", "yesterday"], []),  # a value nothing reads: no format is suggested
        ([None, "", " "], []),
        (["Sep  1 2026 10:00AM", "Sep 14 2026  9:05PM"], ["%b %d %Y %I:%M%p"]),  # SQL Server's text of a datetime
        (["Tue, 01 Sep 2026 10:00:00 +0200", "Tue, 01 Dec 2026 10:00:00 +0100"], ["%a, %d %b %Y %H:%M:%S %z"]),
        (["Tue, 01 Sep 2026 10:00:00 GMT"], ["%a, %d %b %Y %H:%M:%S %Z"]),  # RFC 2822, as PHP's date('r')
    ],
)
def test_the_formats_that_read_every_value(values, expected):
    assert readable_formats(pd.Series(values, dtype="string")) == expected


def test_days_that_never_pass_12_leave_the_order_to_the_user():
    formats = readable_formats(pd.Series(["3/4/2011 10:00", "5/6/2011 11:00"], dtype="string"))
    assert formats == ["%m/%d/%Y %H:%M", "%d/%m/%Y %H:%M"]
    assert "none of them settles which" in format_hint(formats)
    assert format_hint([]) == ""


def test_a_value_past_the_sample_still_counts():
    """The candidates are narrowed on the first values; a later one must still be read by the one suggested."""
    early = [f"{m}/{d}/2011 10:00" for m in range(1, 13) for d in range(1, 13)] * 2
    assert len(early) > 200
    assert readable_formats(pd.Series([*early, "12/25/2011 10:00"], dtype="string")) == ["%m/%d/%Y %H:%M"]
    assert readable_formats(pd.Series([*early, "25/12/2011 10:00"], dtype="string")) == ["%d/%m/%Y %H:%M"]
