// StrategyHarness.cs - drives OrderflowStrategy through the stub on Linux (test only, never
// ships): states SetDefaults -> DataLoaded -> Realtime -> Terminated, a few OnMarketDepth,
// OnMarketData and OnBarUpdate calls with NinjaTrader's enums and local DateTimes, against the
// server at the URL given as argument. The stub's TriggerCustomEvent runs inline, so snapshot
// requests are answered on the transport's thread here (NinjaTrader runs them on its own).
//
//   mono OrderflowStrategyHarness.exe ws://127.0.0.1:PORT/ws [--orders | --example]
//
// --example: OrderflowExampleStrategy fed scripted server answers on stdin (see Example).
//
// --orders: after the market data, prints "ready" once connected and acknowledged, then stays
// in State.Realtime executing the server's order commands through the stub (Market orders fill
// at 4810.25 in executions of 1 contract), and reads lines on stdin, each answered "ok LINE":
//   fill CID QTY PRICE   the market fills QTY of the working order CID at PRICE
//   reject COMMENT       the next submit is rejected with this comment
//   state NAME           the strategy's State becomes NAME (e.g. Historical, Realtime)
//   replay-exec          the last execution is raised again (same execution id)
//   sync                 waits until every batch is acknowledged
//   ladder SIDE P:V ...  Instrument.MarketDepth's SIDE (bid/ask) becomes these rows, best first
//   depth SIDE OP POS PRICE VOLUME   OnMarketDepth raised with that event (OP add/update/remove)
//   skipped              prints "skipped N": snapshot requests and stale acks throttled so far
// At the end of stdin: waits for the acks, Terminated, prints "stub submits=N changes=N cancels=N".

using System;
using System.Threading;
using NinjaTrader.Cbi;
using NinjaTrader.Data;
using NinjaTrader.NinjaScript;
using NinjaTrader.NinjaScript.Strategies;

namespace NinjaTraderStub
{
    public sealed class HarnessStrategy : OrderflowStrategy
    {
        public void Enter(State state)
        {
            State = state;
            OnStateChange();
        }

        public bool Connected
        {
            get { return Transport != null && Transport.IsConnected; }
        }

        public int Unacknowledged
        {
            get { return Transport == null ? 0 : Transport.Queue.BufferedCount + Transport.Queue.PendingEventCount; }
        }

        public void Depth(MarketDepthEventArgs e) { OnMarketDepth(e); }

        public long SnapshotsSkipped
        {
            get { return Transport == null ? 0 : Transport.SnapshotsSkipped; }
        }
        public void Data(MarketDataEventArgs e) { OnMarketData(e); }
        public void Bar(int bip)
        {
            BarsInProgress = bip;
            OnBarUpdate();
        }
    }

    /// <summary>OrderflowExampleStrategy through the stub (--example).</summary>
    public sealed class ExampleHarness : OrderflowExampleStrategy
    {
        public void Enter(State state)
        {
            State = state;
            OnStateChange();
        }

        public void Bar(int bip)
        {
            BarsInProgress = bip;
            OnBarUpdate();
        }

        /// <summary>A server message, as the transport's receiver thread would get it.</summary>
        public void Answer(string text) { Transport.Receive(text); }

        public long MalformedAnswers
        {
            get { return Transport == null ? 0 : Transport.MalformedAnswers; }
        }
    }

    public static class Harness
    {
        [System.Runtime.InteropServices.DllImport("libc")]
        private static extern void _exit(int status);

        private static void WaitAcknowledged(HarnessStrategy s, int timeoutMs)
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            while ((s.Unacknowledged > 0 || !s.Connected) && clock.ElapsedMilliseconds < timeoutMs)
                Thread.Sleep(5);
        }

