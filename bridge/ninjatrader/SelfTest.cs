// SelfTest.cs - a console program compiled with OrderflowTransport.cs only (no NinjaTrader).
//
//   mono OrderflowSelfTest.exe                   (a) prints one protocol message per line: a hello,
//                                                    batches made by the real BatchQueue, a
//                                                    snapshot batch, order/execution/position
//                                                    batches, command_acks, a heartbeat and a bye
//   mono OrderflowSelfTest.exe --packed          (a) with the depth of every batch as packed columns
//   mono OrderflowSelfTest.exe --idle URL MS     connects, stays idle MS ms (heartbeats every
//                                                    100 ms), then stops with a bye
//   mono OrderflowSelfTest.exe --unit            internal checks of the queue, the server
//                                                    message reader and the command ledger;
//                                                    exit code 0 when all pass
//   mono OrderflowSelfTest.exe --views           protocol-2 answers built into OrderflowViews
//                                                    (SelfTestViews.cs); exit code 0 when all pass
//   mono OrderflowSelfTest.exe --commands        server messages on stdin: prints each command
//                                                    as parsed and the command_ack it gets
//   mono OrderflowSelfTest.exe URL FILE [CLIENT [MAX_BATCH_EVENTS]]
//                                                (b) connects to a running server, sends the depth
//                                                    events of FILE in batches, prints every ack
//   mono OrderflowSelfTest.exe --view URL FILE [CLIENT [MAX_BATCH_EVENTS [CLUSTER_TICKS]]]
//                                                    (b), then "view JSON" per instrument: the
//                                                    OrderflowView the acks built (SelfTestViews.cs)
//
// FILE (mode b) is CSV, one depth event a line, '#' starts a comment:
//   instrument,t_ns_utc,side(bid|ask),op(add|update|remove),pos,price,size,reset(0|1)

using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Threading;
using Orderflow.Bridge;

namespace Orderflow.Bridge.SelfTest
{
    public static class Program
    {
        [System.Runtime.InteropServices.DllImport("libc")]
        private static extern void _exit(int status);

        public static int Main(string[] args)
        {
            int code = Run(args);
            Console.Out.Flush();
            Console.Error.Flush();
            // Exit at once: mono 6.8 may linger at shutdown over the socket's I/O threads, even
            // inside Environment.Exit (seen under load): the C library's _exit skips the runtime's
            // shutdown. A test program only; the strategy never exits the process.
            _exit(code);
            return code;
        }

        private static int Run(string[] args)
        {
            try
            {
                if (args.Length == 0)
                    return PrintMessages(false);
                if (args[0] == "--packed")
                    return PrintMessages(true);
                if (args[0] == "--unit")
                    return UnitChecks();
                if (args[0] == "--views")
                    return ViewChecks.Run();
                if (args[0] == "--commands")
                    return Commands();
                if (args[0] == "--idle" && args.Length >= 3)
                    return Idle(args[1], int.Parse(args[2], CultureInfo.InvariantCulture));
                if (args[0] == "--view" && args.Length >= 3)
                    return SendFile(args[1], args[2], args.Length >= 4 ? args[3] : "nt8-selftest",
                        args.Length >= 5 ? int.Parse(args[4], CultureInfo.InvariantCulture) : 500, true,
                        args.Length >= 6 ? int.Parse(args[5], CultureInfo.InvariantCulture) : 0);
                if (args.Length >= 2)
                    return SendFile(args[0], args[1], args.Length >= 3 ? args[2] : "nt8-selftest",
                        args.Length >= 4 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 500, false);
                Console.Error.WriteLine("usage: OrderflowSelfTest.exe [--unit | URL FILE [CLIENT [MAX_BATCH_EVENTS]]]");
                return 2;
            }
            catch (Exception ex)
            {
                Console.Error.WriteLine("self-test failed: " + ex);
                return 1;
            }
        }

        private static TimeZoneInfo Eastern()
        {
            foreach (string id in new[] { "America/New_York", "Eastern Standard Time" })
            {
                try { return TimeZoneInfo.FindSystemTimeZoneById(id); }
                catch (TimeZoneNotFoundException) { }
                catch (InvalidTimeZoneException) { }
            }
            throw new InvalidOperationException("time zone America/New_York not found (install tzdata)");
        }

