// SelfTestViews.cs - `mono OrderflowSelfTest.exe --views`: checks that the transport builds
// protocol-2 answers (JSON as docs/protocol.md shows it) into OrderflowViews: clusters and
// profile "full" replace, "unchanged" keep; bar_metrics update the series they name; absent
// numbers are NaN; a malformed answer keeps the previous view and is counted; an answer missed
// is noticed; and readers on other threads never see a half-built view while the transport
// swaps views (a stress loop). Prints "ok ..."/"FAIL ..." per check; exit code 0 when all pass.

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Threading;

namespace Orderflow.Bridge.SelfTest
{
    public static class ViewChecks
    {
        private static int _failures;

        private static void Check(bool ok, string what)
        {
            Console.WriteLine((ok ? "ok " : "FAIL ") + what);
            if (!ok)
                _failures++;
        }

        private const string Es = "ES 03-24";

        private const string Ack1 =
            "{\"type\": \"ack\", \"seq\": 17, \"instrument\": \"ES 03-24\", \"duplicate\": false,"
            + " \"applied\": {\"depth\": 1, \"ticks\": 1, \"bars\": 1}, \"rejected\": {}, \"stale\": false,"
            + " \"book\": {\"bids\": [[4810.0, 22]], \"asks\": [[4810.25, 28]]},"
            + " \"metrics\": {\"spread\": 0.25, \"mid\": 4810.125, \"microprice\": 4810.11, \"imbalance\": 0.028,"
            + " \"ofi\": 0, \"ofi_window\": -3, \"cumulative_delta\": 796, \"vwap\": 4808.72, \"momentum\": 0.236,"
            + " \"vwap_bands\": [{\"k\": 1.0, \"upper\": 4810.3, \"lower\": 4807.14}, {\"k\": 2.0, \"upper\": 4811.88, \"lower\": 4805.56}],"
            + " \"bid_ask_ratio\": [{\"levels\": 1, \"ratio\": 0.786}, {\"levels\": 5, \"ratio\": null}]},"
            + " \"signals\": [{\"detector\": \"absorption\", \"direction\": 1, \"score\": 0.6, \"price\": 4810.0,"
            + " \"ts_event\": 1703545200000000000, \"evidence\": {\"prices\": [4800.25, 4800.5]}}],"
            + " \"processing_us\": 84.0, \"first_seq\": 17,"
            + " \"clusters\": {\"state\": \"full\", \"version\": 3, \"items\": ["
            + "{\"id\": \"liq-bid-12\", \"kind\": \"liquidity\", \"low\": 4808.5, \"high\": 4809.0, \"size\": 420,"
            + " \"side\": \"bid\", \"strength\": 0.82, \"orders\": null, \"first_seen_ns\": 1703545100000000000,"
            + " \"last_seen_ns\": 1703545200000000000},"
            + " {\"id\": \"vol-buy-4\", \"kind\": \"volume\", \"low\": 4810.25, \"high\": 4810.5, \"size\": 1310,"
            + " \"side\": \"buy\", \"strength\": 0.4, \"orders\": 7, \"first_seen_ns\": 1703545150000000000,"
            + " \"last_seen_ns\": 1703545199000000000}]},"
            + " \"profile\": {\"state\": \"full\", \"version\": 9, \"poc\": 4809.75, \"vah\": 4811.0, \"val\": 4808.25,"
            + " \"hvn\": [4809.75, 4812.5], \"lvn\": [4810.75], \"volume\": 50211},"
            + " \"bar_metrics\": [{\"series\": 0, \"period\": \"1 Minute\", \"ts_ns\": 1703545140000000000,"
            + " \"open\": 4809.5, \"high\": 4810.25, \"low\": 4809.25, \"close\": 4810.0, \"volume\": 812,"
            + " \"range\": 1.0, \"body\": 0.5, \"relative_volume\": 1.3, \"atr\": 1.75, \"delta\": 112, \"imbalance\": 0.14},"
            + " {\"series\": 1, \"period\": \"5 Minute\", \"ts_ns\": 1703544900000000000,"
            + " \"open\": 4805.0, \"high\": 4811.0, \"low\": 4804.5, \"close\": 4810.0, \"volume\": 4210,"
            + " \"range\": 6.5, \"body\": 5.0, \"relative_volume\": 0.9, \"atr\": 4.25, \"delta\": null, \"imbalance\": null}]}";

