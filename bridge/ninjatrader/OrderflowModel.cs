// orderflow's view of one instrument, as the server's answers carry it (protocol version 2,
// docs/protocol.md): what a NinjaScript user reads in OnBarUpdate and what OnRender draws.
// The transport thread builds a new OrderflowView from each answer and swaps the reference
// atomically; readers take the reference once and read a snapshot that never changes under
// them (every member is read-only after construction). Prices in exchange units.
using System;
using System.Collections.Generic;

namespace Orderflow.Bridge
{
    /// <summary>Book and flow metrics of the latest answer (NaN: not defined yet).</summary>
    public sealed class MetricsView
    {
        public double Spread = double.NaN;
        public double Mid = double.NaN;
        public double Microprice = double.NaN;
        public double Imbalance = double.NaN;
        public double Ofi = double.NaN;
        public double OfiWindow = double.NaN;
        public long CumulativeDelta;
        public double Vwap = double.NaN;
        /// <summary>The VWAP's standard-deviation bands (k = 1, 2, 3 by default), inner first.</summary>
        public IReadOnlyList<VwapBand> VwapBands = new VwapBand[0];
        public double Momentum = double.NaN;
        /// <summary>Bid size / ask size over the top N levels, by N (the configured depths).</summary>
        public IReadOnlyDictionary<int, double> BidAskRatio = new Dictionary<int, double>();
    }

    /// <summary>VWAP +- K standard deviations.</summary>
    public sealed class VwapBand
    {
        public double K;
        public double Upper = double.NaN;
        public double Lower = double.NaN;
    }

    /// <summary>A liquidity cluster (resting size) or a volume cluster (traded volume).</summary>
    public sealed class ClusterView
    {
        public string Id = "";
        public string Kind = "";       // "liquidity" or "volume"
        public double Low;
        public double High;
        public long Size;              // resting size (liquidity) or traded volume (volume)
        public string Side = "";       // bid/ask (liquidity) or buy/sell (volume: the aggressor)
        public double Strength;        // 0..1
        public long Orders = -1;       // -1: unknown (L2)
        public long FirstSeenNs;
        public long LastSeenNs;
    }

    /// <summary>The session's volume profile.</summary>
    public sealed class ProfileView
    {
        public double Poc = double.NaN;
        public double ValueAreaHigh = double.NaN;
        public double ValueAreaLow = double.NaN;
        public IReadOnlyList<double> Hvn = new double[0];
        public IReadOnlyList<double> Lvn = new double[0];
        public long Volume;
    }

    /// <summary>A signal the server's detectors found.</summary>
    public sealed class SignalView
    {
        public string Kind = "";
        public int Direction;          // +1 long, -1 short
        public double Score;
        public double Price = double.NaN;
        public long TsNs;
    }

    /// <summary>Bar metrics of one NinjaTrader series (BarsInProgress).</summary>
    public sealed class BarMetricsView
    {
        public int Series;
        public string Period = "";
        public long TsNs;
        public double Open, High, Low, Close;
        public long Volume;
        public double Range, Body, RelativeVolume = double.NaN, Atr = double.NaN;
        public long Delta = long.MinValue;         // MinValue: no ticks for this series
        public double Imbalance = double.NaN;
    }

    /// <summary>Everything orderflow says about one instrument, as of answer Seq.</summary>
    public sealed class OrderflowView
    {
        public static readonly OrderflowView Empty = new OrderflowView();

        public string Instrument = "";
        public long Seq = -1;
        public bool Stale;
        public MetricsView Metrics = new MetricsView();
        /// <summary>The active clusters by id (the original strategy's activeClusters).</summary>
        public IReadOnlyDictionary<string, ClusterView> ActiveClusters = new Dictionary<string, ClusterView>();
        /// <summary>The clusters' version (the server raises it by one per change; -1: none yet).</summary>
        public long ClustersVersion = -1;
        /// <summary>The data time (ns UTC) up to which every active cluster still stands (the
        /// answer's clusters.as_of_ns, full or unchanged; 0: not said): the chart draws a
        /// cluster to the later of it and the cluster's LastSeenNs.</summary>
        public long ClustersAsOfNs;
        public ProfileView Profile = new ProfileView();
        /// <summary>The profile's version (-1: none yet).</summary>
        public long ProfileVersion = -1;
        /// <summary>The signals of the latest answer (oldest first).</summary>
        public IReadOnlyList<SignalView> Signals = new SignalView[0];
        /// <summary>The latest bar metrics per series.</summary>
        public IReadOnlyDictionary<int, BarMetricsView> BarMetrics = new Dictionary<int, BarMetricsView>();
    }
}
