// OrderflowStrategy.cs - the NinjaScript half of the orderflow bridge for NinjaTrader 8.
//
// Install: copy this file and OrderflowTransport.cs (never the stub/ folder) into
// Documents\NinjaTrader 8\bin\Custom\Strategies and compile with F5 in the NinjaScript editor.
// See README.md.
//
// What it forwards, verbatim, to the orderflow server (docs/protocol.md, version 2):
//   OnMarketDepth  -> depth events (side, op, pos, price, size, reset)
//   OnMarketData   -> Last events as ticks, with the inside bid/ask at that moment
//   OnBarUpdate    -> bars of every series (BarsInProgress), open time and OHLCV
// and it answers the server's snapshot_request with the whole ladder (a snapshot batch).
// What the server answers (metrics, clusters, profile, signals, bar metrics) the transport
// builds into an OrderflowView per instrument; a subclass reads it as Orderflow in OnBarUpdate
// (see OrderflowExampleStrategy.cs, which decides in C# from it).
//
// Orders (unmanaged): the server's `command` messages (submit, change, cancel, each with our
// client id `cid`) are executed with SubmitOrderUnmanaged / ChangeOrder / CancelOrder on
// NinjaTrader's thread (TriggerCustomEvent), only in State.Realtime, and answered with a
// `command_ack` (done: the call was made; refused: why not). The cid is the order's signalName;
// the strategy keeps its own cid -> Order map. OnOrderUpdate, OnExecutionUpdate and
// OnPositionUpdate are forwarded by value, in the order NinjaTrader raised them, in the
// sequenced batches (orders, executions, positions). RealtimeErrorHandling is IgnoreAllErrors:
// a rejected order does not stop the strategy (which would also stop the data); the Rejected
// state, its ErrorCode and the broker's comment are forwarded, and the server decides.
//
// Threading (NinjaTrader rules, Help Guide "Multi-Threading" and "TriggerCustomEvent"):
//   * The On* handlers run on NinjaTrader's threads. They only enqueue into the transport,
//     which takes one short lock and never waits on the network.
//   * The transport's own threads raise the server's events. Anything that touches NinjaScript
//     state (Instrument.MarketDepth, bars, later orders) is marshalled back with
//     TriggerCustomEvent, which NinjaTrader runs on its thread with the script's context set.
//   * Sockets/threads are created in State.DataLoaded (never in SetDefaults/Configure, which
//     run whenever a UI lists the strategy) and closed in State.Terminated.

#region Using declarations
using System;
using System.Collections.Generic;
using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Runtime.CompilerServices;
using System.Xml.Serialization;
using NinjaTrader.Cbi;
using NinjaTrader.Data;
using NinjaTrader.Gui.Chart;
using Orderflow.Bridge;
#endregion

namespace NinjaTrader.NinjaScript.Strategies
{
    public class OrderflowStrategy : Strategy
    {
        private OrderflowTransport transport;
        // Set first thing in State.Terminated: the transport's threads then stop calling into
        // NinjaScript (TriggerCustomEvent/Print) while Stop waits for them.
        private volatile bool terminating;
        private TimeZoneInfo platformZone;
        // Instruments seen so far (primary, added series, depth events), by FullName.
        private readonly Dictionary<string, Instrument> instruments = new Dictionary<string, Instrument>();
        private readonly object instrumentsLock = new object();

        // Orders. Commands arrive on the transport's receiver thread and wait here until
        // NinjaTrader's thread (TriggerCustomEvent) executes them, in arrival order.
        private readonly Queue<OrderCommand> commandQueue = new Queue<OrderCommand>();
        private readonly object commandLock = new object();
        // Our client ids: cid -> Order, and the reverse by reference (Order's own Equals is
        // NinjaTrader's business; OrderId is not stable). Only touched on NinjaTrader's thread
        // and in the order events; locked anyway (cheap, and order events may come from other
        // threads in some connections).
        private readonly Dictionary<string, Order> ordersByCid = new Dictionary<string, Order>();
        private readonly Dictionary<Order, string> cidsByOrder = new Dictionary<Order, string>(new ReferenceComparer<Order>());
        private readonly object ordersLock = new object();
        // The cid being submitted: OnOrderUpdate runs inside SubmitOrderUnmanaged, before the
        // Order is returned, so the first updates are matched by their name.
        private string submittingCid;
        private int skippedOrderEvents;
        // The view of the primary instrument taken at the start of OnBarUpdate (see Orderflow).
        private OrderflowView orderflow = OrderflowView.Empty;