        // Nothing changed but the metrics (some absent): clusters/profile unchanged, no bar_metrics.
        private const string Ack2 =
            "{\"type\": \"ack\", \"seq\": 18, \"instrument\": \"ES 03-24\", \"duplicate\": false,"
            + " \"applied\": {\"depth\": 1}, \"rejected\": {}, \"stale\": false, \"book\": {\"bids\": [], \"asks\": []},"
            + " \"metrics\": {\"spread\": 0.25, \"imbalance\": -0.1, \"cumulative_delta\": 800, \"momentum\": null},"
            + " \"signals\": [], \"processing_us\": 12.0, \"first_seq\": 18,"
            + " \"clusters\": {\"state\": \"unchanged\", \"version\": 3, \"items\": null},"
            + " \"profile\": {\"state\": \"unchanged\", \"version\": 9, \"poc\": null, \"vah\": null, \"val\": null,"
            + " \"hvn\": null, \"lvn\": null, \"volume\": null},"
            + " \"bar_metrics\": [{\"series\": 1, \"period\": \"5 Minute\", \"ts_ns\": 1703545200000000000,"
            + " \"open\": 4810.0, \"high\": 4810.5, \"low\": 4809.75, \"close\": 4810.25, \"volume\": 33,"
            + " \"range\": 0.75, \"body\": 0.25, \"relative_volume\": 0.1, \"atr\": 4.0, \"delta\": 5, \"imbalance\": 0.2}]}";

        // A cluster vanished, one changed; the profile moved.
        private const string Ack3 =
            "{\"type\": \"ack\", \"seq\": 19, \"instrument\": \"ES 03-24\", \"duplicate\": false,"
            + " \"applied\": {\"ticks\": 1}, \"rejected\": {}, \"stale\": true, \"book\": {\"bids\": [], \"asks\": []},"
            + " \"metrics\": {}, \"signals\": [], \"processing_us\": 12.0, \"first_seq\": 19,"
            + " \"clusters\": {\"state\": \"full\", \"version\": 4, \"items\": ["
            + "{\"id\": \"liq-bid-12\", \"kind\": \"liquidity\", \"low\": 4808.5, \"high\": 4809.25, \"size\": 510,"
            + " \"side\": \"bid\", \"strength\": 0.9, \"orders\": null, \"first_seen_ns\": 1703545100000000000,"
            + " \"last_seen_ns\": 1703545201000000000}]},"
            + " \"profile\": {\"state\": \"full\", \"version\": 10, \"poc\": 4810.0, \"vah\": 4811.0, \"val\": 4808.5,"
            + " \"hvn\": [], \"lvn\": [], \"volume\": 50212}}";

        private const string State =
            "{\"type\": \"state\", \"instrument\": \"ES 03-24\","
            + " \"metrics\": {\"imbalance\": 0.5, \"cumulative_delta\": 801},"
            + " \"clusters\": {\"state\": \"full\", \"version\": 6, \"items\": []},"
            + " \"profile\": {\"state\": \"full\", \"version\": 11, \"poc\": 4810.5, \"vah\": 4811.5, \"val\": 4809.0,"
            + " \"hvn\": [4810.5], \"lvn\": [], \"volume\": 50300},"
            + " \"bar_metrics\": [{\"series\": 0, \"period\": \"1 Minute\", \"ts_ns\": 1703545200000000000,"
            + " \"open\": 4810.0, \"high\": 4810.5, \"low\": 4809.75, \"close\": 4810.25, \"volume\": 40,"
            + " \"range\": 0.75, \"body\": 0.25, \"relative_volume\": 0.2, \"atr\": 1.5, \"delta\": -4, \"imbalance\": -0.1}]}";