        // Mode (a). tests/integration/test_bridge.py knows every value written here.
        private static int PrintMessages(bool packed)
        {
            // 2023-12-25 18:00:00 in New York (NinjaTrader's local DateTime) is 23:00:00 UTC.
            var local = new DateTime(2023, 12, 25, 18, 0, 0, DateTimeKind.Unspecified);
            long t0 = OrderflowTime.ToUnixNanos(local, Eastern());

            Console.WriteLine(OrderflowJson.Hello("nt8-ES 03-24", "s3cr\"et\\", "json"));

            // Size-triggered batches: 4 events seal a batch.
            var q = new BatchQueue(4, 60000, 100);
            const string es = "ES 03-24";
            const string nq = "NQ 12-26";
            q.AddDepth(es, new DepthEvent(t0, BookSide.Bid, DepthOperation.Add, 0, 4810.25, 22, false));
            q.AddDepth(es, new DepthEvent(t0 + 1, BookSide.Ask, DepthOperation.Add, 0, 4810.5, 28, false));
            q.AddDepth(es, new DepthEvent(t0 + 2, BookSide.Bid, DepthOperation.Update, 0, 4810.25, 23, false));
            q.AddTick(es, new TickEvent(t0 + 100000, 4810.25, 3, 4810.0, 4810.25)); // seals seq 1
            q.AddDepth(es, new DepthEvent(t0 + 3, BookSide.Ask, DepthOperation.Remove, 1, 0.1, 0, false));
            q.AddDepth(es, new DepthEvent(t0 + 4, BookSide.Bid, DepthOperation.Update, 3, 1e-7, 5, true));
            q.AddTick(nq, new TickEvent(t0 + 5, 18125.25, 1, 18125.0, 18125.25));
            q.AddTick(es, new TickEvent(t0 + 6, 4810.5, 2, double.NaN, double.NaN));
            q.AddBar(es, new BarEvent(0, t0 - 60000000000L, 4810.0, 4810.5, 4809.75, 4810.25, 812, true)); // seals seq 2
            // 999999999.99999988: all 17 digits, just below the protocol's largest price (1e9)
            q.AddBar(nq, new BarEvent(1, t0, 0.1 + 0.2, 999999999.99999988, double.Epsilon, 18125.25, 0, false));
            q.FlushAll(); // seals seq 3 (NQ)
            q.AddSnapshot(es, new List<DepthEvent>
            {
                new DepthEvent(t0 + 7, BookSide.Bid, DepthOperation.Add, 0, 4810.25, 22, false),
                new DepthEvent(t0 + 7, BookSide.Bid, DepthOperation.Add, 1, 4810.0, 40, false),
                new DepthEvent(t0 + 7, BookSide.Ask, DepthOperation.Add, 0, 4810.5, 28, false),
                new DepthEvent(t0 + 7, BookSide.Ask, DepthOperation.Add, 1, 4810.75, 31, false),
            }); // seq 4
            // A partly filled market order, as the strategy forwards it: an order update after
            // an execution or position starts a new batch, so the server reads them in order.
            q.AddOrder(es, new OrderEvent(t0 + 8, "m-1", "Submitted", 2, 0, 0.0, 0.0, 0.0, "stub-1", "NoError", ""));
            q.AddOrder(es, new OrderEvent(t0 + 9, "m-1", "PartFilled", 2, 1, 4810.25, 0.0, 0.0, "stub-1", "NoError", "\u00e9 \"q\"\n"));
            q.AddExecution(es, new ExecutionEvent(t0 + 10, "m-1", "x-1", 4810.25, 1, "Long", "stub-1", 0.62));
            q.AddPosition(es, new PositionEvent(t0 + 11, "Long", 1, 4810.25, "Sim101")); // 4 events: seals seq 5
            q.AddOrder(es, new OrderEvent(t0 + 12, "m-1", "Filled", 2, 2, 4810.375, 0.0, 0.0, "stub-1", "NoError", ""));
            q.AddExecution(es, new ExecutionEvent(t0 + 13, "m-1", "x-2", 4810.5, 1, "Long", "stub-1", 0.1 + 0.2));
            q.AddOrder(es, new OrderEvent(t0 + 14, "l:2_b.X", "Rejected", 1, 0, 0.0, 4805.75, 4806.0, "", "OrderRejected", "no margin")); // seals seq 6
            q.AddPosition(es, new PositionEvent(t0 + 15, "Flat", 0, 0.0, ""));
            q.FlushAll(); // seq 7
            foreach (var batch in q.Unsent())
                Console.WriteLine(OrderflowJson.Batch(batch, packed));
            Console.WriteLine(OrderflowJson.CommandAck("m-1", 1, "done", ""));
            Console.WriteLine(OrderflowJson.CommandAck("l:2_b.X", 9007199254740993L, "refused", "cid: no order \"l:2_b.X\"\t\u00e9"));

            Console.WriteLine(OrderflowJson.Heartbeat(t0));
            Console.WriteLine(OrderflowJson.Bye("self-test done"));
            return 0;
        }

