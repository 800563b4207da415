"""The profile and footprint pictures are PNG files."""

import numpy as np


def test_profile_and_footprint_are_written_as_png(tmp_path):
    # imported here, not at collection: matplotlib's pyplot is about a second of CPU, which
    # every worker of `pytest -n 2` paid to collect the suite whether it ran this test or not
    from orderflow.io.charts import draw_footprint, draw_profile

    prices = np.arange(4800.0, 4803.0, 0.25)
    buy = np.arange(len(prices))
    sell = buy[::-1]
    out = draw_profile(
        tmp_path / "p.png",
        prices,
        buy,
        sell,
        poc=4801.0,
        vah=4802.0,
        val=4800.5,
        title="ES",
        tick=0.25,
    )
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bars = [
        ("23:00", prices[:4], buy[:4], sell[:4], 4800.25),
        ("23:01", prices[4:], buy[4:], sell[4:], None),
    ]
    fp = draw_footprint(tmp_path / "f.png", bars, title="ES 1 min", tick=0.25)
    assert fp.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and fp.stat().st_size > 5_000