        private static void Orders(HarnessStrategy s)
        {
            lock (s.StubGate)
            {
                s.StubFillPrice = 4810.25;
                s.StubFillChunk = 1;
                s.StubCommissionPerContract = 0.31;
                s.StubNow = new DateTime(2024, 1, 2, 9, 30, 0, DateTimeKind.Unspecified); // 14:30 UTC
            }
            Console.WriteLine("ready IsUnmanaged=" + s.IsUnmanaged + " RealtimeErrorHandling=" + s.RealtimeErrorHandling);
            Console.Out.Flush();
            string line;
            while ((line = Console.In.ReadLine()) != null)
            {
                string[] f = line.Trim().Split(new[] { ' ' }, 2);
                if (f[0] == "sync")
                    WaitAcknowledged(s, 20000);
                else if (f[0] == "ladder")
                    SetLadder(s.Instrument, f[1].Split(' '));
                else if (f[0] == "depth")
                    RaiseDepth(s, f[1].Split(' '));
                else if (f[0] == "skipped")
                    Console.WriteLine("skipped " + s.SnapshotsSkipped);
                else
                {
                    lock (s.StubGate)
                    {
                        if (f[0] == "fill")
                        {
                            string[] a = f[1].Split(' ');
                            Order order = s.StubOrders.Find(o => o.Name == a[0]);
                            s.StubFill(order, int.Parse(a[1], System.Globalization.CultureInfo.InvariantCulture),
                                double.Parse(a[2], System.Globalization.CultureInfo.InvariantCulture));
                        }
                        else if (f[0] == "reject")
                            s.StubRejectComment = f.Length > 1 ? f[1] : "";
                        else if (f[0] == "state")
                            s.State = (State)Enum.Parse(typeof(State), f[1]);
                        else if (f[0] == "replay-exec")
                            s.StubReplayLastExecution();
                        else
                        {
                            Console.WriteLine("unknown " + line);
                            Console.Out.Flush();
                            continue;
                        }
                    }
                }
                Console.WriteLine("ok " + line);
                Console.Out.Flush();
            }
            WaitAcknowledged(s, 20000);
        }

        private static void SetLadder(Instrument instrument, string[] a)
        {
            var inv = System.Globalization.CultureInfo.InvariantCulture;
            lock (instrument.SyncMarketDepth)
            {
                var rows = a[0] == "bid" ? instrument.MarketDepth.Bids : instrument.MarketDepth.Asks;
                rows.Clear();
                for (int i = 1; i < a.Length; i++)
                {
                    string[] pv = a[i].Split(':');
                    rows.Add(new MarketDepthRow { Price = double.Parse(pv[0], inv), Volume = long.Parse(pv[1], inv), Time = DateTime.Now });
                }
            }
        }

        private static void RaiseDepth(HarnessStrategy s, string[] a)
        {
            var inv = System.Globalization.CultureInfo.InvariantCulture;
            s.Depth(new MarketDepthEventArgs
            {
                Instrument = s.Instrument,
                MarketDataType = a[0] == "bid" ? MarketDataType.Bid : MarketDataType.Ask,
                Operation = a[1] == "add" ? Operation.Add : a[1] == "remove" ? Operation.Remove : Operation.Update,
                Position = int.Parse(a[2], inv),
                Price = double.Parse(a[3], inv),
                Volume = long.Parse(a[4], inv),
                Time = DateTime.Now,
            });
        }

        private static StubSeries<T> Series<T>(params T[] oldestFirst)
        {
            var s = new StubSeries<T>();
            s.Values.AddRange(oldestFirst);
            return s;
        }