        private static int _failures;

        // Packed depth columns: the base64 decodes to the very values, little-endian, and the
        // batch carries columns instead of rows.
        private static void PackedChecks()
        {
            var events = new List<DepthEvent>
            {
                new DepthEvent(long.MaxValue, BookSide.Ask, DepthOperation.Remove, 10000, 0.1 + 0.2, 1000000000, true),
                new DepthEvent(1703545200000000001L, BookSide.Bid, DepthOperation.Add, 0, double.Epsilon, 0, false),
                new DepthEvent(-1, BookSide.Bid, DepthOperation.Update, int.MaxValue, -4810.25, long.MinValue, true),
            };
            var sb = new System.Text.StringBuilder();
            OrderflowJson.AppendPackedDepth(sb, events);
            string json = sb.ToString();
            Check(json.Contains("\"side\":\"abb\"") && json.Contains("\"op\":\"rau\"") && json.Contains("\"reset\":[0,2]"),
                "packed: side, op and reset as characters and indexes");
            byte[] t = Convert.FromBase64String(Field(json, "t"));
            byte[] pos = Convert.FromBase64String(Field(json, "pos"));
            byte[] price = Convert.FromBase64String(Field(json, "price"));
            byte[] size = Convert.FromBase64String(Field(json, "size"));
            Check(t.Length == 24 && pos.Length == 12 && price.Length == 24 && size.Length == 24, "packed: 8, 4, 8, 8 bytes a value");
            bool same = true;
            for (int i = 0; i < events.Count; i++)
            {
                same &= LittleEndian(t, 8 * i, 8) == events[i].T;
                same &= (int)LittleEndian(pos, 4 * i, 4) == events[i].Position;
                same &= LittleEndian(price, 8 * i, 8) == BitConverter.DoubleToInt64Bits(events[i].Price);
                same &= LittleEndian(size, 8 * i, 8) == events[i].Size;
            }
            Check(same, "packed: every value back from its little-endian bytes, doubles bit for bit");
            var batch = new OutgoingBatch { Seq = 3, Instrument = "ES 03-24" };
            batch.Depth.AddRange(events);
            string packed = OrderflowJson.Batch(batch, true);
            Check(packed.Contains("\"columns\":{") && packed.Contains("\"depth\":[]"), "packed: columns, no rows");
            Check(OrderflowJson.Batch(batch, false) == OrderflowJson.Batch(batch) && !OrderflowJson.Batch(batch).Contains("columns"),
                "rows when not packed");
            var noDepth = new OutgoingBatch { Seq = 4, Instrument = "ES 03-24" };
            noDepth.Ticks.Add(new TickEvent(1, 4810.25, 1, double.NaN, double.NaN));
            Check(!OrderflowJson.Batch(noDepth, true).Contains("columns"), "packed: no columns without depth");
        }

        private static string Field(string json, string name)
        {
            string key = "\"" + name + "\":\"";
            int start = json.IndexOf(key, StringComparison.Ordinal) + key.Length;
            return json.Substring(start, json.IndexOf('"', start) - start);
        }

