// OrderflowTransport.cs - the transport half of the orderflow NinjaTrader 8 bridge.
//
// Plain C# (.NET Framework 4.8 / mono), no NinjaTrader types: it compiles and runs on Linux,
// where it is tested (bridge/ninjatrader/build.sh, tests/integration/test_bridge.py).
// The wire protocol is docs/protocol.md (version 2; a version-1 server works too).
//
// Threading model (NinjaTrader matters here):
//   * NinjaTrader calls OnMarketDepth/OnMarketData/OnBarUpdate on its own worker threads. Those
//     threads only call the Add*/Enqueue* methods, which take one short lock and never wait on
//     the network.
//   * The transport runs one sender thread (connect, hello/welcome, resend, batches,
//     heartbeats, reconnect with backoff) and, per connection, one receiver thread.
//   * The receiver thread reads each ack and state answer into a new OrderflowView of its
//     instrument and publishes it by swapping one reference (View(instrument) reads it from
//     any thread without a lock; a published view never changes).
//   * Server events (ack, snapshot_request, error, ...) are raised on the receiver thread.
//     A NinjaScript handler must not touch NinjaScript state there: it marshals the work onto
//     NinjaTrader's thread with TriggerCustomEvent (see OrderflowStrategy.cs).
//
// Bounded memory, drop-oldest policy: sequenced batches wait in a buffer until the server
// acknowledges them (so they can be resent after a reconnect). When the buffer holds
// MaxBufferedBatches, the oldest batch is dropped and BatchesDropped is raised. The next batch
// the server sees then skips a sequence number; the server marks the ladder stale and sends a
// snapshot_request, which the strategy answers with a snapshot batch. Nothing ever blocks the
// producer.
//
// JSON is written by hand (invariant culture, doubles round-trip exact): NinjaTrader ships its
// own Newtonsoft.Json and referencing another version is a known source of load failures.
//
// C# subset: what both mono's mcs (-langversion:7.2) and NinjaTrader's compiler accept (no
// switch type patterns, no "case ... when", nothing from C# 8).

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Net.WebSockets;
using System.Text;
using System.Threading;

namespace Orderflow.Bridge
{
    /// <summary>Side of the ladder a depth event belongs to.</summary>
    public enum BookSide
    {
        Bid = 0,
        Ask = 1,
    }

    /// <summary>Same integer values as NinjaTrader.Cbi.Operation (Add=0, Update=1, Remove=2).</summary>
    public enum DepthOperation
    {
        Add = 0,
        Update = 1,
        Remove = 2,
    }

    /// <summary>One OnMarketDepth event, verbatim. T is ns since the Unix epoch, UTC.</summary>
    public struct DepthEvent
    {
        public long T;
        public BookSide Side;
        public DepthOperation Op;
        public int Position;
        public double Price;
        public long Size;
        public bool Reset;

        public DepthEvent(long t, BookSide side, DepthOperation op, int position, double price, long size, bool reset)
        {
            T = t;
            Side = side;
            Op = op;
            Position = position;
            Price = price;
            Size = size;
            Reset = reset;
        }
    }

    /// <summary>One OnMarketData Last event with the inside quote; NaN bid/ask = unknown (null).</summary>
    public struct TickEvent
    {
        public long T;
        public double Price;
        public long Size;
        public double Bid;
        public double Ask;

        public TickEvent(long t, double price, long size, double bid, double ask)
        {
            T = t;
            Price = price;
            Size = size;
            Bid = bid;
            Ask = ask;
        }
    }

    /// <summary>One OnBarUpdate of series Series (BarsInProgress); T is the bar's open time.</summary>
    public struct BarEvent
    {
        public int Series;
        public long T;
        public double Open;
        public double High;
        public double Low;
        public double Close;
        public long Volume;
        public bool Closed;
        /// <summary>NinjaTrader's name of the series' period ("1 Minute"); null or "": not sent.</summary>
        public string Period;

        public BarEvent(int series, long t, double open, double high, double low, double close, long volume, bool closed,
                        string period = null)
        {
            Period = period;
            Series = series;
            T = t;
            Open = open;
            High = high;
            Low = low;
            Close = close;
            Volume = volume;
            Closed = closed;
        }
    }

    /// <summary>
    /// One OnOrderUpdate, by value (the Order object may already show a later state). Enum
    /// values are NinjaTrader's names (OrderState.ToString(), ErrorCode.ToString()).
    /// </summary>
    public struct OrderEvent
    {
        public long T;
        public string Cid;
        public string State;
        public int Quantity;
        public int Filled;
        public double AvgFillPrice;
        public double LimitPrice;
        public double StopPrice;
        public string OrderId;
        public string Error;
        public string Comment;

        public OrderEvent(long t, string cid, string state, int quantity, int filled, double avgFillPrice,
            double limitPrice, double stopPrice, string orderId, string error, string comment)
        {
            T = t;
            Cid = cid;
            State = state;
            Quantity = quantity;
            Filled = filled;
            AvgFillPrice = avgFillPrice;
            LimitPrice = limitPrice;
            StopPrice = stopPrice;
            OrderId = orderId;
            Error = error;
            Comment = comment;
        }
    }

    /// <summary>One OnExecutionUpdate (a fill); MarketPosition is "Long" (bought) or "Short" (sold).</summary>
    public struct ExecutionEvent
    {
        public long T;
        public string Cid;
        public string ExecutionId;
        public double Price;
        public int Quantity;
        public string MarketPosition;
        public string OrderId;
        public double Commission;

        public ExecutionEvent(long t, string cid, string executionId, double price, int quantity,
            string marketPosition, string orderId, double commission)
        {
            T = t;
            Cid = cid;
            ExecutionId = executionId;
            Price = price;
            Quantity = quantity;
            MarketPosition = marketPosition;
            OrderId = orderId;
            Commission = commission;
        }
    }

    /// <summary>One OnPositionUpdate of the strategy's position in the batch's instrument.</summary>
    public struct PositionEvent
    {
        public long T;
        public string MarketPosition;
        public int Quantity;
        public double AveragePrice;
        public string Account;

        public PositionEvent(long t, string marketPosition, int quantity, double averagePrice, string account)
        {
            T = t;
            MarketPosition = marketPosition;
            Quantity = quantity;
            AveragePrice = averagePrice;
            Account = account;
        }
    }

    /// <summary>A sequenced batch of one instrument, kept until the server acknowledges it.</summary>
    public sealed class OutgoingBatch
    {
        public long Seq;
        public string Instrument;
        public bool Snapshot;
        public List<DepthEvent> Depth = new List<DepthEvent>();
        public List<TickEvent> Ticks = new List<TickEvent>();
        public List<BarEvent> Bars = new List<BarEvent>();
        public List<OrderEvent> Orders = new List<OrderEvent>();
        public List<ExecutionEvent> Executions = new List<ExecutionEvent>();
        public List<PositionEvent> Positions = new List<PositionEvent>();

        public int EventCount
        {
            get { return Depth.Count + Ticks.Count + Bars.Count + Orders.Count + Executions.Count + Positions.Count; }
        }
    }

    /// <summary>Time conversions to the protocol's unit: ns since the Unix epoch, UTC.</summary>
    public static class OrderflowTime
    {
        private static readonly long UnixEpochTicks = new DateTime(1970, 1, 1, 0, 0, 0, DateTimeKind.Utc).Ticks;

        /// <summary>
        /// ns UTC of a DateTime. A Utc or Local kind is honoured; an Unspecified one (what
        /// NinjaTrader hands out) is read in <paramref name="zone"/>, the time zone NinjaTrader
        /// runs in (NinjaTrader.Core.Globals.GeneralOptions.TimeZoneInfo). A local time that does
        /// not exist (spring-forward gap) is read with the zone's standard offset.
        /// </summary>
        public static long ToUnixNanos(DateTime time, TimeZoneInfo zone)
        {
            DateTime utc;
            if (time.Kind == DateTimeKind.Utc)
                utc = time;
            else if (time.Kind == DateTimeKind.Local)
                utc = time.ToUniversalTime();
            else if (zone == null || zone == TimeZoneInfo.Utc)
                utc = DateTime.SpecifyKind(time, DateTimeKind.Utc);
            else if (zone.IsInvalidTime(time))
                utc = DateTime.SpecifyKind(time - zone.BaseUtcOffset, DateTimeKind.Utc);
            else
                utc = TimeZoneInfo.ConvertTimeToUtc(time, zone);
            long ns = (utc.Ticks - UnixEpochTicks) * 100L;
            return ns < 0 ? 0 : ns;
        }

        public static long UtcNowNanos()
        {
            return (DateTime.UtcNow.Ticks - UnixEpochTicks) * 100L;
        }
    }

    /// <summary>Hand-written JSON for the client messages of protocol version 1.</summary>
    public static class OrderflowJson
    {
        public const int ProtocolVersion = 1;

        public static string Hello(string client, string token, string encoding)
        {
            return Hello(client, token, encoding, false);
        }

        /// <summary>hello; with <paramref name="report"/> the client promises a report after
        /// each welcome (the server's trading engine waits for it before any new order).</summary>
        public static string Hello(string client, string token, string encoding, bool report)
        {
            return Hello(client, token, encoding, report, 0);
        }

        /// <summary>hello, with the width (ticks) the client draws a cluster
        /// (<paramref name="clusterGranularity"/>, NinjaTrader's cluster increment): the clusters
        /// in the answers come grouped in bands that wide; 0: not sent (the server's own).</summary>
        public static string Hello(string client, string token, string encoding, bool report, int clusterGranularity)
        {
            var sb = new StringBuilder(128);
            sb.Append("{\"type\":\"hello\",\"protocol\":").Append(ProtocolVersion.ToString(CultureInfo.InvariantCulture));
            sb.Append(",\"client\":");
            AppendString(sb, client);
            if (!string.IsNullOrEmpty(token))
            {
                sb.Append(",\"token\":");
                AppendString(sb, token);
            }
            sb.Append(",\"encoding\":");
            AppendString(sb, string.IsNullOrEmpty(encoding) ? "json" : encoding);
            if (report)
                sb.Append(",\"report\":true");
            if (clusterGranularity > 0)
                sb.Append(",\"cluster_granularity\":").Append(clusterGranularity.ToString(CultureInfo.InvariantCulture));
            sb.Append('}');
            return sb.ToString();
        }

        public static string Heartbeat(long t)
        {
            return "{\"type\":\"heartbeat\",\"t\":" + t.ToString(CultureInfo.InvariantCulture) + "}";
        }

        /// <summary>Asks the server for the whole state of an instrument (protocol 2): answered by a
        /// "state" message, and the next ack carries clusters and profile in full.</summary>
        public static string StateRequest(string instrument)
        {
            var sb = new StringBuilder(64);
            sb.Append("{\"type\":\"state_request\",\"instrument\":");
            AppendString(sb, instrument ?? "");
            sb.Append('}');
            return sb.ToString();
        }

        public static string Bye(string reason)
        {
            var sb = new StringBuilder(64);
            sb.Append("{\"type\":\"bye\",\"reason\":");
            AppendString(sb, reason ?? "");
            sb.Append('}');
            return sb.ToString();
        }

        /// <summary>A batch with its depth events as a list of objects (rows).</summary>
        public static string Batch(OutgoingBatch batch)
        {
            return Batch(batch, false);
        }