        /// <summary>
        /// --example: OrderflowExampleStrategy in State.Realtime on ES 03-24 (tick 0.25), its
        /// transport pointed at URL (nothing needs to listen there). stdin, one command a line,
        /// each answered "ok LINE":
        ///   answer JSON        a server message (ack, state) handed to the transport
        ///   bar CLOSE          the forming bar's close becomes CLOSE; OnBarUpdate
        ///   fill NAME QTY PX   the market fills QTY of the working order NAME at PX
        ///   reject COMMENT     the next submit is rejected with this comment
        /// At the end: "order NAME ACTION TYPE QTY STOP STATE" per order submitted, oldest first,
        /// and "malformed N".
        /// </summary>
        private static void Example(string url, DateTime t0)
        {
            var inv = System.Globalization.CultureInfo.InvariantCulture;
            var es = new Instrument { FullName = "ES 03-24", MarketDepth = new MarketDepth<MarketDepthRow>() };
            var s = new ExampleHarness();
            s.Enter(State.SetDefaults);
            s.ServerUrl = url;
            s.ClientName = "nt8-example";
            s.ReportOnConnect = false;
            s.Instrument = es;
            s.TickSize = 0.25;
            s.BarsArray = new[] { new Bars { Instrument = es } };
            s.BarsPeriods = new[] { new BarsPeriod { BarsPeriodType = BarsPeriodType.Minute, Value = 1 } };
            s.CurrentBars = new[] { 1 };
            var closes = Series(4810.0, 4810.0);
            s.Times = new ISeries<DateTime>[] { Series(t0.AddMinutes(-1), t0) };
            s.Opens = new ISeries<double>[] { Series(4809.5, 4810.0) };
            s.Highs = new ISeries<double>[] { Series(4810.25, 4812.0) };
            s.Lows = new ISeries<double>[] { Series(4809.25, 4808.0) };
            s.Closes = new ISeries<double>[] { closes };
            s.Volumes = new ISeries<double>[] { Series(812.0, 97.0) };
            lock (s.StubGate)
            {
                s.StubFillPrice = 4810.25;
                s.StubFillChunk = 0;
            }
            s.Enter(State.Configure);
            s.Enter(State.DataLoaded);
            s.Enter(State.Historical);
            s.Enter(State.Transition);
            s.Enter(State.Realtime);
            string line;
            while ((line = Console.In.ReadLine()) != null)
            {
                string[] f = line.Trim().Split(new[] { ' ' }, 2);
                if (f[0] == "answer")
                    s.Answer(f[1]);
                else
                {
                    lock (s.StubGate)
                    {
                        if (f[0] == "bar")
                        {
                            closes.Values[closes.Values.Count - 1] = double.Parse(f[1], inv);
                            s.IsFirstTickOfBar = false;
                            s.Bar(0);
                        }
                        else if (f[0] == "fill")
                        {
                            string[] a = f[1].Split(' ');
                            Order order = s.StubOrders.Find(o => o.Name == a[0]);
                            s.StubFill(order, int.Parse(a[1], inv), double.Parse(a[2], inv));
                        }
                        else if (f[0] == "reject")
                            s.StubRejectComment = f.Length > 1 ? f[1] : "";
                        else
                        {
                            Console.WriteLine("unknown " + line);
                            continue;
                        }
                    }
                }
                Console.WriteLine("ok " + line);
            }
            lock (s.StubGate)
            {
                foreach (Order o in s.StubOrders)
                    Console.WriteLine("order " + o.Name + " " + o.OrderAction + " " + o.OrderType + " " + o.Quantity + " "
                        + o.StopPrice.ToString("R", inv) + " " + o.OrderState);
            }
            Console.WriteLine("malformed " + s.MalformedAnswers);
            s.Enter(State.Terminated);
        }