        private static long LittleEndian(byte[] bytes, int offset, int count)
        {
            long v = 0;
            for (int k = count - 1; k >= 0; k--)
                v = (v << 8) | bytes[offset + k];
            if (count == 4)
                v = (int)v;
            return v;
        }

        private static void Check(bool ok, string what)
        {
            Console.WriteLine((ok ? "ok " : "FAIL ") + what);
            if (!ok)
                _failures++;
        }

        private static int UnitChecks()
        {
            PackedChecks();

            // Seq numbers, resume after welcome, acknowledge.
            var q = new BatchQueue(1, 5, 100);
            for (int i = 0; i < 5; i++)
                q.AddTick("ES", new TickEvent(i, 1.0, 1, double.NaN, double.NaN));
            var unsent = q.Unsent();
            Check(unsent.Count == 5 && unsent[0].Seq == 1 && unsent[4].Seq == 5, "seq 1..5");
            q.ResumeFrom(2);
            unsent = q.Unsent();
            Check(unsent.Count == 3 && unsent[0].Seq == 3 && q.BufferedCount == 3, "resume after last_seq 2 resends 3..5");
            q.MarkSent(5);
            Check(q.Unsent().Count == 0, "nothing unsent after MarkSent");
            q.Acknowledge(4);
            Check(q.BufferedCount == 1, "ack 4 keeps 5 buffered");
            q.ResumeFrom(4);
            Check(q.Unsent().Count == 1 && q.Unsent()[0].Seq == 5, "reconnect resends the unacknowledged batch");

            // A server ahead of us (a previous run under the same client name): renumber.
            var r = new BatchQueue(1, 5, 100);
            r.AddTick("ES", new TickEvent(1, 1.0, 1, double.NaN, double.NaN));
            r.AddTick("ES", new TickEvent(2, 1.0, 1, double.NaN, double.NaN));
            r.ResumeFrom(41);
            unsent = r.Unsent();
            Check(unsent.Count == 2 && unsent[0].Seq == 42 && unsent[1].Seq == 43 && r.NextSeq == 44, "renumber after last_seq 41");

            // Drop-oldest when the buffer is full.
            var d = new BatchQueue(1, 5, 3);
            long droppedSeen = 0;
            d.BatchesDropped += n => droppedSeen += n;
            for (int i = 0; i < 5; i++)
                d.AddTick("ES", new TickEvent(i, 1.0, 1, double.NaN, double.NaN));
            unsent = d.Unsent();
            Check(unsent.Count == 3 && unsent[0].Seq == 3 && d.DroppedBatches == 2 && droppedSeen == 2, "drop-oldest keeps 3..5");

            // Time-triggered flush.
            var t = new BatchQueue(1000, 20, 100);
            t.AddTick("ES", new TickEvent(1, 1.0, 1, double.NaN, double.NaN));
            Check(t.FlushDue(false) == 0 && t.Unsent().Count == 0, "not due before the delay");
            Thread.Sleep(40);
            Check(t.FlushDue(false) == 1 && t.Unsent().Count == 1, "due after the delay");

            // The first pending event wakes the sender (so the delay is timed from it).
            var w = new BatchQueue(1000, 1000, 100);
            w.BatchReady.WaitOne(0);
            w.AddTick("ES", new TickEvent(1, 1.0, 1, double.NaN, double.NaN));
            Check(w.BatchReady.WaitOne(0), "a new pending batch wakes the sender");

            // Snapshot seals what was pending first.
            var s = new BatchQueue(1000, 1000, 100);
            s.AddTick("ES", new TickEvent(1, 1.0, 1, double.NaN, double.NaN));
            long snapSeq = s.AddSnapshot("ES", new List<DepthEvent>());
            unsent = s.Unsent();
            Check(snapSeq == 2 && unsent.Count == 2 && !unsent[0].Snapshot && unsent[1].Snapshot, "snapshot after pending");

            // Server messages.
            var ack = ServerMessage.Parse("{\"type\":\"ack\",\"seq\":17,\"instrument\":\"ESH4\",\"duplicate\":false,"
                + "\"applied\":{\"depth\":1},\"rejected\":{},\"stale\":true,\"book\":{\"bid\":4810.0},"
                + "\"metrics\":{\"mid\":4810.125},\"signals\":[{\"detector\":\"absorption\",\"evidence\":{}}],\"processing_us\":84.0}");
            Check(ack.Type == "ack" && ack.Seq == 17 && ack.Stale && !ack.Duplicate && ack.Instrument == "ESH4", "parse ack");
            var snap = ServerMessage.Parse("{\"type\": \"snapshot_request\", \"instrument\": \"ES 03-24\", \"reason\": \"gap\", \"expected_seq\": 18, \"got_seq\": 20}");
            Check(snap.Type == "snapshot_request" && snap.Instrument == "ES 03-24" && snap.Reason == "gap" && snap.ExpectedSeq == 18 && snap.GotSeq == 20, "parse snapshot_request");
            var err = ServerMessage.Parse("{\"type\":\"error\",\"seq\":17,\"field\":\"depth[3].price\",\"reason\":\"Expected `float`, got `str`\",\"code\":\"bad_request\"}");
            Check(err.Type == "error" && err.Seq == 17 && err.Field == "depth[3].price" && err.Reason == "Expected `float`, got `str`", "parse error");
            var welcome = ServerMessage.Parse("{\"type\":\"welcome\",\"protocol\":1,\"server\":\"orderflow 0.3.0\",\"session\":\"a\\u00e9\\\"\",\"last_seq\":16}");
            Check(welcome.Type == "welcome" && welcome.LastSeq == 16 && welcome.Session == "a\u00e9\"", "parse welcome");
            bool threw = false;
            try { ServerMessage.Parse("{\"type\":"); }
            catch (FormatException) { threw = true; }
            Check(threw, "malformed JSON is a FormatException");

            // Commands: parsing, validation, and the ledger that never executes one twice.
            var cmd = ServerMessage.Parse("{\"type\":\"command\",\"command_seq\":3,\"op\":\"submit\",\"cid\":\"l-1\",\"instrument\":\"ES 03-24\","
                + "\"action\":\"SellShort\",\"order_type\":\"StopLimit\",\"quantity\":2,\"limit_price\":4805.75,\"stop_price\":4806,"
                + "\"oco\":\"g1\",\"series\":1,\"t\":1703545200000000001}");
            OrderCommand c = cmd.Command;
            Check(c != null && c.CommandSeq == 3 && c.Op == "submit" && c.Cid == "l-1" && c.Instrument == "ES 03-24"
                && c.Action == "SellShort" && c.OrderType == "StopLimit" && c.Quantity == 2 && c.LimitPrice == 4805.75
                && c.StopPrice == 4806.0 && c.Oco == "g1" && c.Series == 1 && c.T == 1703545200000000001L && c.Validate() == null,
                "parse a submit command");
            var cancel = ServerMessage.Parse("{\"type\":\"command\",\"command_seq\":4,\"op\":\"cancel\",\"cid\":\"l-1\",\"instrument\":\"ES 03-24\","
                + "\"action\":null,\"order_type\":null,\"quantity\":0,\"limit_price\":0.0,\"stop_price\":0.0,\"oco\":\"\",\"series\":0,\"t\":0}").Command;
            Check(cancel.Action == "" && cancel.OrderType == "" && cancel.Validate() == null, "parse a cancel (null action and type)");
            Check(c.Reason == "" && cancel.Reason == "", "a command without a reason has none");
            var exit = ServerMessage.Parse("{\"type\":\"command\",\"command_seq\":5,\"op\":\"submit\",\"cid\":\"of-1.flat1\",\"instrument\":\"ES 03-24\","
                + "\"action\":\"Sell\",\"order_type\":\"Market\",\"quantity\":1,\"reason\":\"absorption_against absorption 19237\"}").Command;
            Check(exit.Reason == "absorption_against absorption 19237" && exit.Validate() == null, "an exit's command carries its reason");
            Check(Invalid("\"op\":\"submit\",\"cid\":\"a\",\"action\":\"Buy\",\"order_type\":\"Limit\",\"quantity\":1") == "limit_price: required for Limit", "Limit needs a limit price");
            Check(Invalid("\"op\":\"submit\",\"cid\":\"a\",\"action\":\"Buy\",\"order_type\":\"MIT\",\"quantity\":1,\"limit_price\":1.5") == "stop_price: required for MIT", "MIT needs a stop price");
            Check(Invalid("\"op\":\"submit\",\"cid\":\"a\",\"action\":\"Long\",\"order_type\":\"Market\",\"quantity\":1").StartsWith("action:"), "unknown action");
            Check(Invalid("\"op\":\"submit\",\"cid\":\"a\",\"action\":\"Buy\",\"order_type\":\"Market\",\"quantity\":0") == "quantity: must be positive to submit", "submit needs a quantity");
            Check(Invalid("\"op\":\"change\",\"cid\":\"a\",\"quantity\":0") == "quantity: must be positive to change", "change needs a quantity");
            Check(Invalid("\"op\":\"cancel\",\"cid\":\"a b\"").StartsWith("cid:"), "a cid with a space is refused");
            Check(Invalid("\"op\":\"cancel\",\"cid\":\"" + new string('x', 51) + "\"").StartsWith("cid:"), "a cid of 51 characters is refused");
            Check(Invalid("\"op\":\"cancel\",\"cid\":\"" + new string('x', 50) + "\"") == null, "a cid of 50 characters is fine");
            Check(Invalid("\"op\":\"change\",\"cid\":\"a\",\"quantity\":1,\"limit_price\":\"x\"") == "limit_price: must be a number >= 0", "a price that is not a number");
            Check(Invalid("\"op\":\"flatten\",\"cid\":\"a\"").StartsWith("op:"), "unknown op");

            var ledger = new CommandLedger(3);
            string st, why;
            var c1 = Command(1, "a");
            Check(ledger.Begin(c1, out st, out why) == CommandDisposition.Execute, "a new command is executed");
            Check(ledger.Begin(Command(1, "a"), out st, out why) == CommandDisposition.InFlight, "its resend while it waits is not executed");
            ledger.Complete(c1, "done", "");
            Check(ledger.Begin(Command(1, "a"), out st, out why) == CommandDisposition.Answered && st == "done" && why == "", "a resend after the answer gets the same answer");
            var c2 = Command(2, "b");
            ledger.Begin(c2, out st, out why);
            ledger.Complete(c2, "refused", "cid: no order b");
            Check(ledger.Begin(Command(2, "b"), out st, out why) == CommandDisposition.Answered && st == "refused" && why == "cid: no order b", "a refusal is repeated");
            Check(ledger.Begin(Command(2, "z"), out st, out why) == CommandDisposition.Answered && st == "refused" && why.Contains("already used for cid b"), "a command_seq reused for another cid is refused");
            for (int i = 3; i <= 5; i++)
            {
                var ci = Command(i, "c" + i);
                ledger.Begin(ci, out st, out why);
                ledger.Complete(ci, "done", "");
            }
            Check(ledger.Count == 3, "at most Capacity answers are kept");
            Check(ledger.Begin(Command(1, "a"), out st, out why) == CommandDisposition.Answered && st == "refused" && why.Contains("older than the last 3"), "a forgotten command is never executed again");
            var inflight = Command(6, "d");
            ledger.Begin(inflight, out st, out why);
            ledger.Reset();
            Check(!ledger.Complete(inflight, "done", ""), "an answer for an earlier server session is not sent");
            Check(ledger.Begin(Command(1, "new"), out st, out why) == CommandDisposition.Execute, "a new server session numbers from 1 again");

            var oq = new BatchQueue(100, 60000, 100);
            oq.AddOrder("ES", new OrderEvent(1, "a", "Working", 1, 0, 0, 0, 0, "", "NoError", ""));
            oq.AddExecution("ES", new ExecutionEvent(2, "a", "x", 1.0, 1, "Long", "", 0));
            oq.AddPosition("ES", new PositionEvent(3, "Long", 1, 1.0, ""));
            oq.AddExecution("ES", new ExecutionEvent(4, "a", "y", 1.0, 1, "Long", "", 0));
            oq.AddOrder("ES", new OrderEvent(5, "a", "Filled", 2, 2, 1.0, 0, 0, "", "NoError", ""));
            oq.AddPosition("ES", new PositionEvent(6, "Long", 2, 1.0, ""));
            oq.FlushAll();
            unsent = oq.Unsent();
            Check(unsent.Count == 3 && unsent[0].EventCount == 3 && unsent[1].Executions.Count == 1 && unsent[2].Orders.Count == 1
                && unsent[2].Positions.Count == 1, "order, execution, position: a new batch whenever the order would change");

            // Doubles round-trip exactly.
            var rnd = new Random(7);
            bool allExact = true;
            for (int i = 0; i < 100000 && allExact; i++)
            {
                double v = BitConverter.Int64BitsToDouble((long)(rnd.NextDouble() * long.MaxValue));
                if (double.IsNaN(v) || double.IsInfinity(v))
                    continue;
                var sb = new System.Text.StringBuilder();
                OrderflowJson.AppendDouble(sb, v);
                allExact = double.Parse(sb.ToString(), NumberStyles.Float, CultureInfo.InvariantCulture) == v;
            }
            Check(allExact, "100000 random doubles round-trip");

            Console.WriteLine(_failures == 0 ? "all checks passed" : _failures + " check(s) failed");
            return _failures == 0 ? 0 : 1;
        }