        #region Properties
        [Display(Name = "Server URL", Description = "WebSocket URL of the orderflow server", GroupName = "Orderflow server", Order = 1)]
        public string ServerUrl { get; set; }

        [PasswordPropertyText(true)]
        [Display(Name = "Token", Description = "Token sent in hello (required when the server is not on 127.0.0.1)", GroupName = "Orderflow server", Order = 2)]
        public string Token { get; set; }

        [Display(Name = "Token file", Description = "File holding the token, instead of Token (which the workspace saves in plain text)", GroupName = "Orderflow server", Order = 5)]
        public string TokenFile { get; set; }

        [Display(Name = "Client name", Description = "Names this sender; the server keeps sequence numbers per client. Empty: nt8-<instrument>", GroupName = "Orderflow server", Order = 3)]
        public string ClientName { get; set; }

        [Range(1, 100000)]
        [Display(Name = "Max events per batch", GroupName = "Batching", Order = 10)]
        public int MaxBatchEvents { get; set; }

        [Range(0, 10000)]
        [Display(Name = "Max batch delay (ms)", Description = "A batch is sent when its oldest event is this old", GroupName = "Batching", Order = 11)]
        public int MaxBatchDelayMs { get; set; }

        [Range(1, 10000000)]
        [Display(Name = "Max unacknowledged batches", Description = "Kept for resending after a reconnect; the oldest is dropped beyond this", GroupName = "Batching", Order = 12)]
        public int MaxBufferedBatches { get; set; }

        [Range(500, 5000)]
        [Display(Name = "Heartbeat (ms)", GroupName = "Batching", Order = 13)]
        public int HeartbeatMs { get; set; }

        [Display(Name = "Send historical data", Description = "Also forward historical bars (and Tick Replay ticks); depth is real-time only", GroupName = "Batching", Order = 14)]
        public bool SendHistoricalData { get; set; }

        [Display(Name = "Execute order commands", Description = "Execute the server's submit/change/cancel commands (in real time only); off: every command is refused", GroupName = "Orders", Order = 20)]
        public bool ExecuteCommands { get; set; }

        [Display(Name = "Reconcile on connect", Description = "After each connect, send NinjaTrader's positions and working orders; the server reconciles on them before it sends any new order", GroupName = "Orders", Order = 21)]
        public bool ReportOnConnect { get; set; }

        [Display(Name = "usePythonHelper", Description = "The original design's switch: off, this strategy neither connects to the server nor forwards anything", GroupName = "Feature flags", Order = 30)]
        public bool UsePythonHelper { get; set; }

        [Display(Name = "HistoricalOnly", Description = "The original design's switch: never place a live order; every command is refused", GroupName = "Feature flags", Order = 31)]
        public bool HistoricalOnly { get; set; }

        [Display(Name = "DebugMode", Description = "The original design's switch: print every command, its answer and every snapshot to the NinjaScript Output", GroupName = "Feature flags", Order = 32)]
        public bool DebugMode { get; set; }

        /// <summary>
        /// Tests only: also execute commands outside State.Realtime. Orders placed while
        /// Historical are resubmitted live at the transition and their Order references change
        /// (GetRealtimeOrder), which this bridge does not handle: never set it in NinjaTrader.
        /// </summary>
        [Browsable(false)]
        public bool AllowOrdersOutsideRealtime { get; set; }
        #endregion