        public static int Run()
        {
            var t = new OrderflowTransport(new TransportOptions());
            Check(ReferenceEquals(t.View(Es), OrderflowView.Empty), "no view before the first answer: Empty");

            t.Receive(Ack1);
            OrderflowView v1 = t.View(Es);
            Check(v1.Seq == 17 && v1.Instrument == Es && !v1.Stale, "ack 17: seq, instrument");
            MetricsView m = v1.Metrics;
            Check(m.Spread == 0.25 && m.Mid == 4810.125 && m.Microprice == 4810.11 && m.Imbalance == 0.028
                && m.Ofi == 0 && m.OfiWindow == -3 && m.CumulativeDelta == 796 && m.Vwap == 4808.72 && m.Momentum == 0.236,
                "metrics read exactly");
            Check(m.VwapBands.Count == 2 && m.VwapBands[0].K == 1.0 && m.VwapBands[0].Upper == 4810.3
                && m.VwapBands[0].Lower == 4807.14 && m.VwapBands[1].K == 2.0 && m.VwapBands[1].Lower == 4805.56,
                "vwap_bands read exactly, inner first");
            Check(m.BidAskRatio.Count == 2 && m.BidAskRatio[1] == 0.786 && double.IsNaN(m.BidAskRatio[5]),
                "bid_ask_ratio by levels; null ratio (ask side empty) is NaN");
            Check(v1.Signals.Count == 1 && v1.Signals[0].Kind == "absorption" && v1.Signals[0].Direction == 1
                && v1.Signals[0].Score == 0.6 && v1.Signals[0].Price == 4810.0 && v1.Signals[0].TsNs == 1703545200000000000,
                "signal: detector, direction, score, price, ts_event");
            Check(v1.ActiveClusters.Count == 2 && v1.ClustersVersion == 3, "clusters full: 2 by id, version 3");
            ClusterView liq = v1.ActiveClusters["liq-bid-12"];
            ClusterView vol = v1.ActiveClusters["vol-buy-4"];
            Check(liq.Kind == "liquidity" && liq.Low == 4808.5 && liq.High == 4809.0 && liq.Size == 420 && liq.Side == "bid"
                && liq.Strength == 0.82 && liq.Orders == -1 && liq.FirstSeenNs == 1703545100000000000
                && liq.LastSeenNs == 1703545200000000000, "liquidity cluster fields (orders null: -1)");
            Check(vol.Kind == "volume" && vol.Size == 1310 && vol.Side == "buy" && vol.Orders == 7, "volume cluster fields");
            ProfileView p = v1.Profile;
            Check(p.Poc == 4809.75 && p.ValueAreaHigh == 4811.0 && p.ValueAreaLow == 4808.25 && p.Hvn.Count == 2
                && p.Hvn[1] == 4812.5 && p.Lvn.Count == 1 && p.Lvn[0] == 4810.75 && p.Volume == 50211 && v1.ProfileVersion == 9,
                "profile full: poc, value area, hvn, lvn, volume, version");
            Check(v1.BarMetrics.Count == 2 && v1.BarMetrics[0].Period == "1 Minute" && v1.BarMetrics[0].Close == 4810.0
                && v1.BarMetrics[0].Volume == 812 && v1.BarMetrics[0].Atr == 1.75 && v1.BarMetrics[0].Delta == 112
                && v1.BarMetrics[0].Imbalance == 0.14 && v1.BarMetrics[0].RelativeVolume == 1.3,
                "bar_metrics series 0");
            Check(v1.BarMetrics[1].Period == "5 Minute" && v1.BarMetrics[1].Delta == long.MinValue
                && double.IsNaN(v1.BarMetrics[1].Imbalance) && v1.BarMetrics[1].Range == 6.5,
                "bar_metrics series 1: null delta and imbalance (no ticks) are MinValue and NaN");

            t.Receive(Ack2);
            OrderflowView v2 = t.View(Es);
            Check(v2 != v1 && v2.Seq == 18, "ack 18: a new view");
            Check(ReferenceEquals(v2.ActiveClusters, v1.ActiveClusters) && v2.ClustersVersion == 3,
                "clusters unchanged: the previous ones kept");
            Check(ReferenceEquals(v2.Profile, v1.Profile) && v2.ProfileVersion == 9, "profile unchanged: the previous one kept");
            Check(double.IsNaN(v2.Metrics.Mid) && double.IsNaN(v2.Metrics.Momentum) && double.IsNaN(v2.Metrics.Vwap)
                && v2.Metrics.Imbalance == -0.1 && v2.Metrics.CumulativeDelta == 800 && v2.Metrics.BidAskRatio.Count == 0,
                "metrics are the latest: absent and null numbers are NaN");
            Check(v2.Signals.Count == 0, "signals are the latest (none)");
            Check(ReferenceEquals(v2.BarMetrics[0], v1.BarMetrics[0]) && v2.BarMetrics[1].Volume == 33
                && v2.BarMetrics[1].Delta == 5, "bar_metrics: series 1 replaced, series 0 kept");
            Check(v1.ActiveClusters.Count == 2 && v1.BarMetrics[1].Volume == 4210 && v1.Seq == 17,
                "the earlier view did not change");

            t.Receive(Ack3);
            OrderflowView v3 = t.View(Es);
            Check(v3.ActiveClusters.Count == 1 && v3.ActiveClusters["liq-bid-12"].High == 4809.25
                && v3.ActiveClusters["liq-bid-12"].Size == 510 && !v3.ActiveClusters.ContainsKey("vol-buy-4")
                && v3.ClustersVersion == 4, "clusters full: a vanished cluster is gone, a changed one replaced");
            Check(v3.Profile.Poc == 4810.0 && v3.Profile.Hvn.Count == 0 && v3.ProfileVersion == 10, "profile full: replaced");
            Check(v3.Stale && v3.BarMetrics.Count == 2 && double.IsNaN(v3.Metrics.Imbalance), "stale flag; no bar_metrics: kept");

            // Malformed answers: the view stays, each is counted.
            string[] malformed =
            {
                Ack3.Replace("\"state\": \"full\", \"version\": 4", "\"state\": \"partial\", \"version\": 4"),
                Ack3.Replace("\"items\": [", "\"items\": \"none\", \"x\": ["),
                Ack3.Replace("\"id\": \"liq-bid-12\", ", ""),
                Ack3.Replace("\"low\": 4808.5", "\"low\": \"4808.5\""),
                Ack1.Replace("{\"series\": 0,", "{\"series\": null,"),
                Ack1.Replace("\"imbalance\": 0.028", "\"imbalance\": true"),
                Ack1.Replace("\"size\": 420", "\"size\": 420.5"),
                "{\"type\": \"ack\", \"seq\": 20, \"instrument\": \"ES 03-24\", \"metrics\": ",
            };
            foreach (string bad in malformed)
                t.Receive(bad);
            Check(ReferenceEquals(t.View(Es), v3), "malformed answers: the previous view stays in place");
            Check(t.MalformedAnswers == malformed.Length, "malformed answers counted: " + t.MalformedAnswers);

            t.Receive(Ack3.Replace("\"seq\": 19", "\"seq\": 19.0").Replace("\"size\": 510", "\"size\": 510.0"));
            Check(t.View(Es).Seq == 19 && t.View(Es).ActiveClusters["liq-bid-12"].Size == 510 && t.View(Es) != v3,
                "integral numbers written as 510.0 read as integers");
            v3 = t.View(Es);

            t.Receive(State);
            OrderflowView v4 = t.View(Es);
            Check(v4.Seq == 19 && v4.ActiveClusters.Count == 0 && v4.ClustersVersion == 6 && v4.Profile.Poc == 4810.5
                && v4.Signals.Count == 0 && v4.Metrics.Imbalance == 0.5, "state answer: full clusters and profile, seq kept");
            Check(v4.BarMetrics[0].Volume == 40 && ReferenceEquals(v4.BarMetrics[1], v3.BarMetrics[1]),
                "state answer: bar_metrics of the series it names");

            // An answer missed: "unchanged" to a version this client never saw.
            bool missed;
            var parsed = (Dictionary<string, object>)OrderflowJson.Parse(Ack2);
            OrderflowViewReader.Next(v3, Es, parsed, out missed);
            Check(missed, "unchanged version 3 after version 4: an answer was missed");
            OrderflowViewReader.Next(v2, Es, parsed, out missed);
            Check(!missed, "unchanged version 3 after version 3: nothing missed");
            OrderflowViewReader.Next(OrderflowView.Empty, Es, parsed, out missed);
            Check(missed, "unchanged before any full: missed");
            var v1Answer = (Dictionary<string, object>)OrderflowJson.Parse(
                "{\"type\": \"ack\", \"seq\": 3, \"instrument\": \"ES 03-24\", \"metrics\": {\"imbalance\": 0.1}, \"signals\": []}");
            OrderflowView old = OrderflowViewReader.Next(v3, Es, v1Answer, out missed);
            Check(!missed && ReferenceEquals(old.ActiveClusters, v3.ActiveClusters) && ReferenceEquals(old.Profile, v3.Profile),
                "a version-1 answer (no clusters, profile): the previous ones kept");

            Stress();

            Console.WriteLine(_failures == 0 ? "all checks passed" : _failures + " check(s) failed");
            return _failures == 0 ? 0 : 1;
        }