        private static OrderCommand Command(long seq, string cid)
        {
            return new OrderCommand { CommandSeq = seq, Cid = cid, Op = "cancel", Instrument = "ES" };
        }

        private static string Invalid(string fields)
        {
            return ServerMessage.Parse("{\"type\":\"command\",\"command_seq\":1,\"instrument\":\"ES 03-24\"," + fields + "}").Command.Validate();
        }

        /// <summary>
        /// --commands: server messages on stdin, one a line. For each command: "parsed " and
        /// its fields as JSON, then "ack " and the command_ack the transport sends for it
        /// (a valid new command counts as executed: "done"; a resend gets its first answer).
        /// Last line: "executed N".
        /// </summary>
        private static int Commands()
        {
            var ledger = new CommandLedger(1000);
            int executed = 0;
            string line;
            while ((line = Console.In.ReadLine()) != null)
            {
                if (line.Trim().Length == 0)
                    continue;
                OrderCommand c = ServerMessage.Parse(line).Command;
                if (c == null)
                    continue;
                var sb = new System.Text.StringBuilder();
                sb.Append("parsed {\"command_seq\":").Append(c.CommandSeq.ToString(CultureInfo.InvariantCulture));
                sb.Append(",\"op\":");
                OrderflowJson.AppendString(sb, c.Op);
                sb.Append(",\"cid\":");
                OrderflowJson.AppendString(sb, c.Cid);
                sb.Append(",\"instrument\":");
                OrderflowJson.AppendString(sb, c.Instrument);
                sb.Append(",\"action\":");
                OrderflowJson.AppendString(sb, c.Action);
                sb.Append(",\"order_type\":");
                OrderflowJson.AppendString(sb, c.OrderType);
                sb.Append(",\"quantity\":").Append(c.Quantity.ToString(CultureInfo.InvariantCulture));
                sb.Append(",\"limit_price\":");
                OrderflowJson.AppendDouble(sb, c.LimitPrice);
                sb.Append(",\"stop_price\":");
                OrderflowJson.AppendDouble(sb, c.StopPrice);
                sb.Append(",\"oco\":");
                OrderflowJson.AppendString(sb, c.Oco);
                sb.Append(",\"series\":").Append(c.Series.ToString(CultureInfo.InvariantCulture));
                sb.Append(",\"t\":").Append(c.T.ToString(CultureInfo.InvariantCulture));
                sb.Append(",\"reason\":");
                OrderflowJson.AppendString(sb, c.Reason);
                sb.Append('}');
                Console.WriteLine(sb.ToString());
                if (!c.CanBeAnswered)
                {
                    Console.WriteLine("unanswerable");
                    continue;
                }
                string status, reason;
                if (ledger.Begin(c, out status, out reason) == CommandDisposition.Execute)
                {
                    reason = c.Validate();
                    status = reason == null ? "done" : "refused";
                    if (reason == null)
                        executed++;
                    ledger.Complete(c, status, reason);
                }
                Console.WriteLine("ack " + OrderflowJson.CommandAck(c.Cid, c.CommandSeq, status, reason));
            }
            Console.WriteLine("executed " + executed);
            return 0;
        }