        protected override void OnStateChange()
        {
            if (State == State.SetDefaults)
            {
                Name = "OrderflowStrategy";
                Description = "Forwards market depth, trades and bars to the orderflow server and reads its answers (protocol v2).";
                Calculate = Calculate.OnEachTick;
                BarsRequiredToTrade = 0;
                ServerUrl = "ws://127.0.0.1:8765/ws";
                Token = "";
                TokenFile = "";
                ClientName = "";
                MaxBatchEvents = 500;
                MaxBatchDelayMs = 5;
                MaxBufferedBatches = 20000;
                HeartbeatMs = 2000;
                SendHistoricalData = false;
                ExecuteCommands = true;
                UsePythonHelper = true;
                ReportOnConnect = true;
                HistoricalOnly = false;
                DebugMode = false;
                AllowOrdersOutsideRealtime = false;
                ChartDefaults();
                // Orders are the server's: unmanaged, and a rejection is reported, not acted on
                // by NinjaTrader (StopCancelClose would stop the strategy, and with it the data,
                // and flatten on its own). Overfills keep NinjaTrader's default (stop).
                IsUnmanaged = true;
                RealtimeErrorHandling = RealtimeErrorHandling.IgnoreAllErrors;
            }
            else if (State == State.DataLoaded && !UsePythonHelper)
            {
                Print("orderflow: usePythonHelper is off: not connecting, nothing is forwarded");
            }
            else if (State == State.DataLoaded)
            {
                // NinjaTrader's DateTimes are in the time zone set under Tools > Options > General.
                platformZone = NinjaTrader.Core.Globals.GeneralOptions.TimeZoneInfo;
                for (int i = 0; i < BarsArray.Length; i++)
                    Remember(BarsArray[i].Instrument);

                var options = new TransportOptions
                {
                    Url = ServerUrl,
                    Token = TransportOptions.ResolveToken(Token, TokenFile),
                    ClientName = string.IsNullOrEmpty(ClientName) ? "nt8-" + Instrument.FullName : ClientName,
                    MaxBatchEvents = MaxBatchEvents,
                    MaxBatchDelayMs = MaxBatchDelayMs,
                    MaxBufferedBatches = MaxBufferedBatches,
                    HeartbeatMs = HeartbeatMs,
                    Report = ReportOnConnect,
                    ClusterGranularity = ClusterIncrementTicks, // the server groups its clusters at the chart's increment
                };
                transport = new OrderflowTransport(options);
                // Raised on the transport's threads: Print only, or marshal with TriggerCustomEvent.
                transport.Log += text =>
                {
                    if (!terminating)
                        Print("orderflow: " + text);
                };
                transport.Connected += lastSeq =>
                {
                    if (!terminating)
                        TriggerCustomEvent(o => { SendSnapshots(null); SendReport(); }, null);
                };
                transport.SnapshotRequested += m =>
                {
                    if (!terminating)
                        TriggerCustomEvent(o => SendSnapshots((ServerMessage)o), m);
                };
                transport.MessageReceived += m =>
                {
                    if (!terminating && !IsBridgeMessage(m.Type))
                        TriggerCustomEvent(o => OnServerMessage((ServerMessage)o), m);
                };
                transport.CommandReceived += c =>
                {
                    lock (commandLock)
                        commandQueue.Enqueue(c);
                    if (!terminating)
                        TriggerCustomEvent(o => ExecuteQueuedCommands(), null);
                };
                transport.Start();
            }
            else if (State == State.Terminated)
            {
                // Terminated also runs for instances that never got past SetDefaults.
                terminating = true;
                if (chartRenderer != null)
                    chartRenderer.Dispose();
                if (transport != null)
                {
                    transport.Stop("strategy terminated", 2000);
                    transport = null;
                }
            }
        }

        /// <summary>
        /// Extension point: server messages of a type this bridge does not handle itself
        /// (anything but welcome, ack, state, snapshot_request, error, heartbeat and command),
        /// called on NinjaTrader's thread via TriggerCustomEvent. Protocol version 2 defines no
        /// such message; the base implementation ignores them.
        /// </summary>
        protected virtual void OnServerMessage(ServerMessage message)
        {
        }

        #region Chart (OrderflowRender.cs)
        private OrderflowRenderer chartRenderer;

        [Range(1, 1000)]
        [Display(Name = "Cluster increment (ticks)", Description = "Price granularity of the clusters drawn: ticks per band, sent to the server in the hello (cluster_granularity); no finer than the server's clusters.granularity", GroupName = "Chart", Order = 40)]
        public int ClusterIncrementTicks { get; set; }

        [Range(0.0, 1.0)]
        [Display(Name = "Cluster opacity", Description = "Fill opacity of a cluster of strength 0; it rises with strength", GroupName = "Chart", Order = 41)]
        public double ClusterOpacity { get; set; }

        [Range(0.0, 1.0)]
        [Display(Name = "Minimum cluster strength drawn", Description = "Weaker clusters are not drawn", GroupName = "Chart", Order = 42)]
        public double DrawnMinClusterStrength { get; set; }

        private void ChartDefaults()
        {
            var d = new OrderflowRenderSettings();
            ClusterIncrementTicks = 4;
            ClusterOpacity = d.BaseOpacity;
            DrawnMinClusterStrength = d.MinStrength;
        }