        public static int Main(string[] args)
        {
            if (args.Length < 1)
            {
                Console.Error.WriteLine("usage: OrderflowStrategyHarness.exe URL");
                return 2;
            }
            TimeZoneInfo eastern;
            try { eastern = TimeZoneInfo.FindSystemTimeZoneById("America/New_York"); }
            catch (TimeZoneNotFoundException) { eastern = TimeZoneInfo.FindSystemTimeZoneById("Eastern Standard Time"); }
            NinjaTrader.Core.Globals.GeneralOptions.TimeZoneInfo = eastern;

            // 2023-12-25 18:00:00 New York = 1703545200000000000 ns UTC.
            var t0 = new DateTime(2023, 12, 25, 18, 0, 0, DateTimeKind.Unspecified);
            if (args.Length >= 2 && args[1] == "--example")
            {
                Example(args[0], t0);
                Console.Out.Flush();
                _exit(0);
            }
            var es = new Instrument { FullName = "ES 03-24", MarketDepth = new MarketDepth<MarketDepthRow>() };
            es.MarketDepth.Bids.Add(new MarketDepthRow { Price = 4810.0, Volume = 40, Time = t0 });
            es.MarketDepth.Bids.Add(new MarketDepthRow { Price = 4809.75, Volume = 12, Time = t0 });
            es.MarketDepth.Asks.Add(new MarketDepthRow { Price = 4810.25, Volume = 28, Time = t0 });
            es.MarketDepth.Asks.Add(new MarketDepthRow { Price = 4810.5, Volume = 9, Time = t0 });

            var s = new HarnessStrategy();
            s.Enter(State.SetDefaults);
            s.ServerUrl = args[0];
            s.ClientName = "nt8-harness";
            foreach (string a in args)  // the original design's feature flags
            {
                if (a == "--no-helper") s.UsePythonHelper = false;
                if (a == "--historical-only") s.HistoricalOnly = true;
                if (a == "--debug") s.DebugMode = true;
                if (a.StartsWith("--cluster-increment=", StringComparison.Ordinal))
                    s.ClusterIncrementTicks = int.Parse(a.Substring("--cluster-increment=".Length), System.Globalization.CultureInfo.InvariantCulture);
            }
            s.MaxBatchDelayMs = 1;
            s.Instrument = es;
            s.BarsArray = new[] { new Bars { Instrument = es } };
            s.BarsPeriods = new[] { new BarsPeriod { BarsPeriodType = BarsPeriodType.Minute, Value = 1 } };
            s.CurrentBars = new[] { 1 };
            // Close times (NinjaTrader's bar time stamps): 17:59 and the forming 18:00 bar.
            s.Times = new ISeries<DateTime>[] { Series(t0.AddMinutes(-1), t0) };
            s.Opens = new ISeries<double>[] { Series(4809.5, 4810.0) };
            s.Highs = new ISeries<double>[] { Series(4810.25, 4810.5) };
            s.Lows = new ISeries<double>[] { Series(4809.25, 4809.75) };
            s.Closes = new ISeries<double>[] { Series(4810.0, 4810.25) };
            s.Volumes = new ISeries<double>[] { Series(812.0, 97.0) };
            s.Enter(State.Configure);
            s.Enter(State.DataLoaded);
            s.Enter(State.Historical);
            s.Enter(State.Transition);
            s.Enter(State.Realtime);

            s.Depth(new MarketDepthEventArgs { Instrument = es, MarketDataType = MarketDataType.Bid, Operation = Operation.Add, Position = 0, Price = 4810.0, Volume = 40, Time = t0 });
            s.Depth(new MarketDepthEventArgs { Instrument = es, MarketDataType = MarketDataType.Ask, Operation = Operation.Add, Position = 0, Price = 4810.25, Volume = 28, Time = t0.AddMilliseconds(1) });
            s.Depth(new MarketDepthEventArgs { Instrument = es, MarketDataType = MarketDataType.Ask, Operation = Operation.Update, Position = 0, Price = 4810.25, Volume = 30, Time = t0.AddMilliseconds(2) });
            s.Depth(new MarketDepthEventArgs { Instrument = es, MarketDataType = MarketDataType.Bid, Operation = Operation.Remove, Position = 1, Price = 4809.75, Volume = 0, Time = t0.AddMilliseconds(3) });
            s.Depth(new MarketDepthEventArgs { Instrument = es, MarketDataType = MarketDataType.Bid, Operation = Operation.Update, Position = 0, Price = 4810.0, Volume = 41, Time = t0.AddMilliseconds(4), IsReset = true });
            s.Depth(new MarketDepthEventArgs { Instrument = es, MarketDataType = MarketDataType.Last, Operation = Operation.Add, Position = 0, Price = 1.0, Volume = 1, Time = t0 }); // not depth: ignored
            s.Data(new MarketDataEventArgs { Instrument = es, MarketDataType = MarketDataType.Last, Price = 4810.25, Volume = 3, Bid = 4810.0, Ask = 4810.25, Time = t0.AddMilliseconds(5) });
            s.Data(new MarketDataEventArgs { Instrument = es, MarketDataType = MarketDataType.Last, Price = 4810.25, Volume = 0, Bid = 4810.0, Ask = 4810.25, Time = t0.AddMilliseconds(6) }); // no size: ignored
            s.Data(new MarketDataEventArgs { Instrument = es, MarketDataType = MarketDataType.Bid, Price = 4810.0, Volume = 40, Time = t0.AddMilliseconds(7) }); // not a trade: ignored
            s.Data(new MarketDataEventArgs { Instrument = es, MarketDataType = MarketDataType.Last, Price = 4810.5, Volume = 2, Bid = 0.0, Ask = 4810.5, Time = t0.AddMilliseconds(8) });
            s.IsFirstTickOfBar = true;
            s.Bar(0);

            // Let the connection, the snapshot request and the acks happen (at most 20 s).
            var clock = System.Diagnostics.Stopwatch.StartNew();
            while (s.UsePythonHelper && !s.Connected && clock.ElapsedMilliseconds < 20000)
                Thread.Sleep(10);
            Thread.Sleep(300);
            while (s.Unacknowledged > 0 && clock.ElapsedMilliseconds < 20000)
                Thread.Sleep(10);
            if (args.Length >= 2 && args[1] == "--orders")
                Orders(s);
            s.Enter(State.Terminated);
            if (args.Length >= 2 && args[1] == "--orders")
                Console.WriteLine("stub submits=" + s.StubSubmits + " changes=" + s.StubChanges + " cancels=" + s.StubCancels);
            Console.Out.Flush();
            Console.Error.Flush();
            _exit(0); // mono 6.8 may linger at shutdown over the socket's I/O threads, even in Environment.Exit
            return 0;
        }
    }
}
