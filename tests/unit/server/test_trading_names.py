"""The NinjaTrader name of a contract the client never named: the micro the sizing chose
beside the chart's standard takes its name from the standard's (``ES 03-24`` -> ``MES 03-24``),
as the bridge's data series of the micro is named."""

from orderflow.model.instruments import get_instrument
from orderflow.server.outbox import Outbox
from orderflow.server.trading import ServerTrading


def test_the_micro_is_named_after_the_standard_the_client_named() -> None:
    st = ServerTrading(Outbox())
    st.names[("nt8", "ESH4")] = "ES 03-24"
    assert st.wire_name("nt8", get_instrument("ESH4")) == "ES 03-24"
    assert st.wire_name("nt8", get_instrument("MESH4")) == "MES 03-24"
    # a name the client gave wins; another client, or no standard named: the contract
    st.names[("nt8", "MESH4")] = "MES 03-24 (own)"
    assert st.wire_name("nt8", get_instrument("MESH4")) == "MES 03-24 (own)"
    assert st.wire_name("other", get_instrument("MESH4")) == "MESH4"
    assert st.wire_name("nt8", get_instrument("NQH4")) == "NQH4"
