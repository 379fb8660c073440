"""token.render.isotime: Keystone's date format, for every time a payload can hold."""
import datetime

import pytest

from keystone_lite.token.render import isotime


@pytest.mark.parametrize("microseconds", [
    0, 1, 999_999, 951_782_400_000_000,  # 2000-02-29
    1_795_801_893_229_381, 4_102_444_799_999_999,  # 2099-12-31T23:59:59.999999
    253_402_300_799_999_999,  # the last microsecond a payload may hold (year 9999)
])
def test_isotime_is_utc_truncated_to_the_second(microseconds):
    moment = datetime.datetime.fromtimestamp(microseconds // 1_000_000, datetime.UTC)
    assert isotime(microseconds) == moment.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    assert isotime(microseconds, subsecond=False) == moment.strftime("%Y-%m-%dT%H:%M:%SZ")