        /// <summary>The view OnRender draws: the transport's last swapped OrderflowView of the
        /// chart's instrument (read once per paint).</summary>
        protected virtual OrderflowView ChartView
        {
            get { return Instrument == null ? OrderflowView.Empty : OrderflowOf(Instrument.FullName); }
        }

        public override void OnRenderTargetChanged()
        {
            if (chartRenderer == null)
                chartRenderer = new OrderflowRenderer(new OrderflowRenderSettings
                {
                    BaseOpacity = ClusterOpacity,
                    MinStrength = DrawnMinClusterStrength,
                    TimeZone = NinjaTrader.Core.Globals.GeneralOptions.TimeZoneInfo,
                });
            chartRenderer.RenderTargetChanged(terminating ? null : RenderTarget);
        }

        protected override void OnRender(ChartControl chartControl, ChartScale chartScale)
        {
            OrderflowView v = ChartView;
            if (chartRenderer == null || terminating)
                return;
            string position = "Flat", pnl = "";
            Position[] positions = Positions;
            if (positions.Length > 0 && positions[0] != null && positions[0].MarketPosition != MarketPosition.Flat)
            {
                Position p = positions[0];
                int signed = p.MarketPosition == MarketPosition.Short ? -p.Quantity : p.Quantity;
                position = p.MarketPosition + " " + p.Quantity + " @ " + p.AveragePrice.ToString("0.00###", System.Globalization.CultureInfo.InvariantCulture);
                if (!double.IsNaN(v.Metrics.Mid))
                    pnl = ((v.Metrics.Mid - p.AveragePrice) * signed).ToString("+0.00;-0.00", System.Globalization.CultureInfo.InvariantCulture) + " pts at mid (open)";
            }
            OrderflowTransport t = transport;
            string risk = (ExecuteCommands ? "orders on" : "orders OFF") + (HistoricalOnly ? ", HistoricalOnly" : "")
                + (t == null ? ", not connected" : t.IsConnected ? "" : ", disconnected") + (v.Stale ? ", book STALE" : "");
            chartRenderer.Render(RenderTarget, chartControl, chartScale, ChartPanel, v,
                new OrderflowPanelInfo { Position = position, Pnl = pnl, Risk = risk });
        }
        #endregion
        /// <summary>
        /// orderflow's view of this strategy's instrument (metrics, active clusters by id,
        /// profile, signals, bar metrics; docs/protocol.md version 2), as of the start of the
        /// current OnBarUpdate: taken once there, so every read within one OnBarUpdate sees the
        /// same answer. OrderflowView.Empty until the server's first answer (or when
        /// usePythonHelper is off). The transport thread builds each new view and swaps it in;
        /// a view never changes once published. Outside OnBarUpdate use OrderflowOf.
        /// Not a setting: hidden from the property grid and from workspace serialization.
        /// </summary>
        [Browsable(false)]
        [XmlIgnore]
        public OrderflowView Orderflow
        {
            get { return orderflow; }
        }

        /// <summary>The latest view of any instrument the strategy forwards (its FullName), at
        /// the moment of the call (any thread, lock-free).</summary>
        public OrderflowView OrderflowOf(string instrumentFullName)
        {
            OrderflowTransport t = transport;
            return t == null ? OrderflowView.Empty : t.View(instrumentFullName);
        }

        /// <summary>The transport (null outside DataLoaded..Terminated), for subclasses.</summary>
        protected OrderflowTransport Transport
        {
            get { return transport; }
        }

        private static bool IsBridgeMessage(string type)
        {
            return type == "welcome" || type == "ack" || type == "snapshot_request" || type == "error"
                || type == "heartbeat" || type == "command" || type == "state";
        }