        /// <summary>
        /// A batch; with <paramref name="packedDepth"/> its depth events go as packed columns
        /// (docs/protocol.md): t, pos, price and size as little-endian int64, int32, float64 and
        /// int64 arrays in base64, side and op one character per event, reset the indexes with
        /// IsReset. The server reads them as arrays without a Python object per event; every
        /// double goes bit for bit. A big-endian machine sends rows (NinjaTrader runs on x86/x64).
        /// </summary>
        public static string Batch(OutgoingBatch batch, bool packedDepth)
        {
            var sb = new StringBuilder(64 + batch.EventCount * 96);
            sb.Append("{\"type\":\"batch\",\"seq\":").Append(batch.Seq.ToString(CultureInfo.InvariantCulture));
            sb.Append(",\"instrument\":");
            AppendString(sb, batch.Instrument);
            sb.Append(",\"snapshot\":").Append(batch.Snapshot ? "true" : "false");

            bool packed = packedDepth && batch.Depth.Count > 0 && BitConverter.IsLittleEndian;
            if (packed)
            {
                sb.Append(",\"columns\":");
                AppendPackedDepth(sb, batch.Depth);
            }
            sb.Append(",\"depth\":[");
            for (int i = 0; i < (packed ? 0 : batch.Depth.Count); i++)
            {
                DepthEvent d = batch.Depth[i];
                if (i > 0)
                    sb.Append(',');
                sb.Append("{\"t\":").Append(d.T.ToString(CultureInfo.InvariantCulture));
                sb.Append(",\"side\":").Append(d.Side == BookSide.Ask ? "\"ask\"" : "\"bid\"");
                sb.Append(",\"op\":").Append(OperationName(d.Op));
                sb.Append(",\"pos\":").Append(d.Position.ToString(CultureInfo.InvariantCulture));
                sb.Append(",\"price\":");
                AppendDouble(sb, d.Price);
                sb.Append(",\"size\":").Append(d.Size.ToString(CultureInfo.InvariantCulture));
                sb.Append(",\"reset\":").Append(d.Reset ? "true" : "false");
                sb.Append('}');
            }

            sb.Append("],\"ticks\":[");
            for (int i = 0; i < batch.Ticks.Count; i++)
            {
                TickEvent k = batch.Ticks[i];
                if (i > 0)
                    sb.Append(',');
                sb.Append("{\"t\":").Append(k.T.ToString(CultureInfo.InvariantCulture));
                sb.Append(",\"price\":");
                AppendDouble(sb, k.Price);
                sb.Append(",\"size\":").Append(k.Size.ToString(CultureInfo.InvariantCulture));
                sb.Append(",\"bid\":");
                AppendDouble(sb, k.Bid);
                sb.Append(",\"ask\":");
                AppendDouble(sb, k.Ask);
                sb.Append('}');
            }

            sb.Append("],\"bars\":[");
            for (int i = 0; i < batch.Bars.Count; i++)
            {
                BarEvent b = batch.Bars[i];
                if (i > 0)
                    sb.Append(',');
                sb.Append("{\"series\":").Append(b.Series.ToString(CultureInfo.InvariantCulture));
                sb.Append(",\"t\":").Append(b.T.ToString(CultureInfo.InvariantCulture));
                sb.Append(",\"open\":");
                AppendDouble(sb, b.Open);
                sb.Append(",\"high\":");
                AppendDouble(sb, b.High);
                sb.Append(",\"low\":");
                AppendDouble(sb, b.Low);
                sb.Append(",\"close\":");
                AppendDouble(sb, b.Close);
                sb.Append(",\"volume\":").Append(b.Volume.ToString(CultureInfo.InvariantCulture));
                sb.Append(",\"closed\":").Append(b.Closed ? "true" : "false");
                if (!string.IsNullOrEmpty(b.Period))
                {
                    sb.Append(",\"period\":");
                    AppendString(sb, b.Period);
                }
                sb.Append('}');
            }
            sb.Append(']');

            // The order lists are optional in the protocol: written only when there are any.
            if (batch.Orders.Count > 0)
            {
                sb.Append(",\"orders\":[");
                for (int i = 0; i < batch.Orders.Count; i++)
                {
                    OrderEvent o = batch.Orders[i];
                    if (i > 0)
                        sb.Append(',');
                    sb.Append("{\"t\":").Append(o.T.ToString(CultureInfo.InvariantCulture));
                    sb.Append(",\"cid\":");
                    AppendString(sb, o.Cid);
                    sb.Append(",\"state\":");
                    AppendString(sb, o.State);
                    sb.Append(",\"quantity\":").Append(o.Quantity.ToString(CultureInfo.InvariantCulture));
                    sb.Append(",\"filled\":").Append(o.Filled.ToString(CultureInfo.InvariantCulture));
                    sb.Append(",\"avg_fill_price\":");
                    AppendDouble(sb, o.AvgFillPrice);
                    sb.Append(",\"limit_price\":");
                    AppendDouble(sb, o.LimitPrice);
                    sb.Append(",\"stop_price\":");
                    AppendDouble(sb, o.StopPrice);
                    sb.Append(",\"order_id\":");
                    AppendString(sb, o.OrderId ?? "");
                    sb.Append(",\"error\":");
                    AppendString(sb, string.IsNullOrEmpty(o.Error) ? "NoError" : o.Error);
                    sb.Append(",\"comment\":");
                    AppendString(sb, o.Comment ?? "");
                    sb.Append('}');
                }
                sb.Append(']');
            }
            if (batch.Executions.Count > 0)
            {
                sb.Append(",\"executions\":[");
                for (int i = 0; i < batch.Executions.Count; i++)
                {
                    ExecutionEvent x = batch.Executions[i];
                    if (i > 0)
                        sb.Append(',');
                    sb.Append("{\"t\":").Append(x.T.ToString(CultureInfo.InvariantCulture));
                    sb.Append(",\"cid\":");
                    AppendString(sb, x.Cid);
                    sb.Append(",\"execution_id\":");
                    AppendString(sb, x.ExecutionId);
                    sb.Append(",\"price\":");
                    AppendDouble(sb, x.Price);
                    sb.Append(",\"quantity\":").Append(x.Quantity.ToString(CultureInfo.InvariantCulture));
                    sb.Append(",\"market_position\":");
                    AppendString(sb, x.MarketPosition);
                    sb.Append(",\"order_id\":");
                    AppendString(sb, x.OrderId ?? "");
                    sb.Append(",\"commission\":");
                    AppendDouble(sb, x.Commission);
                    sb.Append('}');
                }
                sb.Append(']');
            }
            if (batch.Positions.Count > 0)
            {
                sb.Append(",\"positions\":[");
                for (int i = 0; i < batch.Positions.Count; i++)
                {
                    PositionEvent p = batch.Positions[i];
                    if (i > 0)
                        sb.Append(',');
                    sb.Append("{\"t\":").Append(p.T.ToString(CultureInfo.InvariantCulture));
                    sb.Append(",\"market_position\":");
                    AppendString(sb, p.MarketPosition);
                    sb.Append(",\"quantity\":").Append(p.Quantity.ToString(CultureInfo.InvariantCulture));
                    sb.Append(",\"average_price\":");
                    AppendDouble(sb, p.AveragePrice);
                    sb.Append(",\"account\":");
                    AppendString(sb, p.Account ?? "");
                    sb.Append('}');
                }
                sb.Append(']');
            }
            sb.Append('}');
            return sb.ToString();
        }

        /// <summary>The answer to a command: done (the NinjaScript call was made) or refused.</summary>
        /// <summary>report: NinjaTrader's whole picture (non-flat positions, working orders).</summary>
        public static string Report(long t, List<ReportPosition> positions, List<ReportOrder> orders)
        {
            var sb = new StringBuilder(256);
            sb.Append("{\"type\":\"report\",\"t\":").Append(t.ToString(CultureInfo.InvariantCulture));
            sb.Append(",\"positions\":[");
            for (int i = 0; i < positions.Count; i++)
            {
                ReportPosition p = positions[i];
                if (i > 0)
                    sb.Append(',');
                sb.Append("{\"instrument\":");
                AppendString(sb, p.Instrument);
                sb.Append(",\"market_position\":");
                AppendString(sb, p.MarketPosition);
                sb.Append(",\"quantity\":").Append(p.Quantity.ToString(CultureInfo.InvariantCulture));
                sb.Append(",\"average_price\":");
                AppendDouble(sb, p.AveragePrice);
                sb.Append(",\"account\":");
                AppendString(sb, p.Account ?? "");
                sb.Append('}');
            }
            sb.Append("],\"orders\":[");
            for (int i = 0; i < orders.Count; i++)
            {
                ReportOrder o = orders[i];
                if (i > 0)
                    sb.Append(',');
                sb.Append("{\"instrument\":");
                AppendString(sb, o.Instrument);
                sb.Append(",\"cid\":");
                AppendString(sb, o.Cid);
                sb.Append(",\"state\":");
                AppendString(sb, o.State);
                sb.Append(",\"quantity\":").Append(o.Quantity.ToString(CultureInfo.InvariantCulture));
                sb.Append(",\"filled\":").Append(o.Filled.ToString(CultureInfo.InvariantCulture));
                sb.Append(",\"action\":");
                AppendString(sb, o.Action);
                sb.Append(",\"order_type\":");
                AppendString(sb, o.OrderType);
                sb.Append(",\"limit_price\":");
                AppendDouble(sb, o.LimitPrice);
                sb.Append(",\"stop_price\":");
                AppendDouble(sb, o.StopPrice);
                sb.Append(",\"oco\":");
                AppendString(sb, o.Oco ?? "");
                sb.Append(",\"order_id\":");
                AppendString(sb, o.OrderId ?? "");
                sb.Append(",\"account\":");
                AppendString(sb, o.Account ?? "");
                sb.Append('}');
            }
            sb.Append("]}");
            return sb.ToString();
        }

        public static string CommandAck(string cid, long commandSeq, string status, string reason)
        {
            var sb = new StringBuilder(96);
            sb.Append("{\"type\":\"command_ack\",\"cid\":");
            AppendString(sb, cid);
            sb.Append(",\"command_seq\":").Append(commandSeq.ToString(CultureInfo.InvariantCulture));
            sb.Append(",\"status\":");
            AppendString(sb, status);
            sb.Append(",\"reason\":");
            AppendString(sb, reason ?? "");
            sb.Append('}');
            return sb.ToString();
        }

