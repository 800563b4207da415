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


def _draw_all(folder):
    """The four pictures of the product (profile and footprint of ``analyze --png``, equity
    and drawdown of ``backtest``) from small fixed inputs; their PNG bytes."""
    from orderflow.backtest.charts import draw_drawdown, draw_equity
    from orderflow.io.charts import draw_footprint, draw_profile

    folder.mkdir()
    prices = np.arange(4800.0, 4803.0, 0.25)
    buy = np.arange(len(prices))
    sell = buy[::-1]
    t0 = 1_703_541_600 * 10**9
    ts = [t0 + k * 600 * 10**9 for k in range(7)]
    equity = {"ts": ts, "equity": [0.0, 50.0, -30.0, -80.5, 20.0, 45.25, -12.5],
              "drawdown": [0.0, 0.0, -80.0, -130.5, -30.0, -4.75, -62.5]}  # fmt: skip
    eq = equity["equity"]
    trades = [{"closed_t": t, "equity": e, "net": e - p}
              for t, e, p in zip(ts[1:], eq[1:], eq, strict=False)]  # fmt: skip
    bars = [("23:00", prices[:4], buy[:4], sell[:4], 4800.25),
            ("23:01", prices[4:], buy[4:], sell[4:], None)]  # fmt: skip
    paths = [
        draw_profile(folder / "profile.png", prices, buy, sell, poc=4801.0, vah=4802.0,
                     val=4800.5, title="ES", tick=0.25),
        draw_footprint(folder / "footprint.png", bars, title="ES 1 min", tick=0.25),
        draw_equity(folder / "equity.png", equity, trades, "ESH4"),
        draw_drawdown(folder / "drawdown.png", equity, "ESH4"),
    ]  # fmt: skip
    return [p.read_bytes() for p in paths]


def test_the_pictures_are_pyplots_to_the_byte_without_pyplot(tmp_path, monkeypatch):
    """The figures are made with matplotlib's object API on the Agg canvas (``new_axes``):
    pyplot, a few hundred milliseconds of CPU per process, is never imported (here it cannot
    be), and the PNG bytes equal those of the same figures made by ``pyplot.subplots``."""
    import sys

    from orderflow.io import charts

    with monkeypatch.context() as m:
        m.setitem(sys.modules, "matplotlib.pyplot", None)  # an import of pyplot fails
        ours = _draw_all(tmp_path / "ours")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def pyplot_axes(width, height, dpi):
        return plt.subplots(figsize=(width, height), dpi=dpi)

    monkeypatch.setattr(charts, "new_axes", pyplot_axes)
    try:
        theirs = _draw_all(tmp_path / "pyplot")
    finally:
        plt.close("all")
    assert [len(b) > 5_000 for b in ours] == [True] * 4
    assert ours == theirs