        #region Orders
        /// <summary>
        /// Executes every queued command, oldest first, on NinjaTrader's thread
        /// (TriggerCustomEvent), and answers each: done when the NinjaScript call was made,
        /// refused with the reason when it was not. A done is never a fill: fills arrive as
        /// OnExecutionUpdate.
        /// </summary>
        private void ExecuteQueuedCommands()
        {
            while (true)
            {
                OrderCommand c;
                lock (commandLock)
                {
                    if (commandQueue.Count == 0)
                        return;
                    c = commandQueue.Dequeue();
                }
                OrderflowTransport t = transport;
                if (t == null)
                    return;
                string reason;
                try
                {
                    reason = Execute(c);
                }
                catch (Exception ex)
                {
                    reason = "NinjaScript refused the call: " + ex.GetType().Name + ": " + ex.Message;
                }
                t.CompleteCommand(c, reason == null ? "done" : "refused", reason ?? "");
                if (!string.IsNullOrEmpty(c.Reason))  // an exit: say why the server closes
                    Print("orderflow: " + c.Op + " " + c.Cid + " (" + c.Reason + "): "
                        + (reason == null ? "done" : "refused: " + reason));
                else if (DebugMode)
                    Print("orderflow: command " + c.CommandSeq + " " + c.Op + " " + c.Cid + ": "
                        + (reason == null ? "done" : "refused: " + reason));
            }
        }

        /// <summary>The first data series (BarsInProgress) of instrument fullName, or -1.</summary>
        private int SeriesOf(string fullName)
        {
            for (int i = 0; i < BarsArray.Length; i++)
                if (BarsArray[i].Instrument != null && BarsArray[i].Instrument.FullName == fullName)
                    return i;
            return -1;
        }

        /// <summary>Makes the call of one command; null when made, else why not.</summary>
        private string Execute(OrderCommand c)
        {
            if (!ExecuteCommands)
                return "this strategy's 'Execute order commands' is off";
            if (HistoricalOnly)
                return "HistoricalOnly is on: no live orders";
            if (State != State.Realtime && !AllowOrdersOutsideRealtime)
                return "not in State.Realtime (State." + State + "): no orders";
            if (c.Series < 0 || c.Series >= BarsArray.Length)
                return "series: " + c.Series + " is not a data series of this strategy (it has " + BarsArray.Length + ")";
            Instrument instrument = BarsArray[(int)c.Series].Instrument;
            if (instrument == null || instrument.FullName != c.Instrument)
            {
                // the micro the server's sizing chose (MES beside an ES chart) trades on the
                // data series added for it (AddDataSeries("MES 03-24", ...)), whatever its index
                int other = SeriesOf(c.Instrument);
                if (other < 0)
                    return "instrument: series " + c.Series + " is '" + (instrument == null ? "" : instrument.FullName)
                        + "', not '" + c.Instrument + "'";
                c.Series = other;
            }

            if (c.Op == "submit")
            {
                lock (ordersLock)
                {
                    if (ordersByCid.ContainsKey(c.Cid))
                        return "cid: " + c.Cid + " is already used by an order of this strategy";
                }
                OrderAction action;
                OrderType type;
                if (!TryAction(c.Action, out action))
                    return "action: '" + c.Action + "' is not an OrderAction";
                if (!TryOrderType(c.OrderType, out type))
                    return "order_type: '" + c.OrderType + "' is not an OrderType";
                Order order;
                submittingCid = c.Cid;
                try
                {
                    order = SubmitOrderUnmanaged((int)c.Series, action, type, (int)c.Quantity,
                        c.LimitPrice, c.StopPrice, c.Oco ?? "", c.Cid);
                }
                finally
                {
                    submittingCid = null;
                }
                if (order == null)
                    return "SubmitOrderUnmanaged returned no order";
                Track(c.Cid, order);
                return null;
            }

            Order known;
            lock (ordersLock)
                ordersByCid.TryGetValue(c.Cid, out known);
            if (known == null)
                return "cid: no order " + c.Cid + " in this strategy";
            if (Order.IsTerminalState(known.OrderState))
                return "cid: order " + c.Cid + " is " + known.OrderState;
            if (c.Op == "change")
            {
                ChangeOrder(known, (int)c.Quantity, c.LimitPrice, c.StopPrice);
                return null;
            }
            CancelOrder(known);
            return null;
        }

        private void Track(string cid, Order order)
        {
            lock (ordersLock)
            {
                ordersByCid[cid] = order;
                cidsByOrder[order] = cid;
            }
        }

        /// <summary>
        /// Our cid of an order: from the map; or, during its SubmitOrderUnmanaged, its name; or,
        /// for an order that is not ours (another script's, or from before a restart), its name
        /// when it is a valid cid; else null (the event is not forwarded).
        /// </summary>
        private string CidOf(Order order, string fallbackName)
        {
            if (order != null)
            {
                lock (ordersLock)
                {
                    string cid;
                    if (cidsByOrder.TryGetValue(order, out cid))
                        return cid;
                }
                string pending = submittingCid;
                if (pending != null && order.Name == pending)
                {
                    Track(pending, order);
                    return pending;
                }
                if (OrderCommand.IsValidCid(order.Name))
                    return order.Name;
            }
            return OrderCommand.IsValidCid(fallbackName) ? fallbackName : null;
        }