        /// <summary>A view as JSON, in the wire's names (NaN and absent: null), to compare with
        /// what the server answered.</summary>
        public static string ToJson(OrderflowView v)
        {
            var sb = new System.Text.StringBuilder();
            sb.Append("{\"instrument\":");
            OrderflowJson.AppendString(sb, v.Instrument);
            sb.Append(",\"seq\":").Append(v.Seq.ToString(CultureInfo.InvariantCulture));
            sb.Append(",\"stale\":").Append(v.Stale ? "true" : "false");
            MetricsView m = v.Metrics;
            sb.Append(",\"metrics\":{");
            Field(sb, "spread", m.Spread, true);
            Field(sb, "mid", m.Mid, false);
            Field(sb, "microprice", m.Microprice, false);
            Field(sb, "imbalance", m.Imbalance, false);
            Field(sb, "ofi", m.Ofi, false);
            Field(sb, "ofi_window", m.OfiWindow, false);
            Field(sb, "cumulative_delta", m.CumulativeDelta, false);
            Field(sb, "vwap", m.Vwap, false);
            Field(sb, "momentum", m.Momentum, false);
            sb.Append(",\"bid_ask_ratio\":[");
            var levels = new List<int>(m.BidAskRatio.Keys);
            levels.Sort();
            for (int i = 0; i < levels.Count; i++)
            {
                sb.Append(i == 0 ? "{" : ",{");
                Field(sb, "levels", levels[i], true);
                Field(sb, "ratio", m.BidAskRatio[levels[i]], false);
                sb.Append('}');
            }
            sb.Append("],\"vwap_bands\":[");
            for (int i = 0; i < m.VwapBands.Count; i++)
            {
                sb.Append(i == 0 ? "{" : ",{");
                Field(sb, "k", m.VwapBands[i].K, true);
                Field(sb, "upper", m.VwapBands[i].Upper, false);
                Field(sb, "lower", m.VwapBands[i].Lower, false);
                sb.Append('}');
            }
            sb.Append("]},\"clusters\":[");
            var ids = new List<string>(v.ActiveClusters.Keys);
            ids.Sort(StringComparer.Ordinal);
            for (int i = 0; i < ids.Count; i++)
            {
                ClusterView c = v.ActiveClusters[ids[i]];
                sb.Append(i == 0 ? "{\"id\":" : ",{\"id\":");
                OrderflowJson.AppendString(sb, c.Id);
                sb.Append(",\"kind\":");
                OrderflowJson.AppendString(sb, c.Kind);
                Field(sb, "low", c.Low, false);
                Field(sb, "high", c.High, false);
                Field(sb, "size", c.Size, false);
                sb.Append(",\"side\":");
                OrderflowJson.AppendString(sb, c.Side);
                Field(sb, "strength", c.Strength, false);
                sb.Append(",\"orders\":").Append(c.Orders < 0 ? "null" : c.Orders.ToString(CultureInfo.InvariantCulture));
                Field(sb, "first_seen_ns", c.FirstSeenNs, false);
                Field(sb, "last_seen_ns", c.LastSeenNs, false);
                sb.Append('}');
            }
            sb.Append("],\"clusters_version\":").Append(v.ClustersVersion.ToString(CultureInfo.InvariantCulture));
            sb.Append(",\"clusters_as_of_ns\":").Append(v.ClustersAsOfNs.ToString(CultureInfo.InvariantCulture));
            ProfileView p = v.Profile;
            sb.Append(",\"profile\":{");
            Field(sb, "poc", p.Poc, true);
            Field(sb, "vah", p.ValueAreaHigh, false);
            Field(sb, "val", p.ValueAreaLow, false);
            sb.Append(",\"hvn\":[");
            for (int i = 0; i < p.Hvn.Count; i++)
            {
                if (i > 0)
                    sb.Append(',');
                Number(sb, p.Hvn[i]);
            }
            sb.Append("],\"lvn\":[");
            for (int i = 0; i < p.Lvn.Count; i++)
            {
                if (i > 0)
                    sb.Append(',');
                Number(sb, p.Lvn[i]);
            }
            sb.Append(']');
            Field(sb, "volume", p.Volume, false);
            sb.Append("},\"profile_version\":").Append(v.ProfileVersion.ToString(CultureInfo.InvariantCulture));
            sb.Append(",\"signals\":").Append(v.Signals.Count.ToString(CultureInfo.InvariantCulture));
            sb.Append(",\"bar_metrics\":").Append(v.BarMetrics.Count.ToString(CultureInfo.InvariantCulture));
            sb.Append('}');
            return sb.ToString();
        }