        private static int Idle(string url, int ms)
        {
            var transport = new OrderflowTransport(new TransportOptions { Url = url, ClientName = "nt8-idle", HeartbeatMs = 100 });
            transport.Log += text => Console.Error.WriteLine("log: " + text);
            transport.Start();
            Thread.Sleep(ms);
            bool connected = transport.IsConnected;
            var clock = System.Diagnostics.Stopwatch.StartNew();
            transport.Stop("idle done", 3000);
            Console.Error.WriteLine("stop took " + clock.ElapsedMilliseconds + " ms");
            return connected ? 0 : 1;
        }

        // Mode (b): for the end-to-end test once the server exists.
        private static int SendFile(string url, string path, string client, int maxBatchEvents, bool printViews)
        {
            return SendFile(url, path, client, maxBatchEvents, printViews, 0);
        }

        private static int SendFile(string url, string path, string client, int maxBatchEvents, bool printViews, int clusterGranularity)
        {
            var options = new TransportOptions { Url = url, ClientName = client, MaxBatchEvents = maxBatchEvents,
                                                 ClusterGranularity = clusterGranularity };
            var transport = new OrderflowTransport(options);
            var done = new ManualResetEvent(false);
            transport.Log += text => Console.Error.WriteLine("log: " + text);
            transport.AckReceived += m =>
            {
                lock (Console.Out)
                    Console.WriteLine(m.Raw);
                if (transport.Queue.BufferedCount == 0 && transport.Queue.PendingEventCount == 0)
                    done.Set();
            };
            transport.SnapshotRequested += m => Console.Error.WriteLine("snapshot_request: " + m.Raw);
            transport.ServerError += m => Console.Error.WriteLine("error: " + m.Raw);

            int events = 0;
            foreach (string raw in File.ReadAllLines(path))
            {
                string line = raw.Trim();
                if (line.Length == 0 || line[0] == '#')
                    continue;
                string[] f = line.Split(',');
                if (f.Length != 8)
                    throw new FormatException("expected 8 fields: " + line);
                var e = new DepthEvent(
                    long.Parse(f[1], CultureInfo.InvariantCulture),
                    f[2].Trim() == "ask" ? BookSide.Ask : BookSide.Bid,
                    ParseOp(f[3].Trim()),
                    int.Parse(f[4], CultureInfo.InvariantCulture),
                    double.Parse(f[5], NumberStyles.Float, CultureInfo.InvariantCulture),
                    long.Parse(f[6], CultureInfo.InvariantCulture),
                    f[7].Trim() == "1" || f[7].Trim() == "true");
                transport.EnqueueDepth(f[0], e);
                events++;
            }
            transport.Queue.FlushAll();
            transport.Start();
            bool ok = events == 0 || done.WaitOne(30000);
            if (printViews)
            {
                var names = new SortedSet<string>();
                foreach (string raw in File.ReadAllLines(path))
                {
                    string line = raw.Trim();
                    if (line.Length > 0 && line[0] != '#')
                        names.Add(line.Split(',')[0]);
                }
                foreach (string name in names)
                    Console.WriteLine("view " + ViewChecks.ToJson(transport.View(name)));
            }
            transport.Stop("self-test done", 3000);
            Console.Error.WriteLine(ok ? "all batches acknowledged" : "timed out waiting for acks");
            return ok ? 0 : 1;
        }

        private static DepthOperation ParseOp(string op)
        {
            if (op == "add")
                return DepthOperation.Add;
            if (op == "update")
                return DepthOperation.Update;
            if (op == "remove")
                return DepthOperation.Remove;
            throw new FormatException("unknown op " + op);
        }
    }
}