        private void Skipped(string what)
        {
            skippedOrderEvents++;
            if (skippedOrderEvents <= 10)
                Print("orderflow: not forwarded (" + what + "); " + skippedOrderEvents + " so far");
        }

        protected override void OnOrderUpdate(Order order, double limitPrice, double stopPrice, int quantity, int filled,
            double averageFillPrice, OrderState orderState, DateTime time, ErrorCode error, string comment)
        {
            OrderflowTransport t = transport;
            if (t == null || order == null)
                return;
            string cid = CidOf(order, null);
            if (cid == null || order.Instrument == null)
            {
                Skipped("an order update of '" + order.Name + "', no valid client id");
                return;
            }
            // By value: the order object may already show a later state.
            t.EnqueueOrder(order.Instrument.FullName, new OrderEvent(ToNanos(time), cid, orderState.ToString(),
                quantity, filled, averageFillPrice, limitPrice, stopPrice, order.OrderId ?? "", error.ToString(), comment ?? ""));
        }

        protected override void OnExecutionUpdate(Execution execution, string executionId, double price, int quantity,
            MarketPosition marketPosition, string orderId, DateTime time)
        {
            OrderflowTransport t = transport;
            if (t == null || execution == null)
                return;
            string cid = CidOf(execution.Order, execution.Name);
            Instrument instrument = execution.Instrument ?? (execution.Order == null ? null : execution.Order.Instrument);
            if (cid == null || instrument == null || string.IsNullOrEmpty(executionId) || quantity <= 0)
            {
                Skipped("execution " + executionId + " of '" + execution.Name + "'");
                return;
            }
            t.EnqueueExecution(instrument.FullName, new ExecutionEvent(ToNanos(time), cid, executionId, price, quantity,
                marketPosition.ToString(), orderId ?? "", execution.Commission));
        }

        protected override void OnPositionUpdate(Position position, double averagePrice, int quantity, MarketPosition marketPosition)
        {
            OrderflowTransport t = transport;
            if (t == null || position == null || position.Instrument == null)
                return;
            // OnPositionUpdate has no time: the moment it is raised.
            t.EnqueuePosition(position.Instrument.FullName, new PositionEvent(OrderflowTime.UtcNowNanos(),
                marketPosition.ToString(), quantity, averagePrice, position.Account == null ? "" : position.Account.Name));
        }

        private static bool TryAction(string name, out OrderAction action)
        {
            action = OrderAction.Buy;
            if (name == "Buy") { action = OrderAction.Buy; return true; }
            if (name == "Sell") { action = OrderAction.Sell; return true; }
            if (name == "SellShort") { action = OrderAction.SellShort; return true; }
            if (name == "BuyToCover") { action = OrderAction.BuyToCover; return true; }
            return false;
        }

        private static bool TryOrderType(string name, out OrderType type)
        {
            type = OrderType.Market;
            if (name == "Market") { type = OrderType.Market; return true; }
            if (name == "Limit") { type = OrderType.Limit; return true; }
            if (name == "StopMarket") { type = OrderType.StopMarket; return true; }
            if (name == "StopLimit") { type = OrderType.StopLimit; return true; }
            if (name == "MIT") { type = OrderType.MIT; return true; }
            return false;
        }

        /// <summary>Compares by reference: the same Order object, whatever its Equals says.</summary>
        private sealed class ReferenceComparer<T> : IEqualityComparer<T> where T : class
        {
            public bool Equals(T x, T y) { return ReferenceEquals(x, y); }
            public int GetHashCode(T obj) { return RuntimeHelpers.GetHashCode(obj); }
        }
        #endregion

        protected override void OnMarketDepth(MarketDepthEventArgs marketDepthUpdate)
        {
            OrderflowTransport t = transport;
            if (t == null)
                return;
            MarketDepthEventArgs e = marketDepthUpdate;
            if (e.MarketDataType != MarketDataType.Ask && e.MarketDataType != MarketDataType.Bid)
                return;
            Remember(e.Instrument);
            t.EnqueueDepth(e.Instrument.FullName, new DepthEvent(
                ToNanos(e.Time),
                e.MarketDataType == MarketDataType.Ask ? BookSide.Ask : BookSide.Bid,
                ToOperation(e.Operation),
                e.Position,
                e.Price,
                e.Volume,
                e.IsReset));
        }