        private static void Field(System.Text.StringBuilder sb, string key, double value, bool first)
        {
            if (!first)
                sb.Append(',');
            OrderflowJson.AppendString(sb, key);
            sb.Append(':');
            Number(sb, value);
        }

        private static void Field(System.Text.StringBuilder sb, string key, long value, bool first)
        {
            if (!first)
                sb.Append(',');
            OrderflowJson.AppendString(sb, key);
            sb.Append(':').Append(value.ToString(CultureInfo.InvariantCulture));
        }

        private static void Number(System.Text.StringBuilder sb, double value)
        {
            if (double.IsNaN(value) || double.IsInfinity(value))
                sb.Append("null");
            else
                OrderflowJson.AppendDouble(sb, value);
        }

        // Answer k: every part says k (delta k, k % 5 + 1 clusters of size k, profile volume k,
        // bar volume k). A reader sees one answer's parts or another's, never a mix.
        private static string Numbered(long k)
        {
            var inv = CultureInfo.InvariantCulture;
            var items = new List<string>();
            for (int i = 0; i <= k % 5; i++)
                items.Add("{\"id\": \"liq-bid-" + i + "\", \"kind\": \"liquidity\", \"low\": 4800.0, \"high\": 4800.25, \"size\": "
                    + k.ToString(inv) + ", \"side\": \"bid\", \"strength\": 0.5, \"orders\": null, \"first_seen_ns\": 1, \"last_seen_ns\": 2}");
            return "{\"type\": \"ack\", \"seq\": " + k.ToString(inv) + ", \"instrument\": \"ES 03-24\", \"duplicate\": false,"
                + " \"stale\": false, \"metrics\": {\"cumulative_delta\": " + k.ToString(inv) + "}, \"signals\": [],"
                + " \"clusters\": {\"state\": \"full\", \"version\": " + k.ToString(inv) + ", \"items\": [" + string.Join(", ", items) + "]},"
                + " \"profile\": {\"state\": \"full\", \"version\": " + k.ToString(inv) + ", \"poc\": 4800.0, \"vah\": 4801.0,"
                + " \"val\": 4799.0, \"hvn\": [], \"lvn\": [], \"volume\": " + k.ToString(inv) + "},"
                + " \"bar_metrics\": [{\"series\": 0, \"period\": \"1 Minute\", \"ts_ns\": 1, \"open\": 1.0, \"high\": 1.0,"
                + " \"low\": 1.0, \"close\": 1.0, \"volume\": " + k.ToString(inv) + ", \"range\": 0.0, \"body\": 0.0,"
                + " \"relative_volume\": 1.0, \"atr\": 0.0, \"delta\": null, \"imbalance\": null}]}";
        }