        /// <summary>The depth columns object: the fixed-size values copied as they lie in memory
        /// (Buffer.BlockCopy; little-endian) and base64-encoded.</summary>
        public static void AppendPackedDepth(StringBuilder sb, IList<DepthEvent> depth)
        {
            int n = depth.Count;
            var t = new long[n];
            var pos = new int[n];
            var price = new double[n];
            var size = new long[n];
            var side = new char[n];
            var op = new char[n];
            var resets = new StringBuilder();
            for (int i = 0; i < n; i++)
            {
                DepthEvent d = depth[i];
                t[i] = d.T;
                pos[i] = d.Position;
                price[i] = d.Price;
                size[i] = d.Size;
                side[i] = d.Side == BookSide.Ask ? 'a' : 'b';
                op[i] = d.Op == DepthOperation.Add ? 'a' : d.Op == DepthOperation.Remove ? 'r' : 'u';
                if (d.Reset)
                {
                    if (resets.Length > 0)
                        resets.Append(',');
                    resets.Append(i.ToString(CultureInfo.InvariantCulture));
                }
            }
            sb.Append("{\"t\":\"").Append(Packed(t, 8 * n));
            sb.Append("\",\"side\":\"").Append(side).Append("\",\"op\":\"").Append(op);
            sb.Append("\",\"pos\":\"").Append(Packed(pos, 4 * n));
            sb.Append("\",\"price\":\"").Append(Packed(price, 8 * n));
            sb.Append("\",\"size\":\"").Append(Packed(size, 8 * n));
            sb.Append("\",\"reset\":[").Append(resets.ToString()).Append("]}");
        }

        /// <summary>An array of fixed-size values as base64 of its bytes.</summary>
        public static string Packed(Array values, int bytes)
        {
            var buffer = new byte[bytes];
            Buffer.BlockCopy(values, 0, buffer, 0, bytes);
            return Convert.ToBase64String(buffer);
        }

        private static string OperationName(DepthOperation op)
        {
            if (op == DepthOperation.Add)
                return "\"add\"";
            if (op == DepthOperation.Remove)
                return "\"remove\"";
            return "\"update\"";
        }