        protected override void OnMarketData(MarketDataEventArgs marketDataUpdate)
        {
            OrderflowTransport t = transport;
            MarketDataEventArgs e = marketDataUpdate;
            if (t == null || e.MarketDataType != MarketDataType.Last)
                return;
            if (State != State.Realtime && !SendHistoricalData)
                return; // Tick Replay
            if (e.Volume <= 0)
                return; // the protocol's tick size is > 0; some feeds send zero-volume Last updates
            t.EnqueueTick(e.Instrument.FullName, new TickEvent(ToNanos(e.Time), e.Price, e.Volume, Quote(e.Bid), Quote(e.Ask)));
        }

        protected override void OnBarUpdate()
        {
            OrderflowTransport t = transport;
            if (t == null)
                return;
            orderflow = t.View(Instrument.FullName);
            if (State == State.Historical && !SendHistoricalData)
                return;
            int bip = BarsInProgress;
            string name = BarsArray[bip].Instrument.FullName;
            // Historical bars and Calculate.OnBarClose: OnBarUpdate runs once per closed bar,
            // and [0] is that bar. Otherwise [0] is the forming bar; on its first tick the bar
            // before it ([1]) has just closed.
            bool forming = State == State.Realtime && Calculate != Calculate.OnBarClose;
            if (!forming)
            {
                t.EnqueueBar(name, MakeBar(bip, 0, true));
                return;
            }
            if (IsFirstTickOfBar && CurrentBars[bip] > 0)
                t.EnqueueBar(name, MakeBar(bip, 1, true));
            t.EnqueueBar(name, MakeBar(bip, 0, false));
        }

        private BarEvent MakeBar(int bip, int barsAgo, bool closed)
        {
            return new BarEvent(bip, ToNanos(BarOpenTime(bip, barsAgo)),
                Opens[bip][barsAgo], Highs[bip][barsAgo], Lows[bip][barsAgo], Closes[bip][barsAgo],
                (long)Volumes[bip][barsAgo], closed, PeriodName(bip));
        }

        /// <summary>The series' period as the server names it: "1 Minute", "5 Minute", "2000 Tick".</summary>
        private string PeriodName(int bip)
        {
            if (BarsPeriods == null || bip >= BarsPeriods.Length || BarsPeriods[bip] == null)
                return null;
            BarsPeriod p = BarsPeriods[bip];
            return p.Value.ToString(System.Globalization.CultureInfo.InvariantCulture) + " " + p.BarsPeriodType;
        }

        /// <summary>
        /// NinjaTrader stamps a bar with its close time. The protocol wants the open time:
        /// exact for minute and second bars; the session date for daily bars; for other types
        /// (tick, volume, range, ...) the previous bar's close time, or its own time for the first bar.
        /// </summary>
        private DateTime BarOpenTime(int bip, int barsAgo)
        {
            DateTime end = Times[bip][barsAgo];
            BarsPeriod period = BarsPeriods[bip];
            if (period.BarsPeriodType == BarsPeriodType.Minute)
                return end.AddMinutes(-period.Value);
            if (period.BarsPeriodType == BarsPeriodType.Second)
                return end.AddSeconds(-period.Value);
            if (period.BarsPeriodType == BarsPeriodType.Day)
                return end.Date;
            if (CurrentBars[bip] > barsAgo)
                return Times[bip][barsAgo + 1];
            return end;
        }