        private static void Stress()
        {
            const int Answers = 10000;
            var texts = new string[Answers];
            for (int k = 0; k < Answers; k++)
                texts[k] = Numbered(k + 1);
            var t = new OrderflowTransport(new TransportOptions());
            long reads = 0, mixed = 0, backwards = 0;
            bool done = false;
            var readers = new List<Thread>();
            for (int r = 0; r < 2; r++)
            {
                var reader = new Thread(() =>
                {
                    long last = -1;
                    while (!Volatile.Read(ref done))
                    {
                        OrderflowView v = t.View(Es);
                        if (v.Seq < 0)
                            continue;
                        long k = v.Seq;
                        bool ok = v.Metrics.CumulativeDelta == k && v.ClustersVersion == k && v.ProfileVersion == k
                            && v.Profile.Volume == k && v.ActiveClusters.Count == k % 5 + 1 && v.BarMetrics[0].Volume == k;
                        foreach (ClusterView c in v.ActiveClusters.Values)
                            ok &= c.Size == k;
                        if (!ok)
                            Interlocked.Increment(ref mixed);
                        if (k < last)
                            Interlocked.Increment(ref backwards);
                        last = k;
                        Interlocked.Increment(ref reads);
                    }
                });
                reader.Start();
                readers.Add(reader);
            }
            var clock = Stopwatch.StartNew();
            foreach (string text in texts)
                t.Receive(text);
            double ms = clock.Elapsed.TotalMilliseconds;
            Volatile.Write(ref done, true);
            foreach (Thread reader in readers)
                reader.Join();
            Check(t.View(Es).Seq == Answers && t.MalformedAnswers == 0, "stress: the last of " + Answers + " answers is the view");
            Check(reads > 0 && mixed == 0, "stress: " + reads + " reads on 2 threads while swapping, " + mixed + " saw a mixed view");
            Check(backwards == 0, "stress: no reader saw an older view after a newer one");
            Console.WriteLine("stress: " + Answers + " answers parsed and swapped in "
                + ms.ToString("F0", CultureInfo.InvariantCulture) + " ms ("
                + (ms * 1000 / Answers).ToString("F1", CultureInfo.InvariantCulture) + " us each)");
        }
    }
}