        /// <summary>
        /// A double that parses back to exactly the same value. "R" has known bugs on .NET
        /// Framework for some values, so the result is parsed back and G17 (always exact) is
        /// used when it does not match. Integral values get ".0" so the JSON is plainly a float.
        /// NaN and infinities are not JSON: they are written as null (the server refuses a null
        /// where a number is required, naming the field, and accepts it for a tick's bid/ask).
        /// </summary>
        public static void AppendDouble(StringBuilder sb, double value)
        {
            if (double.IsNaN(value) || double.IsInfinity(value))
            {
                sb.Append("null");
                return;
            }
            string s = value.ToString("R", CultureInfo.InvariantCulture);
            double back;
            if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out back) || back != value)
                s = value.ToString("G17", CultureInfo.InvariantCulture);
            sb.Append(s);
            if (s.IndexOf('.') < 0 && s.IndexOf('E') < 0 && s.IndexOf('e') < 0)
                sb.Append(".0");
        }

        public static void AppendString(StringBuilder sb, string value)
        {
            sb.Append('"');
            if (value != null)
            {
                for (int i = 0; i < value.Length; i++)
                {
                    char c = value[i];
                    if (c == '"')
                        sb.Append("\\\"");
                    else if (c == '\\')
                        sb.Append("\\\\");
                    else if (c == '\n')
                        sb.Append("\\n");
                    else if (c == '\r')
                        sb.Append("\\r");
                    else if (c == '\t')
                        sb.Append("\\t");
                    else if (c < ' ' || c > '~')
                        // Non-ASCII as \uXXXX too (UTF-16 units, so surrogate pairs stay pairs):
                        // the JSON is plain ASCII whatever a console or log does with encodings.
                        sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else
                        sb.Append(c);
                }
            }
            sb.Append('"');
        }

        /// <summary>
        /// A minimal JSON reader for server messages: objects become Dictionary&lt;string, object&gt;,
        /// arrays List&lt;object&gt;, numbers double (or long when integral), plus string, bool, null.
        /// Throws FormatException on malformed input.
        /// </summary>
        public static object Parse(string text)
        {
            int i = 0;
            object value = ParseValue(text, ref i);
            SkipWhite(text, ref i);
            if (i != text.Length)
                throw new FormatException("trailing characters at " + i);
            return value;
        }

        private static void SkipWhite(string s, ref int i)
        {
            while (i < s.Length && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
                i++;
        }

        private static object ParseValue(string s, ref int i)
        {
            SkipWhite(s, ref i);
            if (i >= s.Length)
                throw new FormatException("unexpected end of JSON");
            char c = s[i];
            if (c == '{')
            {
                var obj = new Dictionary<string, object>();
                i++;
                SkipWhite(s, ref i);
                if (i < s.Length && s[i] == '}')
                {
                    i++;
                    return obj;
                }
                while (true)
                {
                    SkipWhite(s, ref i);
                    if (i >= s.Length || s[i] != '"')
                        throw new FormatException("expected a key at " + i);
                    string key = ParseString(s, ref i);
                    SkipWhite(s, ref i);
                    if (i >= s.Length || s[i] != ':')
                        throw new FormatException("expected ':' at " + i);
                    i++;
                    obj[key] = ParseValue(s, ref i);
                    SkipWhite(s, ref i);
                    if (i < s.Length && s[i] == ',')
                    {
                        i++;
                        continue;
                    }
                    if (i < s.Length && s[i] == '}')
                    {
                        i++;
                        return obj;
                    }
                    throw new FormatException("expected ',' or '}' at " + i);
                }
            }
            if (c == '[')
            {
                var list = new List<object>();
                i++;
                SkipWhite(s, ref i);
                if (i < s.Length && s[i] == ']')
                {
                    i++;
                    return list;
                }
                while (true)
                {
                    list.Add(ParseValue(s, ref i));
                    SkipWhite(s, ref i);
                    if (i < s.Length && s[i] == ',')
                    {
                        i++;
                        continue;
                    }
                    if (i < s.Length && s[i] == ']')
                    {
                        i++;
                        return list;
                    }
                    throw new FormatException("expected ',' or ']' at " + i);
                }
            }
            if (c == '"')
                return ParseString(s, ref i);
            if (string.CompareOrdinal(s, i, "true", 0, 4) == 0)
            {
                i += 4;
                return true;
            }
            if (string.CompareOrdinal(s, i, "false", 0, 5) == 0)
            {
                i += 5;
                return false;
            }
            if (string.CompareOrdinal(s, i, "null", 0, 4) == 0)
            {
                i += 4;
                return null;
            }
            int start = i;
            while (i < s.Length && "+-0123456789.eE".IndexOf(s[i]) >= 0)
                i++;
            if (i == start)
                throw new FormatException("unexpected character at " + i);
            string num = s.Substring(start, i - start);
            long l;
            if (num.IndexOf('.') < 0 && num.IndexOf('e') < 0 && num.IndexOf('E') < 0
                && long.TryParse(num, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out l))
                return l;
            return double.Parse(num, NumberStyles.Float, CultureInfo.InvariantCulture);
        }

        private static string ParseString(string s, ref int i)
        {
            var sb = new StringBuilder();
            i++; // opening quote
            while (i < s.Length)
            {
                char c = s[i++];
                if (c == '"')
                    return sb.ToString();
                if (c != '\\')
                {
                    sb.Append(c);
                    continue;
                }
                if (i >= s.Length)
                    break;
                char e = s[i++];
                if (e == 'n')
                    sb.Append('\n');
                else if (e == 'r')
                    sb.Append('\r');
                else if (e == 't')
                    sb.Append('\t');
                else if (e == 'b')
                    sb.Append('\b');
                else if (e == 'f')
                    sb.Append('\f');
                else if (e == 'u' && i + 4 <= s.Length)
                {
                    sb.Append((char)int.Parse(s.Substring(i, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                    i += 4;
                }
                else
                    sb.Append(e); // \" \\ \/
            }
            throw new FormatException("unterminated string");
        }
    }

    /// <summary>
    /// Builds the next OrderflowView of an instrument from an "ack" or "state" answer (protocol
    /// version 2, docs/protocol.md) and the previous view: clusters and profile "full" replace
    /// the previous ones, "unchanged" keep them; bar_metrics replace the entries of the series
    /// they name and keep the others; metrics and signals are the answer's (a state answer has
    /// no signals). Absent or null numbers are NaN (counts: 0, Orders -1, Delta long.MinValue).
    /// A version-1 answer (no clusters/profile/bar_metrics) keeps the previous ones.
    /// Throws FormatException for a malformed answer: the caller keeps the previous view.
    /// </summary>
    public static class OrderflowViewReader
    {
        public static OrderflowView Next(OrderflowView previous, string instrument, Dictionary<string, object> answer, out bool missed)
        {
            if (previous == null)
                previous = OrderflowView.Empty;
            if (answer == null)
                throw new FormatException("an answer must be a JSON object");
            missed = false;
            string type = ServerMessage.GetString(answer, "type");
            if (type != "ack" && type != "state")
                throw new FormatException("not an ack or state answer: " + type);
            var v = new OrderflowView();
            v.Instrument = instrument ?? "";
            v.Seq = type == "ack" ? ServerMessage.GetLong(answer, "seq") : previous.Seq;
            v.Stale = type == "ack" ? ServerMessage.GetBool(answer, "stale") : previous.Stale;

            Dictionary<string, object> metrics = Obj(answer, "metrics");
            v.Metrics = metrics == null ? new MetricsView() : Metrics(metrics);

            var signals = new List<SignalView>();
            List<object> list = List(answer, "signals");
            if (list != null)
            {
                foreach (object o in list)
                    signals.Add(Signal(AsObj(o, "signals")));
            }
            v.Signals = signals.AsReadOnly();

            v.ActiveClusters = previous.ActiveClusters;
            v.ClustersVersion = previous.ClustersVersion;
            v.ClustersAsOfNs = previous.ClustersAsOfNs;
            Dictionary<string, object> clusters = Obj(answer, "clusters");
            if (clusters != null)
            {
                string state = ServerMessage.GetString(clusters, "state");
                long version = Int(clusters, "version", -1);
                v.ClustersAsOfNs = Int(clusters, "as_of_ns", 0);
                if (state == "full")
                {
                    List<object> items = List(clusters, "items");
                    if (items == null)
                        throw new FormatException("clusters: full without items");
                    var byId = new Dictionary<string, ClusterView>();
                    foreach (object o in items)
                    {
                        ClusterView c = Cluster(AsObj(o, "clusters.items"));
                        byId[c.Id] = c;
                    }
                    v.ActiveClusters = byId;
                    v.ClustersVersion = version;
                }
                else if (state == "unchanged")
                    missed |= version != previous.ClustersVersion;
                else
                    throw new FormatException("clusters.state: " + state);
            }

            v.Profile = previous.Profile;
            v.ProfileVersion = previous.ProfileVersion;
            Dictionary<string, object> profile = Obj(answer, "profile");
            if (profile != null)
            {
                string state = ServerMessage.GetString(profile, "state");
                long version = Int(profile, "version", -1);
                if (state == "full")
                {
                    v.Profile = Profile(profile);
                    v.ProfileVersion = version;
                }
                else if (state == "unchanged")
                    missed |= version != previous.ProfileVersion;
                else
                    throw new FormatException("profile.state: " + state);
            }

            v.BarMetrics = previous.BarMetrics;
            List<object> bars = List(answer, "bar_metrics");
            if (bars != null && bars.Count > 0)
            {
                var bySeries = new Dictionary<int, BarMetricsView>();
                foreach (KeyValuePair<int, BarMetricsView> kv in previous.BarMetrics)
                    bySeries[kv.Key] = kv.Value;
                foreach (object o in bars)
                {
                    BarMetricsView b = Bar(AsObj(o, "bar_metrics"));
                    bySeries[b.Series] = b;
                }
                v.BarMetrics = bySeries;
            }
            return v;
        }

        private static MetricsView Metrics(Dictionary<string, object> o)
        {
            var m = new MetricsView();
            m.Spread = Num(o, "spread");
            m.Mid = Num(o, "mid");
            m.Microprice = Num(o, "microprice");
            m.Imbalance = Num(o, "imbalance");
            m.Ofi = Num(o, "ofi");
            m.OfiWindow = Num(o, "ofi_window");
            m.CumulativeDelta = Int(o, "cumulative_delta", 0);
            m.Vwap = Num(o, "vwap");
            m.Momentum = Num(o, "momentum");
            var ratios = new Dictionary<int, double>();
            List<object> list = List(o, "bid_ask_ratio");
            if (list != null)
            {
                foreach (object item in list)
                {
                    Dictionary<string, object> r = AsObj(item, "bid_ask_ratio");
                    long levels = Int(r, "levels", -1);
                    if (levels <= 0 || levels > int.MaxValue)
                        throw new FormatException("bid_ask_ratio.levels: " + levels);
                    ratios[(int)levels] = Num(r, "ratio");
                }
            }
            m.BidAskRatio = ratios;
            var bands = new List<VwapBand>();
            List<object> bandList = List(o, "vwap_bands");
            if (bandList != null)
            {
                foreach (object item in bandList)
                {
                    Dictionary<string, object> b = AsObj(item, "vwap_bands");
                    double k = Num(b, "k");
                    if (double.IsNaN(k) || k <= 0)
                        throw new FormatException("vwap_bands.k: " + k);
                    bands.Add(new VwapBand { K = k, Upper = Num(b, "upper"), Lower = Num(b, "lower") });
                }
            }
            m.VwapBands = bands;
            return m;
        }

        private static SignalView Signal(Dictionary<string, object> o)
        {
            var s = new SignalView();
            s.Kind = Str(o, "detector");
            if (s.Kind.Length == 0)
                s.Kind = Str(o, "kind");
            s.Direction = (int)Int(o, "direction", 0);
            s.Score = Num(o, "score");
            s.Price = Num(o, "price");
            s.TsNs = Int(o, "ts_event", 0);
            return s;
        }

        private static ClusterView Cluster(Dictionary<string, object> o)
        {
            var c = new ClusterView();
            c.Id = Str(o, "id");
            if (c.Id.Length == 0)
                throw new FormatException("cluster without an id");
            c.Kind = Str(o, "kind");
            c.Low = Num(o, "low");
            c.High = Num(o, "high");
            c.Size = Int(o, "size", 0);
            c.Side = Str(o, "side");
            c.Strength = Num(o, "strength");
            c.Orders = Int(o, "orders", -1);
            c.FirstSeenNs = Int(o, "first_seen_ns", 0);
            c.LastSeenNs = Int(o, "last_seen_ns", 0);
            return c;
        }

        private static ProfileView Profile(Dictionary<string, object> o)
        {
            var p = new ProfileView();
            p.Poc = Num(o, "poc");
            p.ValueAreaHigh = Num(o, "vah");
            p.ValueAreaLow = Num(o, "val");
            p.Hvn = Prices(o, "hvn");
            p.Lvn = Prices(o, "lvn");
            p.Volume = Int(o, "volume", 0);
            return p;
        }

        private static BarMetricsView Bar(Dictionary<string, object> o)
        {
            var b = new BarMetricsView();
            long series = Int(o, "series", -1);
            if (series < 0 || series > int.MaxValue)
                throw new FormatException("bar_metrics.series: " + series);
            b.Series = (int)series;
            b.Period = Str(o, "period");
            b.TsNs = Int(o, "ts_ns", 0);
            b.Open = Num(o, "open");
            b.High = Num(o, "high");
            b.Low = Num(o, "low");
            b.Close = Num(o, "close");
            b.Volume = Int(o, "volume", 0);
            b.Range = Num(o, "range");
            b.Body = Num(o, "body");
            b.RelativeVolume = Num(o, "relative_volume");
            b.Atr = Num(o, "atr");
            b.Delta = Int(o, "delta", long.MinValue);
            b.Imbalance = Num(o, "imbalance");
            return b;
        }

        private static double[] Prices(Dictionary<string, object> o, string key)
        {
            List<object> list = List(o, key);
            if (list == null)
                return new double[0];
            var prices = new double[list.Count];
            for (int i = 0; i < list.Count; i++)
                prices[i] = NumberOf(list[i], key);
            return prices;
        }

        // Strict readers: absent or null gives the default; a value of the wrong type is malformed.
        private static Dictionary<string, object> Obj(Dictionary<string, object> o, string key)
        {
            object v;
            if (!o.TryGetValue(key, out v) || v == null)
                return null;
            return AsObj(v, key);
        }

        private static Dictionary<string, object> AsObj(object v, string what)
        {
            var d = v as Dictionary<string, object>;
            if (d == null)
                throw new FormatException(what + ": not an object");
            return d;
        }

        private static List<object> List(Dictionary<string, object> o, string key)
        {
            object v;
            if (!o.TryGetValue(key, out v) || v == null)
                return null;
            var list = v as List<object>;
            if (list == null)
                throw new FormatException(key + ": not a list");
            return list;
        }

        private static string Str(Dictionary<string, object> o, string key)
        {
            object v;
            if (!o.TryGetValue(key, out v) || v == null)
                return "";
            var s = v as string;
            if (s == null)
                throw new FormatException(key + ": not a string");
            return s;
        }

        private static double Num(Dictionary<string, object> o, string key)
        {
            object v;
            if (!o.TryGetValue(key, out v) || v == null)
                return double.NaN;
            return NumberOf(v, key);
        }

        private static double NumberOf(object v, string key)
        {
            if (v is double)
                return (double)v;
            if (v is long)
                return (long)v;
            throw new FormatException(key + ": not a number");
        }

        private static long Int(Dictionary<string, object> o, string key, long absent)
        {
            object v;
            if (!o.TryGetValue(key, out v) || v == null)
                return absent;
            if (v is long)
                return (long)v;
            // 796.0 is 796 (a writer may print integral floats so); 796.5 is no count
            if (v is double && (double)v == Math.Floor((double)v) && Math.Abs((double)v) < 9.2e18)
                return (long)(double)v;
            throw new FormatException(key + ": not an integer");
        }
    }

    /// <summary>
    /// A server message, read minimally: the fields the bridge acts on. Raw keeps the text.
    /// </summary>
    public sealed class ServerMessage
    {
        public string Type = "";
        public string Raw = "";
        public long Seq = -1;          // ack, error (-1: absent)
        public string Instrument = ""; // ack, snapshot_request
        public bool Duplicate;         // ack
        public bool Stale;             // ack
        public string Reason = "";     // snapshot_request, error
        public long ExpectedSeq = -1;  // snapshot_request
        public long GotSeq = -1;       // snapshot_request
        public string Field = "";      // error
        public string Code = "";       // error
        public long LastSeq = -1;      // welcome
        public string Server = "";     // welcome
        public string Session = "";    // welcome
        public bool HistoricalOnly;    // welcome: flags.historical_only (no live orders)
        public long Protocol = -1;     // welcome: the server's protocol version
        public OrderCommand Command;   // command (null for any other type)
        /// <summary>The whole message as read (ack and state answers are built into an OrderflowView from it).</summary>
        public Dictionary<string, object> Fields = new Dictionary<string, object>();

        public static ServerMessage Parse(string text)
        {
            var obj = OrderflowJson.Parse(text) as Dictionary<string, object>;
            if (obj == null)
                throw new FormatException("a server message must be a JSON object");
            var m = new ServerMessage();
            m.Raw = text;
            m.Fields = obj;
            m.Type = GetString(obj, "type");
            m.Seq = GetLong(obj, "seq");
            m.Instrument = GetString(obj, "instrument");
            m.Duplicate = GetBool(obj, "duplicate");
            m.Stale = GetBool(obj, "stale");
            m.Reason = GetString(obj, "reason");
            m.ExpectedSeq = GetLong(obj, "expected_seq");
            m.GotSeq = GetLong(obj, "got_seq");
            m.Field = GetString(obj, "field");
            m.Code = GetString(obj, "code");
            m.LastSeq = GetLong(obj, "last_seq");
            m.Server = GetString(obj, "server");
            m.Session = GetString(obj, "session");
            m.Protocol = GetLong(obj, "protocol");
            object flags;
            if (obj.TryGetValue("flags", out flags) && flags is Dictionary<string, object>)
                m.HistoricalOnly = GetBool((Dictionary<string, object>)flags, "historical_only");
            if (m.Type == "command")
                m.Command = OrderCommand.From(obj);
            return m;
        }

        internal static string GetString(Dictionary<string, object> obj, string key)
        {
            object v;
            if (obj.TryGetValue(key, out v) && v is string)
                return (string)v;
            return "";
        }

        internal static long GetLong(Dictionary<string, object> obj, string key)
        {
            object v;
            if (!obj.TryGetValue(key, out v) || v == null)
                return -1;
            if (v is long)
                return (long)v;
            if (v is double)
                return (long)(double)v;
            return -1;
        }

        internal static bool GetBool(Dictionary<string, object> obj, string key)
        {
            object v;
            return obj.TryGetValue(key, out v) && v is bool && (bool)v;
        }

        /// <summary>A number (integral or not); NaN when absent, null or not a number.</summary>
        internal static double GetDouble(Dictionary<string, object> obj, string key)
        {
            object v;
            if (!obj.TryGetValue(key, out v) || v == null)
                return double.NaN;
            if (v is double)
                return (double)v;
            if (v is long)
                return (long)v;
            return double.NaN;
        }
    }

    /// <summary>
    /// A server command (protocol "command"): an unmanaged order call for the strategy to make.
    /// Op is submit, change or cancel; Cid is our client id (the order's signalName). Action and
    /// OrderType are NinjaTrader's enum names ("" when absent). Unused prices are 0.
    /// Validate() checks what the strategy needs before any NinjaScript call.
    /// </summary>
    public sealed class OrderCommand
    {
        public long CommandSeq = -1;
        public string Op = "";
        public string Cid = "";
        public string Instrument = "";
        public string Action = "";
        public string OrderType = "";
        public long Quantity;
        public double LimitPrice;
        public double StopPrice;
        public string Oco = "";
        public long Series;
        public long T;
        /// <summary>Why the server sends it (an exit's reason, e.g. "absorption_against absorption 19237"); "" if none.</summary>
        public string Reason = "";
        /// <summary>Set by the CommandLedger: which server session the command belongs to.</summary>
        public int Generation;

        public static OrderCommand From(Dictionary<string, object> obj)
        {
            var c = new OrderCommand();
            c.CommandSeq = ServerMessage.GetLong(obj, "command_seq");
            c.Op = ServerMessage.GetString(obj, "op");
            c.Cid = ServerMessage.GetString(obj, "cid");
            c.Instrument = ServerMessage.GetString(obj, "instrument");
            c.Action = ServerMessage.GetString(obj, "action");
            c.OrderType = ServerMessage.GetString(obj, "order_type");
            long q = ServerMessage.GetLong(obj, "quantity");
            c.Quantity = q < 0 ? 0 : q;
            c.LimitPrice = Price(obj, "limit_price");
            c.StopPrice = Price(obj, "stop_price");
            c.Oco = ServerMessage.GetString(obj, "oco");
            c.Series = ServerMessage.GetLong(obj, "series");
            if (c.Series < 0 && !obj.ContainsKey("series"))
                c.Series = 0;
            c.T = ServerMessage.GetLong(obj, "t");
            c.Reason = ServerMessage.GetString(obj, "reason") ?? "";
            return c;
        }

        private static double Price(Dictionary<string, object> obj, string key)
        {
            // Absent = 0 (the protocol's default); present but not a number = NaN (refused).
            return obj.ContainsKey(key) ? ServerMessage.GetDouble(obj, key) : 0.0;
        }

        /// <summary>A cid as the protocol allows it: 1..50 characters of [A-Za-z0-9_.:-].</summary>
        public static bool IsValidCid(string cid)
        {
            if (string.IsNullOrEmpty(cid) || cid.Length > 50)
                return false;
            for (int i = 0; i < cid.Length; i++)
            {
                char ch = cid[i];
                bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')
                    || ch == '_' || ch == '.' || ch == ':' || ch == '-';
                if (!ok)
                    return false;
            }
            return true;
        }

        /// <summary>Whether an answer can be sent at all (a command_ack needs both).</summary>
        public bool CanBeAnswered
        {
            get { return CommandSeq > 0 && IsValidCid(Cid); }
        }

        /// <summary>null when the fields make a valid command, else why not ("field: reason").</summary>
        public string Validate()
        {
            if (CommandSeq <= 0)
                return "command_seq: missing or not positive";
            if (!IsValidCid(Cid))
                return "cid: 1 to 50 characters of A-Z a-z 0-9 _ . : - required";
            if (Op != "submit" && Op != "change" && Op != "cancel")
                return "op: '" + Op + "' is not submit, change or cancel";
            if (string.IsNullOrEmpty(Instrument))
                return "instrument: missing";
            if (Series < 0 || Series > 64)
                return "series: must be 0..64";
            if (double.IsNaN(LimitPrice) || double.IsInfinity(LimitPrice) || LimitPrice < 0)
                return "limit_price: must be a number >= 0";
            if (double.IsNaN(StopPrice) || double.IsInfinity(StopPrice) || StopPrice < 0)
                return "stop_price: must be a number >= 0";
            if (Quantity > 100000)
                return "quantity: more than 100000";
            if (Op == "cancel")
                return null;
            if (Quantity <= 0)
                return "quantity: must be positive to " + Op;
            if (Op == "change")
                return null;
            if (Action != "Buy" && Action != "Sell" && Action != "SellShort" && Action != "BuyToCover")
                return "action: '" + Action + "' is not Buy, Sell, SellShort or BuyToCover";
            if (OrderType != "Market" && OrderType != "Limit" && OrderType != "StopMarket"
                && OrderType != "StopLimit" && OrderType != "MIT")
                return "order_type: '" + OrderType + "' is not Market, Limit, StopMarket, StopLimit or MIT";
            if ((OrderType == "Limit" || OrderType == "StopLimit") && LimitPrice <= 0)
                return "limit_price: required for " + OrderType;
            if ((OrderType == "StopMarket" || OrderType == "StopLimit" || OrderType == "MIT") && StopPrice <= 0)
                return "stop_price: required for " + OrderType;
            if (Oco != null && Oco.Length > 50)
                return "oco: more than 50 characters";
            return null;
        }
    }

    /// <summary>What the ledger says to do with a command that just arrived.</summary>
    public enum CommandDisposition
    {
        /// <summary>New: execute it once, then Complete it.</summary>
        Execute = 0,
        /// <summary>Already queued for execution (a resend overtook it): its answer follows.</summary>
        InFlight = 1,
        /// <summary>Already answered: send the remembered answer again, never execute.</summary>
        Answered = 2,
    }

    /// <summary>
    /// Remembers which command_seq this bridge has executed (or refused), so a command the
    /// server sends again after a reconnect (its ack was lost) is acknowledged again and never
    /// executed twice. Thread-safe. Bounded: the newest Capacity answers are kept; a command
    /// at or below the highest forgotten command_seq is never executed (it is refused, saying
    /// its answer is no longer known). A new server session (the server restarted and numbers
    /// its commands from 1 again) starts a new generation: Reset.
    /// </summary>
    public sealed class CommandLedger
    {
        private sealed class Entry
        {
            public string Cid;
            public bool Done;
            public string Status;
            public string Reason;
        }

        private readonly object _gate = new object();
        private readonly Dictionary<long, Entry> _entries = new Dictionary<long, Entry>();
        private readonly Queue<long> _order = new Queue<long>();
        private long _forgottenUpTo;
        private int _generation = 1;

        public readonly int Capacity;

        public CommandLedger(int capacity)
        {
            Capacity = Math.Max(1, capacity);
        }

        public int Count
        {
            get { lock (_gate) return _entries.Count; }
        }

        public int Generation
        {
            get { lock (_gate) return _generation; }
        }

        /// <summary>
        /// Registers an arriving command. Execute: the caller executes it and calls Complete.
        /// Answered: status/reason hold the answer to send again. InFlight: nothing to do.
        /// </summary>
        public CommandDisposition Begin(OrderCommand c, out string status, out string reason)
        {
            status = "";
            reason = "";
            lock (_gate)
            {
                c.Generation = _generation;
                Entry e;
                if (_entries.TryGetValue(c.CommandSeq, out e))
                {
                    if (e.Cid != c.Cid)
                    {
                        status = "refused";
                        reason = "command_seq " + c.CommandSeq + " was already used for cid " + e.Cid + ": not executed";
                        return CommandDisposition.Answered;
                    }
                    if (!e.Done)
                        return CommandDisposition.InFlight;
                    status = e.Status;
                    reason = e.Reason;
                    return CommandDisposition.Answered;
                }
                if (c.CommandSeq <= _forgottenUpTo)
                {
                    status = "refused";
                    reason = "command_seq " + c.CommandSeq + " is older than the last " + Capacity
                        + " commands this bridge remembers: not executed again";
                    return CommandDisposition.Answered;
                }
                _entries[c.CommandSeq] = new Entry { Cid = c.Cid };
                _order.Enqueue(c.CommandSeq);
                while (_order.Count > Capacity)
                {
                    long old = _order.Dequeue();
                    _entries.Remove(old);
                    if (old > _forgottenUpTo)
                        _forgottenUpTo = old;
                }
                return CommandDisposition.Execute;
            }
        }

        /// <summary>
        /// Records the answer of an executed (or refused) command. False when the command
        /// belongs to an earlier server session (Reset since): its answer is not sent.
        /// </summary>
        public bool Complete(OrderCommand c, string status, string reason)
        {
            lock (_gate)
            {
                if (c.Generation != _generation)
                    return false;
                Entry e;
                if (!_entries.TryGetValue(c.CommandSeq, out e))
                {
                    // Evicted while executing (more than Capacity commands in flight): keep it.
                    e = new Entry { Cid = c.Cid };
                    _entries[c.CommandSeq] = e;
                    _order.Enqueue(c.CommandSeq);
                }
                e.Done = true;
                e.Status = status;
                e.Reason = reason ?? "";
                return true;
            }
        }

        /// <summary>A new server session: its command_seq numbers start again from 1.</summary>
        public void Reset()
        {
            lock (_gate)
            {
                _entries.Clear();
                _order.Clear();
                _forgottenUpTo = 0;
                _generation++;
            }
        }
    }

    /// <summary>
    /// Thread-safe batching and sequencing, independent of the network.
    ///
    /// Events of each instrument collect in a pending batch. A pending batch is sealed (given the
    /// next sequence number, 1, 2, 3, ...) when it holds MaxBatchEvents events, or when its oldest
    /// event is MaxBatchDelayMs old (FlushDue, called by the sender thread), or by FlushAll.
    /// Sealed batches stay buffered until acknowledged; at most MaxBufferedBatches are kept
    /// (drop-oldest, see the file header).
    /// </summary>
    public sealed class BatchQueue
    {
        private sealed class Pending
        {
            public OutgoingBatch Batch;
            public long FirstEventMs;
        }

        private readonly object _gate = new object();
        private readonly Dictionary<string, Pending> _pending = new Dictionary<string, Pending>();
        private readonly List<string> _pendingOrder = new List<string>(); // oldest first
        private readonly List<OutgoingBatch> _buffer = new List<OutgoingBatch>(); // sealed, by seq
        private readonly Dictionary<string, OutgoingBatch> _lastSnapshot = new Dictionary<string, OutgoingBatch>();
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private long _nextSeq = 1;
        private long _lastSentSeq;
        private long _droppedBatches;

        public readonly int MaxBatchEvents;
        public readonly int MaxBatchDelayMs;
        public readonly int MaxBufferedBatches;

        /// <summary>Set whenever a batch is sealed or a pending one starts: the sender thread waits on it.</summary>
        public readonly AutoResetEvent BatchReady = new AutoResetEvent(false);

        /// <summary>Raised (outside the lock) with the number of batches dropped by an overflow.</summary>
        public event Action<long> BatchesDropped;

        public BatchQueue(int maxBatchEvents, int maxBatchDelayMs, int maxBufferedBatches)
        {
            MaxBatchEvents = Math.Max(1, maxBatchEvents);
            MaxBatchDelayMs = Math.Max(0, maxBatchDelayMs);
            MaxBufferedBatches = Math.Max(1, maxBufferedBatches);
        }

        public long NextSeq
        {
            get { lock (_gate) return _nextSeq; }
        }

        public long LastSentSeq
        {
            get { lock (_gate) return _lastSentSeq; }
        }

        public long DroppedBatches
        {
            get { lock (_gate) return _droppedBatches; }
        }

        /// <summary>Sealed batches not yet acknowledged (sent or not).</summary>
        public int BufferedCount
        {
            get { lock (_gate) return _buffer.Count; }
        }

        public int PendingEventCount
        {
            get
            {
                lock (_gate)
                {
                    int n = 0;
                    foreach (var p in _pending.Values)
                        n += p.Batch.EventCount;
                    return n;
                }
            }
        }

        public void AddDepth(string instrument, DepthEvent e)
        {
            Add(instrument, b => b.Depth.Add(e));
        }

        public void AddTick(string instrument, TickEvent e)
        {
            Add(instrument, b => b.Ticks.Add(e));
        }

        public void AddBar(string instrument, BarEvent e)
        {
            Add(instrument, b => b.Bars.Add(e));
        }

        // Order updates, executions and position updates go into one batch as three lists,
        // which the server reads in this order. So that it sees them in the order NinjaTrader
        // delivered them (OnOrderUpdate, then OnExecutionUpdate, then OnPositionUpdate, then
        // maybe the next OnOrderUpdate of a partial fill ...), an event that belongs before a
        // list the pending batch already has seals that batch first and starts a new one.
        public void AddOrder(string instrument, OrderEvent e)
        {
            Add(instrument, b => b.Orders.Add(e), b => b.Executions.Count > 0 || b.Positions.Count > 0);
        }

        public void AddExecution(string instrument, ExecutionEvent e)
        {
            Add(instrument, b => b.Executions.Add(e), b => b.Positions.Count > 0);
        }

        public void AddPosition(string instrument, PositionEvent e)
        {
            Add(instrument, b => b.Positions.Add(e));
        }

        private void Add(string instrument, Action<OutgoingBatch> put)
        {
            Add(instrument, put, null);
        }

        private void Add(string instrument, Action<OutgoingBatch> put, Func<OutgoingBatch, bool> sealFirst)
        {
            long dropped = 0;
            bool sealedOne;
            lock (_gate)
            {
                Pending old;
                bool sealedBefore = false;
                if (sealFirst != null && _pending.TryGetValue(instrument, out old) && sealFirst(old.Batch))
                {
                    Seal(instrument, old, ref dropped);
                    sealedBefore = true;
                }
                bool started = !_pending.ContainsKey(instrument) || sealedBefore;
                Pending p = GetPending(instrument);
                put(p.Batch);
                // A new pending batch wakes the sender too, so it can time the batch's delay.
                sealedOne = SealIfFull(instrument, p, ref dropped) || started;
            }
            AfterAdd(sealedOne, dropped);
        }

        /// <summary>
        /// A snapshot: the whole ladder as adds from position 0 per side. What is pending for
        /// the instrument is sealed first (it happened before the snapshot was taken), then the
        /// snapshot becomes its own batch. Returns the snapshot batch's seq.
        /// </summary>
        public long AddSnapshot(string instrument, IList<DepthEvent> ladder)
        {
            long dropped = 0;
            long seq;
            lock (_gate)
            {
                Pending p;
                if (_pending.TryGetValue(instrument, out p))
                    Seal(instrument, p, ref dropped);
                var batch = new OutgoingBatch { Instrument = instrument, Snapshot = true };
                batch.Depth.AddRange(ladder);
                seq = Append(batch, ref dropped);
                _lastSnapshot[instrument] = batch;
            }
            AfterAdd(true, dropped);
            return seq;
        }

        /// <summary>Seals every pending batch whose oldest event is MaxBatchDelayMs old (all if force).</summary>
        public int FlushDue(bool force)
        {
            long dropped = 0;
            int n = 0;
            lock (_gate)
            {
                long now = _clock.ElapsedMilliseconds;
                for (int i = 0; i < _pendingOrder.Count;)
                {
                    Pending p = _pending[_pendingOrder[i]];
                    if (force || now - p.FirstEventMs >= MaxBatchDelayMs)
                    {
                        Seal(_pendingOrder[i], p, ref dropped); // removes it from _pendingOrder
                        n++;
                    }
                    else
                        i++;
                }
            }
            AfterAdd(n > 0, dropped);
            return n;
        }

        public int FlushAll()
        {
            return FlushDue(true);
        }

        /// <summary>Milliseconds until the oldest pending batch is due (-1: nothing pending).</summary>
        public int MillisecondsUntilDue()
        {
            lock (_gate)
            {
                if (_pendingOrder.Count == 0)
                    return -1;
                long oldest = long.MaxValue;
                foreach (var p in _pending.Values)
                    oldest = Math.Min(oldest, p.FirstEventMs);
                long wait = oldest + MaxBatchDelayMs - _clock.ElapsedMilliseconds;
                return (int)Math.Max(0, Math.Min(wait, int.MaxValue));
            }
        }

        /// <summary>Sealed batches after the last one sent, oldest first (a copy).</summary>
        public List<OutgoingBatch> Unsent()
        {
            lock (_gate)
            {
                var result = new List<OutgoingBatch>();
                foreach (var b in _buffer)
                    if (b.Seq > _lastSentSeq)
                        result.Add(b);
                return result;
            }
        }

        public void MarkSent(long seq)
        {
            lock (_gate)
            {
                if (seq > _lastSentSeq)
                    _lastSentSeq = seq;
            }
        }

        /// <summary>
        /// True while the instrument's latest snapshot is still buffered: sent or about to be,
        /// not yet acknowledged (it will heal the server's ladder whatever went before it).
        /// </summary>
        public bool SnapshotInFlight(string instrument)
        {
            lock (_gate)
            {
                OutgoingBatch b;
                // the buffer is in seq order and loses only its oldest: b is still in it
                // exactly when the oldest buffered batch is not newer than b
                return _lastSnapshot.TryGetValue(instrument, out b) && _buffer.Count > 0 && _buffer[0].Seq <= b.Seq;
            }
        }

        /// <summary>The instrument of buffered batch seq (null when it is not buffered).</summary>
        public string InstrumentOf(long seq)
        {
            lock (_gate)
            {
                foreach (var b in _buffer)
                {
                    if (b.Seq == seq)
                        return b.Instrument;
                    if (b.Seq > seq)
                        break;
                }
                return null;
            }
        }

        /// <summary>The server applied (or already had) every batch up to seq: forget them.</summary>
        public void Acknowledge(long seq)
        {
            lock (_gate)
            {
                int n = 0;
                while (n < _buffer.Count && _buffer[n].Seq <= seq)
                    n++;
                if (n > 0)
                    _buffer.RemoveRange(0, n);
            }
        }

        /// <summary>
        /// After welcome: the server applied everything up to serverLastSeq for this client.
        /// Buffered batches up to it are forgotten and everything after it is (re)sent.
        /// When the server is ahead of every seq this queue has given out, another instance of
        /// the same client name ran before (a restarted strategy): the buffered batches are
        /// renumbered to follow serverLastSeq, or they would be dropped as duplicates.
        /// </summary>
        public void ResumeFrom(long serverLastSeq)
        {
            if (serverLastSeq < 0)
                serverLastSeq = 0;
            lock (_gate)
            {
                if (serverLastSeq >= _nextSeq)
                {
                    long seq = serverLastSeq;
                    foreach (var b in _buffer)
                        b.Seq = ++seq;
                    _nextSeq = seq + 1;
                }
                else
                {
                    int n = 0;
                    while (n < _buffer.Count && _buffer[n].Seq <= serverLastSeq)
                        n++;
                    if (n > 0)
                        _buffer.RemoveRange(0, n);
                }
                _lastSentSeq = serverLastSeq;
            }
            BatchReady.Set();
        }

        private Pending GetPending(string instrument)
        {
            Pending p;
            if (!_pending.TryGetValue(instrument, out p))
            {
                p = new Pending { Batch = new OutgoingBatch { Instrument = instrument }, FirstEventMs = _clock.ElapsedMilliseconds };
                _pending[instrument] = p;
                _pendingOrder.Add(instrument);
            }
            return p;
        }

        private bool SealIfFull(string instrument, Pending p, ref long dropped)
        {
            if (p.Batch.EventCount < MaxBatchEvents)
                return false;
            Seal(instrument, p, ref dropped);
            return true;
        }

        private void Seal(string instrument, Pending p, ref long dropped)
        {
            _pending.Remove(instrument);
            _pendingOrder.Remove(instrument);
            Append(p.Batch, ref dropped);
        }

        private long Append(OutgoingBatch batch, ref long dropped)
        {
            batch.Seq = _nextSeq++;
            _buffer.Add(batch);
            while (_buffer.Count > MaxBufferedBatches)
            {
                _buffer.RemoveAt(0);
                _droppedBatches++;
                dropped++;
            }
            return batch.Seq;
        }

        private void AfterAdd(bool sealedOne, long dropped)
        {
            if (sealedOne)
                BatchReady.Set();
            if (dropped > 0)
            {
                var handler = BatchesDropped;
                if (handler != null)
                    handler(dropped);
            }
        }
    }

    /// <summary>Settings of the transport (the strategy exposes them as properties).</summary>
    /// <summary>One of NinjaTrader's positions for a <c>report</c> (enum names as strings).</summary>
    public sealed class ReportPosition
    {
        public string Instrument = "";
        public string MarketPosition = "Flat";
        public long Quantity;
        public double AveragePrice;
        public string Account = "";
    }

    /// <summary>One of NinjaTrader's working orders for a <c>report</c>.</summary>
    public sealed class ReportOrder
    {
        public string Instrument = "";
        public string Cid = "";
        public string State = "";
        public long Quantity;
        public long Filled;
        public string Action = "";
        public string OrderType = "";
        public double LimitPrice;
        public double StopPrice;
        public string Oco = "";
        public string OrderId = "";
        public string Account = "";
    }

    public sealed class TransportOptions
    {
        public bool Report;                    // hello says report: true; SendReport after each welcome
        public int ClusterGranularity;         // hello's cluster_granularity (ticks, 1..1000): the answers' clusters in bands this wide; 0: not sent
        public string Url = "ws://127.0.0.1:8765/ws";
        public string Token = "";
        public string ClientName = "nt8";
        public int MaxBatchEvents = 500;
        public int MaxBatchDelayMs = 5;
        public int MaxBufferedBatches = 20000;
        public int HeartbeatMs = 2000;         // the protocol asks for one at least every 5 s
        public int ConnectTimeoutMs = 5000;
        public int ReceiveTimeoutMs = 30000;   // silence after which the connection is dropped
        public int InitialBackoffMs = 250;
        public int MaxBackoffMs = 30000;
        public int RememberedCommands = 10000; // answers kept to answer a resent command again
        public int MinSnapshotIntervalMs = 1000; // an ack saying stale asks for a snapshot at most this often per instrument
        public bool PackedDepth = true;        // depth as packed columns (false: rows, for a server that predates them)

        /// <summary>The token to send: <paramref name="token"/>, or the content of
        /// <paramref name="tokenFile"/> (trimmed) when that is set, so the secret need not be
        /// saved in the workspace; both set, a missing file or an empty one: an error naming
        /// the property.</summary>
        public static string ResolveToken(string token, string tokenFile)
        {
            if (string.IsNullOrEmpty(tokenFile))
                return token ?? "";
            if (!string.IsNullOrEmpty(token))
                throw new ArgumentException("Token and Token file are both set; keep one of them");
            string text;
            try { text = File.ReadAllText(tokenFile).Trim(); }
            catch (Exception e) { throw new ArgumentException("Token file " + tokenFile + ": " + e.Message); }
            if (text.Length == 0)
                throw new ArgumentException("Token file " + tokenFile + " is empty");
            return text;
        }
    }

    /// <summary>
    /// The WebSocket client: batches events (BatchQueue), sends them in order, resends what was
    /// not acknowledged after a reconnect, keeps the connection alive with heartbeats and
    /// reconnects with exponential backoff. See the file header for the threading rules.
    /// </summary>
    public sealed class OrderflowTransport : IDisposable
    {
        private readonly TransportOptions _options;
        private readonly ManualResetEvent _stop = new ManualResetEvent(false);
        private readonly object _socketGate = new object();
        private Thread _sender;
        private ClientWebSocket _socket;
        private volatile bool _stopping;
        private volatile bool _connected;
        private string _byeReason = "strategy stopped";
        private long _lastReceiveMs;
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private readonly Dictionary<string, long> _snapshotAskedMs = new Dictionary<string, long>();
        private long _snapshotsSkipped;

        public readonly BatchQueue Queue;
        /// <summary>Which command_seq were executed/answered (no command runs twice).</summary>
        public readonly CommandLedger Commands;
        // Unsequenced messages (command_ack) for the sender thread, cleared on each connect:
        // the server sends unanswered commands again then, and they are answered again.
        private readonly List<string> _control = new List<string>();
        private readonly object _controlGate = new object();
        private string _session;
        private volatile bool _historicalOnly;
        private volatile bool _serverAnswersState;  // welcome said protocol >= 2

        // The latest OrderflowView per instrument (the bridge's name, e.g. "ES 03-24"). Copy on
        // write: a writer (receiver thread, under _viewsGate) builds a new dictionary and
        // publishes it with Volatile.Write; readers take the reference with Volatile.Read and
        // never lock. A view is never changed after it is published.
        private Dictionary<string, OrderflowView> _views = new Dictionary<string, OrderflowView>();
        private readonly object _viewsGate = new object();
        // server's instrument name (e.g. "ESH4") -> the bridge's, learnt from acks of our batches
        private readonly Dictionary<string, string> _viewAliases = new Dictionary<string, string>();
        // instruments with a state_request not answered yet (cleared on each connect)
        private readonly HashSet<string> _stateAsked = new HashSet<string>();
        private long _malformedAnswers;
        private long _stateRequests;

        /// <summary>welcome received; the argument is its last_seq. Raised on the sender thread.</summary>
        public event Action<long> Connected;
        /// <summary>The connection ended (the reason); a reconnect follows unless stopping.</summary>
        public event Action<string> Disconnected;
        /// <summary>ack of a batch. Raised on the receiver thread.</summary>
        public event Action<ServerMessage> AckReceived;
        /// <summary>
        /// The server's ladder of an instrument needs a snapshot: a snapshot_request, or an ack
        /// saying stale (then raised as a snapshot_request with reason "stale" naming the
        /// instrument of the acknowledged batch). Throttled (see SnapshotAllowed), so answering
        /// every one never storms. Answer with a snapshot batch (via TriggerCustomEvent in
        /// NinjaScript).
        /// </summary>
        public event Action<ServerMessage> SnapshotRequested;
        /// <summary>error from the server (field, reason, code).</summary>
        public event Action<ServerMessage> ServerError;
        /// <summary>
        /// A new command to execute, raised on the receiver thread once per command_seq (a
        /// resent one is answered again by the transport itself). The handler must eventually
        /// call CompleteCommand; in NinjaScript it queues the command and executes it on
        /// NinjaTrader's thread with TriggerCustomEvent. Without a handler, commands are refused.
        /// </summary>
        public event Action<OrderCommand> CommandReceived;
        /// <summary>A new OrderflowView was published (receiver thread): read it, never block here.</summary>
        public event Action<OrderflowView> ViewUpdated;
        /// <summary>Every server message, including the above and heartbeats.</summary>
        public event Action<ServerMessage> MessageReceived;
        /// <summary>Diagnostics (connects, failures, drops).</summary>
        public event Action<string> Log;

        public OrderflowTransport(TransportOptions options)
        {
            _options = options ?? new TransportOptions();
            Queue = new BatchQueue(_options.MaxBatchEvents, _options.MaxBatchDelayMs, _options.MaxBufferedBatches);
            Commands = new CommandLedger(_options.RememberedCommands);
            Queue.BatchesDropped += n => Emit("buffer full: dropped " + n + " oldest batch(es); the server will ask for a snapshot");
        }

        public bool IsConnected
        {
            get { return _connected; }
        }

        public TransportOptions Options
        {
            get { return _options; }
        }

        // Producers (NinjaTrader's threads): never block on the network.
        public void EnqueueDepth(string instrument, DepthEvent e) { Queue.AddDepth(instrument, e); }
        public void EnqueueTick(string instrument, TickEvent e) { Queue.AddTick(instrument, e); }
        public void EnqueueBar(string instrument, BarEvent e) { Queue.AddBar(instrument, e); }
        public long EnqueueSnapshot(string instrument, IList<DepthEvent> ladder)
        {
            lock (_snapshotAskedMs)
                _snapshotAskedMs[instrument] = _clock.ElapsedMilliseconds;
            return Queue.AddSnapshot(instrument, ladder);
        }

        /// <summary>
        /// May the instrument's snapshot be sent again now? Never while the last one is still
        /// unacknowledged (the server applies it after whatever made the ladder stale, so it
        /// heals it); after an ack saying stale (a hint every ack repeats) also not within
        /// MinSnapshotIntervalMs of the last one. An allowed one counts as sent from now.
        /// </summary>
        public bool SnapshotAllowed(string instrument, bool hint)
        {
            lock (_snapshotAskedMs)
            {
                long now = _clock.ElapsedMilliseconds;
                long last;
                bool recent = _snapshotAskedMs.TryGetValue(instrument, out last)
                    && now - last < _options.MinSnapshotIntervalMs;
                if (Queue.SnapshotInFlight(instrument) || (hint && recent))
                {
                    _snapshotsSkipped++;
                    return false;
                }
                _snapshotAskedMs[instrument] = now;
                return true;
            }
        }

        /// <summary>Snapshot requests and stale acks not answered by a snapshot (throttled).</summary>
        public long SnapshotsSkipped
        {
            get { lock (_snapshotAskedMs) return _snapshotsSkipped; }
        }
        public void EnqueueOrder(string instrument, OrderEvent e) { Queue.AddOrder(instrument, e); }
        public void EnqueueExecution(string instrument, ExecutionEvent e) { Queue.AddExecution(instrument, e); }
        public void EnqueuePosition(string instrument, PositionEvent e) { Queue.AddPosition(instrument, e); }

        /// <summary>
        /// orderflow's latest view of an instrument (the name the bridge sends, e.g. "ES 03-24";
        /// the server's own name works too), OrderflowView.Empty before its first answer. Any
        /// thread, lock-free: the returned view never changes; read it once and use that.
        /// </summary>
        public OrderflowView View(string instrument)
        {
            OrderflowView v;
            if (instrument != null && Volatile.Read(ref _views).TryGetValue(instrument, out v))
                return v;
            return OrderflowView.Empty;
        }

        /// <summary>Answers that could not be read (invalid JSON, or an ack/state whose analytics
        /// are malformed): the previous view stayed in place.</summary>
        public long MalformedAnswers
        {
            get { return Interlocked.Read(ref _malformedAnswers); }
        }

        /// <summary>state_requests sent (after each reconnect, and for each missed answer).</summary>
        public long StateRequests
        {
            get { return Interlocked.Read(ref _stateRequests); }
        }

        /// <summary>
        /// Handles one server message as if the receiver thread had read it (the receiver thread
        /// calls it; tests and replays may too): parsed, views updated, events raised.
        /// </summary>
        public void Receive(string text)
        {
            ServerMessage m;
            try
            {
                m = ServerMessage.Parse(text);
            }
            catch (FormatException ex)
            {
                Interlocked.Increment(ref _malformedAnswers);
                Emit("unreadable server message (" + ex.Message + "): " + text);
                return;
            }
            Dispatch(m);
        }

        /// <summary>
        /// Builds the instrument's next view from an ack or state answer and publishes it. A
        /// malformed answer keeps the previous view and is counted; it, and an answer saying
        /// "unchanged" to a version this client never saw, means an answer was missed: the
        /// whole state is asked for.
        /// </summary>
        /// <param name="ours">the instrument of the acknowledged batch as the bridge names it
        /// (null when unknown: then the server's name, through the names learnt so far)</param>
        private void UpdateView(string ours, ServerMessage m)
        {
            OrderflowView next = null;
            bool missed;
            string instrument;
            lock (_viewsGate)
            {
                if (ours != null)
                {
                    instrument = ours;
                    if (m.Instrument.Length > 0 && m.Instrument != ours)
                        _viewAliases[m.Instrument] = ours;
                }
                else if (!_viewAliases.TryGetValue(m.Instrument, out instrument))
                    instrument = m.Instrument;
                if (instrument.Length == 0)
                {
                    Interlocked.Increment(ref _malformedAnswers);
                    Emit(m.Type + " without an instrument: no view to update");
                    return;
                }
                if (m.Type == "state")
                    _stateAsked.Remove(instrument);
                Dictionary<string, OrderflowView> views = _views;
                OrderflowView previous;
                if (!views.TryGetValue(instrument, out previous))
                    previous = OrderflowView.Empty;
                try
                {
                    next = OrderflowViewReader.Next(previous, instrument, m.Fields, out missed);
                }
                catch (Exception ex)
                {
                    if (!(ex is FormatException) && !(ex is InvalidCastException) && !(ex is OverflowException))
                        throw;
                    Interlocked.Increment(ref _malformedAnswers);
                    Emit("malformed " + m.Type + " for " + instrument + " (" + ex.Message + "): the previous view stays");
                    missed = true;
                }
                if (next != null)
                {
                    var copy = new Dictionary<string, OrderflowView>(views);
                    copy[instrument] = next;
                    if (m.Instrument.Length > 0 && m.Instrument != instrument)
                        copy[m.Instrument] = next;
                    Volatile.Write(ref _views, copy);
                }
            }
            if (missed)
                RequestState(instrument);
            if (next != null)
                Raise(ViewUpdated, next);
        }

        /// <summary>Asks for the whole state of an instrument (protocol 2 servers only), at most
        /// one request outstanding per instrument.</summary>
        public void RequestState(string instrument)
        {
            if (!_serverAnswersState || string.IsNullOrEmpty(instrument))
                return;
            lock (_viewsGate)
            {
                if (!_stateAsked.Add(instrument))
                    return;
            }
            Interlocked.Increment(ref _stateRequests);
            SendControl(OrderflowJson.StateRequest(instrument));
        }

        /// <summary>After a (re)connect: every instrument with a view asks for its whole state.</summary>
        private void RequestStateOfAll()
        {
            var names = new List<string>();
            lock (_viewsGate)
            {
                _stateAsked.Clear();
                foreach (KeyValuePair<string, OrderflowView> kv in _views)
                {
                    if (kv.Key == kv.Value.Instrument)
                        names.Add(kv.Key);
                }
            }
            foreach (string name in names)
                RequestState(name);
        }

        /// <summary>The server's welcome said flags.historical_only: every command is refused.</summary>
        public bool ServerHistoricalOnly
        {
            get { return _historicalOnly; }
        }

        /// <summary>
        /// The answer to a command raised by CommandReceived (any thread): remembered, so a
        /// resend is answered the same way, and sent as a command_ack ("done" when the
        /// NinjaScript call was made, "refused" with the reason when not).
        /// </summary>
        /// <summary>Sends NinjaTrader's positions and working orders (after each welcome, from
        /// NinjaTrader's thread); the server reconciles on them before it sends new orders.</summary>
        public void SendReport(long t, List<ReportPosition> positions, List<ReportOrder> orders)
        {
            SendControl(OrderflowJson.Report(t, positions, orders));
        }

        public void CompleteCommand(OrderCommand command, string status, string reason)
        {
            if (command == null || !command.CanBeAnswered)
                return;
            if (!Commands.Complete(command, status, reason))
            {
                Emit("command " + command.CommandSeq + " (" + command.Cid + ") belonged to an earlier server session: " + status + " not sent");
                return;
            }
            SendControl(OrderflowJson.CommandAck(command.Cid, command.CommandSeq, status, reason));
        }

        private void SendControl(string text)
        {
            lock (_controlGate)
                _control.Add(text);
            Queue.BatchReady.Set();
        }

        private List<string> TakeControl()
        {
            lock (_controlGate)
            {
                if (_control.Count == 0)
                    return null;
                var list = new List<string>(_control);
                _control.Clear();
                return list;
            }
        }

        /// <summary>Starts the sender thread (idempotent).</summary>
        public void Start()
        {
            if (_sender != null)
                return;
            _sender = new Thread(SendLoop) { IsBackground = true, Name = "orderflow-sender" };
            _sender.Start();
        }

        /// <summary>
        /// Flushes what is pending, sends it with a bye and closes; waits at most timeoutMs
        /// (NinjaTrader's State.Terminated must not hang), then abandons the socket.
        /// </summary>
        public void Stop(string reason, int timeoutMs)
        {
            if (_stopping)
                return;
            if (!string.IsNullOrEmpty(reason))
                _byeReason = reason;
            _stopping = true;
            _stop.Set();
            Queue.BatchReady.Set();
            var t = _sender;
            if (t != null && !t.Join(Math.Max(0, timeoutMs)))
            {
                lock (_socketGate)
                {
                    if (_socket != null)
                        _socket.Abort();
                }
                t.Join(500);
            }
        }

        public void Dispose()
        {
            Stop("disposed", 2000);
        }

        private void Emit(string text)
        {
            var handler = Log;
            if (handler != null)
            {
                try { handler(text); }
                catch (Exception) { } // a faulty log handler must not kill the transport
            }
        }

        private void SendLoop()
        {
            int backoff = Math.Max(1, _options.InitialBackoffMs);
            var random = new Random();
            while (!_stopping)
            {
                bool welcomed = false;
                string endReason = "";
                ClientWebSocket ws = null;
                try
                {
                    ws = new ClientWebSocket();
                    lock (_socketGate)
                        _socket = ws;
                    lock (_controlGate)
                        _control.Clear(); // answers for the old connection: asked again if needed
                    using (var cts = new CancellationTokenSource(_options.ConnectTimeoutMs))
                        ws.ConnectAsync(new Uri(_options.Url), cts.Token).GetAwaiter().GetResult();

                    SendText(ws, OrderflowJson.Hello(_options.ClientName, _options.Token, "json", _options.Report, _options.ClusterGranularity));
                    string text = ReceiveText(ws, _options.ConnectTimeoutMs);
                    if (text == null)
                        throw new IOException("closed before welcome");
                    ServerMessage welcome = ServerMessage.Parse(text);
                    if (welcome.Type == "error")
                        throw new IOException("hello refused: " + welcome.Field + ": " + welcome.Reason);
                    if (welcome.Type != "welcome")
                        throw new IOException("expected welcome, got " + welcome.Type);

                    if (_session != null && welcome.Session != _session)
                    {
                        // A restarted server numbers its commands from 1 again.
                        Commands.Reset();
                        Emit("new server session " + welcome.Session + " (was " + _session + "): command numbers start again");
                    }
                    _session = welcome.Session;
                    _historicalOnly = welcome.HistoricalOnly;
                    _serverAnswersState = welcome.Protocol >= 2;
                    RequestStateOfAll();
                    Queue.ResumeFrom(welcome.LastSeq);
                    welcomed = true;
                    _connected = true;
                    backoff = Math.Max(1, _options.InitialBackoffMs);
                    Emit("connected to " + _options.Url + " (" + welcome.Server + "), last_seq " + welcome.LastSeq);
                    Raise(Connected, welcome.LastSeq);

                    Interlocked.Exchange(ref _lastReceiveMs, _clock.ElapsedMilliseconds);
                    var receiver = new Thread(() => ReceiveLoop(ws)) { IsBackground = true, Name = "orderflow-receiver" };
                    receiver.Start();
                    endReason = Pump(ws);
                }
                catch (Exception ex)
                {
                    endReason = Describe(ex);
                }
                finally
                {
                    _connected = false;
                    if (ws != null)
                    {
                        lock (_socketGate)
                            _socket = null;
                        try { ws.Abort(); } catch (Exception) { }
                        ws.Dispose();
                    }
                }

                Emit("disconnected: " + endReason);
                if (welcomed)
                    Raise(Disconnected, endReason);
                if (_stopping)
                    break;
                // Exponential backoff with jitter, interrupted by Stop.
                int wait = backoff + random.Next(0, backoff / 4 + 1);
                _stop.WaitOne(wait);
                backoff = (int)Math.Min((long)backoff * 2, _options.MaxBackoffMs);
            }
        }

        /// <summary>Sends batches and heartbeats until the connection ends or Stop; returns why.</summary>
        private string Pump(ClientWebSocket ws)
        {
            long lastSendMs = _clock.ElapsedMilliseconds;
            while (true)
            {
                if (ws.State != WebSocketState.Open)
                    return "socket " + ws.State;
                bool stopping = _stopping;
                var control = TakeControl();
                if (control != null)
                {
                    foreach (string text in control)
                        SendText(ws, text);
                    lastSendMs = _clock.ElapsedMilliseconds;
                }
                Queue.FlushDue(stopping);
                foreach (var batch in Queue.Unsent())
                {
                    SendText(ws, OrderflowJson.Batch(batch, _options.PackedDepth));
                    Queue.MarkSent(batch.Seq);
                    lastSendMs = _clock.ElapsedMilliseconds;
                }
                long now = _clock.ElapsedMilliseconds;
                if (stopping)
                {
                    SendText(ws, OrderflowJson.Bye(_byeReason));
                    using (var cts = new CancellationTokenSource(1000))
                    {
                        try { ws.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, _byeReason, cts.Token).GetAwaiter().GetResult(); }
                        catch (Exception) { }
                    }
                    return "stopped";
                }
                if (now - lastSendMs >= _options.HeartbeatMs)
                {
                    SendText(ws, OrderflowJson.Heartbeat(OrderflowTime.UtcNowNanos()));
                    lastSendMs = now;
                }
                if (now - Interlocked.Read(ref _lastReceiveMs) > _options.ReceiveTimeoutMs)
                    return "no message from the server for " + _options.ReceiveTimeoutMs + " ms";

                int wait = (int)Math.Max(1, _options.HeartbeatMs - (now - lastSendMs));
                int due = Queue.MillisecondsUntilDue();
                if (due >= 0)
                    wait = Math.Min(wait, Math.Max(1, due));
                Queue.BatchReady.WaitOne(Math.Min(wait, 1000));
            }
        }

        private void ReceiveLoop(ClientWebSocket ws)
        {
            try
            {
                while (ws.State == WebSocketState.Open)
                {
                    string text = ReceiveText(ws, -1);
                    if (text == null)
                        break;
                    Interlocked.Exchange(ref _lastReceiveMs, _clock.ElapsedMilliseconds);
                    Receive(text);
                }
            }
            catch (Exception ex)
            {
                if (!_stopping)
                    Emit("receive failed: " + Describe(ex));
            }
            finally
            {
                Queue.BatchReady.Set(); // wake the sender so it notices the socket state
            }
        }

        private void Dispatch(ServerMessage m)
        {
            Raise(MessageReceived, m);
            if (m.Type == "ack")
            {
                // stale: the ladder missed something (a refused batch, a gap, an IsReset)
                string ours = m.Seq >= 0 ? Queue.InstrumentOf(m.Seq) : null;
                string stale = m.Stale ? ours : null;
                UpdateView(ours, m);
                if (m.Seq >= 0)
                    Queue.Acknowledge(m.Seq);
                Raise(AckReceived, m);
                if (stale != null && SnapshotAllowed(stale, true))
                    Raise(SnapshotRequested, new ServerMessage { Type = "snapshot_request", Raw = m.Raw, Instrument = stale, Reason = "stale", Seq = m.Seq });
            }
            else if (m.Type == "state")
                UpdateView(null, m);
            else if (m.Type == "snapshot_request")
            {
                if (SnapshotAllowed(m.Instrument, false))
                    Raise(SnapshotRequested, m);
            }
            else if (m.Type == "command")
                HandleCommand(m.Command);
            else if (m.Type == "error")
            {
                // A refused batch will not be acked: forget it, resending it would fail again.
                if (m.Seq > 0)
                    Queue.Acknowledge(m.Seq);
                Emit("server error: " + m.Field + ": " + m.Reason);
                Raise(ServerError, m);
            }
        }

        /// <summary>
        /// A command from the server (receiver thread): answered at once when it cannot be
        /// valid, answered again when it was seen before, otherwise raised once for execution.
        /// </summary>
        private void HandleCommand(OrderCommand c)
        {
            if (c == null || !c.CanBeAnswered)
            {
                Emit("command without a valid command_seq and cid, not answerable: " + (c == null ? "" : c.Cid));
                return;
            }
            string status;
            string reason;
            CommandDisposition d = Commands.Begin(c, out status, out reason);
            if (d == CommandDisposition.InFlight)
                return;
            if (d == CommandDisposition.Answered)
            {
                SendControl(OrderflowJson.CommandAck(c.Cid, c.CommandSeq, status, reason));
                return;
            }
            string invalid = c.Validate();
            if (invalid == null && _historicalOnly)
                invalid = "the server's flag historical_only is set: no live orders";
            var handler = CommandReceived;
            if (invalid == null && handler == null)
                invalid = "this client executes no commands";
            if (invalid != null)
            {
                CompleteCommand(c, "refused", invalid);
                return;
            }
            try
            {
                handler(c);
            }
            catch (Exception ex)
            {
                CompleteCommand(c, "refused", "command handler failed: " + ex.Message);
            }
        }

        private void Raise<T>(Action<T> handler, T arg)
        {
            if (handler == null)
                return;
            try
            {
                handler(arg);
            }
            catch (Exception ex)
            {
                Emit("event handler failed: " + ex.Message);
            }
        }

        private static void SendText(ClientWebSocket ws, string text)
        {
            byte[] bytes = Encoding.UTF8.GetBytes(text);
            // Only the sender thread sends: ClientWebSocket allows one send at a time.
            ws.SendAsync(new ArraySegment<byte>(bytes), WebSocketMessageType.Text, true, CancellationToken.None).GetAwaiter().GetResult();
        }

        /// <summary>One whole text message; null when the server closes. Binary frames are skipped.</summary>
        private static string ReceiveText(ClientWebSocket ws, int timeoutMs)
        {
            var buffer = new byte[8192];
            using (var cts = timeoutMs > 0 ? new CancellationTokenSource(timeoutMs) : new CancellationTokenSource())
            {
                while (true)
                {
                    using (var ms = new MemoryStream())
                    {
                        WebSocketReceiveResult r;
                        do
                        {
                            r = ws.ReceiveAsync(new ArraySegment<byte>(buffer), cts.Token).GetAwaiter().GetResult();
                            if (r.MessageType == WebSocketMessageType.Close)
                                return null;
                            ms.Write(buffer, 0, r.Count);
                        } while (!r.EndOfMessage);
                        if (r.MessageType == WebSocketMessageType.Text)
                            return Encoding.UTF8.GetString(ms.GetBuffer(), 0, (int)ms.Length);
                    }
                }
            }
        }

        private static string Describe(Exception ex)
        {
            var agg = ex as AggregateException;
            if (agg != null && agg.InnerException != null)
                ex = agg.InnerException;
            return ex.GetType().Name + ": " + ex.Message;
        }
    }
}