        /// <summary>
        /// Answers a snapshot_request (or a (re)connect, request == null): the ladder of the
        /// requested instrument, or of every known instrument when the server names it
        /// differently (it may use the contract, "ESH4", for "ES 03-24"). Runs on NinjaTrader's
        /// thread (TriggerCustomEvent).
        /// </summary>
        /// <summary>NinjaTrader's picture for the server after a (re)connect: the strategy's
        /// non-flat positions (one per instrument) and its orders not in a terminal state.</summary>
        private void SendReport()
        {
            OrderflowTransport t = transport;
            if (t == null || !ReportOnConnect)
                return;
            var positions = new List<ReportPosition>();
            var seen = new HashSet<string>();
            for (int i = 0; i < BarsArray.Length && Positions != null && i < Positions.Length; i++)
            {
                Position p = Positions[i];
                Instrument instrument = BarsArray[i].Instrument;
                if (p == null || instrument == null || !seen.Add(instrument.FullName))
                    continue;
                if (p.MarketPosition == MarketPosition.Flat || p.Quantity == 0)
                    continue;
                positions.Add(new ReportPosition
                {
                    Instrument = instrument.FullName,
                    MarketPosition = p.MarketPosition.ToString(),
                    Quantity = p.Quantity,
                    AveragePrice = p.AveragePrice,
                    Account = p.Account == null ? "" : p.Account.Name,
                });
            }
            var orders = new List<ReportOrder>();
            lock (ordersLock)
            {
                foreach (KeyValuePair<string, Order> kv in ordersByCid)
                {
                    Order o = kv.Value;
                    if (o == null || o.Instrument == null || Order.IsTerminalState(o.OrderState) || o.Quantity <= 0)
                        continue;
                    orders.Add(new ReportOrder
                    {
                        Instrument = o.Instrument.FullName,
                        Cid = kv.Key,
                        State = o.OrderState.ToString(),
                        Quantity = o.Quantity,
                        Filled = o.Filled,
                        Action = o.OrderAction.ToString(),
                        OrderType = o.OrderType.ToString(),
                        LimitPrice = o.LimitPrice,
                        StopPrice = o.StopPrice,
                        Oco = o.Oco ?? "",
                        OrderId = o.OrderId ?? "",
                        Account = o.Account == null ? "" : o.Account.Name,
                    });
                }
            }
            t.SendReport(OrderflowTime.UtcNowNanos(), positions, orders);
            if (DebugMode)
                Print("orderflow: report sent: " + positions.Count + " positions, " + orders.Count + " working orders");
        }

        private void SendSnapshots(ServerMessage request)
        {
            if (DebugMode)
                Print("orderflow: sending ladder snapshots" + (request == null ? " (connected)" : " (asked by the server: " + request.Reason + ")"));
            var targets = new List<Instrument>();
            lock (instrumentsLock)
            {
                Instrument named;
                if (request != null && instruments.TryGetValue(request.Instrument, out named))
                    targets.Add(named);
                else
                    targets.AddRange(instruments.Values);
            }
            foreach (Instrument instrument in targets)
                SendSnapshot(instrument);
        }

        private void SendSnapshot(Instrument instrument)
        {
            OrderflowTransport t = transport;
            if (t == null || instrument == null || instrument.MarketDepth == null)
                return;
            long now = OrderflowTime.UtcNowNanos();
            var ladder = new List<DepthEvent>();
            // NinjaTrader's own SampleLevel2Book reads the ladder under this lock. The snapshot
            // is enqueued inside it too, so depth events delivered after it follow it in the
            // stream (best effort: the server validates the ladder and asks again if broken).
            lock (instrument.SyncMarketDepth)
            {
                var bids = instrument.MarketDepth.Bids;
                var asks = instrument.MarketDepth.Asks;
                // a reset followed by the rows: the first row of each side carries IsReset (the
                // side is cleared), then every row is an add at its position
                for (int i = 0; i < bids.Count; i++)
                    ladder.Add(new DepthEvent(now, BookSide.Bid, DepthOperation.Add, i, bids[i].Price, bids[i].Volume, i == 0));
                for (int i = 0; i < asks.Count; i++)
                    ladder.Add(new DepthEvent(now, BookSide.Ask, DepthOperation.Add, i, asks[i].Price, asks[i].Volume, i == 0));
                t.EnqueueSnapshot(instrument.FullName, ladder);
            }
        }

        private void Remember(Instrument instrument)
        {
            if (instrument == null)
                return;
            lock (instrumentsLock)
            {
                if (!instruments.ContainsKey(instrument.FullName))
                    instruments[instrument.FullName] = instrument;
            }
        }

        private long ToNanos(DateTime time)
        {
            return OrderflowTime.ToUnixNanos(time, platformZone);
        }

        private static DepthOperation ToOperation(Operation operation)
        {
            if (operation == Operation.Add)
                return DepthOperation.Add;
            if (operation == Operation.Remove)
                return DepthOperation.Remove;
            return DepthOperation.Update;
        }

        /// <summary>A quote of 0 (or NaN) means none is known yet: sent as null.</summary>
        private static double Quote(double price)
        {
            return price == 0.0 ? double.NaN : price;
        }
    }
}
