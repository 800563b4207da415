// NinjaTraderStub.cs - a minimal, hand-written stand-in for the part of the NinjaTrader 8 API
// that OrderflowStrategy.cs uses, so mono's mcs can compile the strategy on Linux.
//
// ONLY FOR COMPILING AND TESTING. It never ships to NinjaTrader: NinjaTrader has the real
// types, and copying this file into bin\Custom would clash with them.
//
// Names, namespaces and member types follow NinjaTrader 8 (reflection dump in
// ../shared/docs/ninjatrader-api.md); enum integer values are NinjaTrader's where the API doc
// gives them (Operation, MarketDataType, State, Calculate). Behaviour is the least that
// compiles: nothing here pretends to be NinjaTrader at run time.

using System;
using System.Collections.Generic;

// Not part of mono's minimal install (mono-mcs); in NinjaTrader the real
// System.ComponentModel.DataAnnotations.dll provides these attributes.
namespace System.ComponentModel.DataAnnotations
{
    [AttributeUsage(AttributeTargets.Property | AttributeTargets.Field | AttributeTargets.Method | AttributeTargets.Parameter)]
    public sealed class DisplayAttribute : Attribute
    {
        public string Name { get; set; }
        public string Description { get; set; }
        public string GroupName { get; set; }
        public int Order { get; set; }
    }

    [AttributeUsage(AttributeTargets.Property | AttributeTargets.Field | AttributeTargets.Parameter)]
    public sealed class RangeAttribute : Attribute
    {
        public RangeAttribute(int minimum, int maximum) { }
        public RangeAttribute(double minimum, double maximum) { }
    }
}

namespace NinjaTrader.Core
{
    public sealed class GeneralOptions
    {
        public TimeZoneInfo TimeZoneInfo { get; set; }
    }

    public static partial class Globals
    {
        private static readonly GeneralOptions options = new GeneralOptions { TimeZoneInfo = TimeZoneInfo.Local };

        public static GeneralOptions GeneralOptions
        {
            get { return options; }
        }
    }
}

namespace NinjaTrader.Cbi
{
    public enum Operation
    {
        Add = 0,
        Update = 1,
        Remove = 2,
    }

    public class Instrument
    {
        public string FullName { get; set; }
        public object SyncMarketDepth { get; } = new object();
        public NinjaTrader.Data.MarketDepth<NinjaTrader.Data.MarketDepthRow> MarketDepth { get; set; }
    }

    // Order enums: names and values as NinjaTrader's (API notes section 3).
    public enum OrderAction
    {
        Buy = 0,
        BuyToCover = 1,
        Sell = 2,
        SellShort = 3,
    }

    public enum OrderType
    {
        Limit = 0,
        Market = 1,
        MIT = 2,
        StopLimit = 3,
        StopMarket = 4,
        Unknown = 99,
    }

    public enum OrderState
    {
        Accepted = 0,
        Cancelled = 1,
        Filled = 2,
        Initialized = 3,
        PartFilled = 4,
        CancelSubmitted = 5,
        ChangeSubmitted = 6,
        Submitted = 7,
        TriggerPending = 8,
        Rejected = 9,
        Working = 10,
        CancelPending = 11,
        ChangePending = 12,
        Suspended = 13,
        AcceptedByRisk = 50,
        Unknown = 99,
    }

    public enum ErrorCode
    {
        NoError = 0,
        LogOnFailed = 1,
        OrderRejected = 3,
        UnableToCancelOrder = 5,
        UnableToChangeOrder = 6,
        UnableToSubmitOrder = 7,
        UserAbort = 8,
        OrderRejectedByRisk = 9,
        LoginExpired = 10,
        Panic = 18,
    }

    public enum MarketPosition
    {
        Long = 0,
        Short = 1,
        Flat = 2,
    }

    public class Account
    {
        public string Name { get; set; }
    }

    /// <summary>A live order: its properties show the latest state (the events carry each state by value).</summary>
    public class Order
    {
        public Account Account { get; set; }
        public double AverageFillPrice { get; set; }
        public int Filled { get; set; }
        public Instrument Instrument { get; set; }
        public double LimitPrice { get; set; }
        public string Name { get; set; }
        public string Oco { get; set; }
        public OrderAction OrderAction { get; set; }
        public string OrderId { get; set; }
        public OrderState OrderState { get; set; }
        public OrderType OrderType { get; set; }
        public int Quantity { get; set; }
        public double StopPrice { get; set; }
        public DateTime Time { get; set; }

        public static bool IsTerminalState(OrderState state)
        {
            return state == OrderState.Cancelled || state == OrderState.Filled || state == OrderState.Rejected || state == OrderState.Unknown;
        }
    }

    public class Execution
    {
        public Account Account { get; set; }
        public double Commission { get; set; }
        public string ExecutionId { get; set; }
        public Instrument Instrument { get; set; }
        public MarketPosition MarketPosition { get; set; }
        public string Name { get; set; }
        public Order Order { get; set; }
        public string OrderId { get; set; }
        public double Price { get; set; }
        public int Quantity { get; set; }
        public DateTime Time { get; set; }
    }

    public class Position
    {
        public Account Account { get; set; }
        public double AveragePrice { get; set; }
        public Instrument Instrument { get; set; }
        public MarketPosition MarketPosition { get; set; }
        public int Quantity { get; set; }
    }
}

namespace NinjaTrader.Data
{
    public enum MarketDataType
    {
        Ask = 0,
        Bid = 1,
        Last = 2,
        DailyHigh = 3,
        DailyLow = 4,
        DailyVolume = 5,
        LastClose = 6,
        Opening = 7,
        OpenInterest = 8,
        Settlement = 9,
        Unknown = 10,
    }

    // Used by name only; values as in NinjaTrader 8's BarsPeriodType for the first members.
    public enum BarsPeriodType
    {
        Tick = 0,
        Volume = 1,
        Range = 2,
        Second = 3,
        Minute = 4,
        Day = 5,
        Week = 6,
        Month = 7,
        Year = 8,
    }

    public class BarsPeriod
    {
        public BarsPeriodType BarsPeriodType { get; set; }
        public int Value { get; set; }
    }

    public class Bars
    {
        public NinjaTrader.Cbi.Instrument Instrument { get; set; }
        public BarsPeriod BarsPeriod { get; set; }
    }

    public class MarketDepthRow
    {
        public string MarketMaker { get; set; }
        public double Price { get; set; }
        public DateTime Time { get; set; }
        public long Volume { get; set; }
    }

    public class MarketDepth<T> where T : MarketDepthRow
    {
        public List<T> Asks { get; } = new List<T>();
        public List<T> Bids { get; } = new List<T>();
        public NinjaTrader.Cbi.Instrument Instrument { get; set; }
    }

    public class MarketDepthEventArgs : EventArgs
    {
        public NinjaTrader.Cbi.Instrument Instrument { get; set; }
        public bool IsReset { get; set; }
        public MarketDataType MarketDataType { get; set; }
        public string MarketMaker { get; set; }
        public NinjaTrader.Cbi.Operation Operation { get; set; }
        public int Position { get; set; }
        public double Price { get; set; }
        public DateTime Time { get; set; }
        public long Volume { get; set; }
    }

    public class MarketDataEventArgs : EventArgs
    {
        public double Ask { get; set; }
        public double Bid { get; set; }
        public double Last { get; set; }
        public NinjaTrader.Cbi.Instrument Instrument { get; set; }
        public bool IsReset { get; set; }
        public MarketDataType MarketDataType { get; set; }
        public double Price { get; set; }
        public DateTime Time { get; set; }
        public long Volume { get; set; }
    }
}

namespace NinjaTrader.NinjaScript
{
    public enum State
    {
        Undefined = 0,
        SetDefaults = 1,
        Configure = 2,
        Active = 3,
        DataLoaded = 4,
        Historical = 5,
        Transition = 6,
        Realtime = 7,
        Terminated = 8,
        Finalized = 9,
    }

    public enum RealtimeErrorHandling
    {
        IgnoreAllErrors = 0,
        StopCancelClose = 1,
        StopCancelCloseIgnoreRejects = 2,
    }

    public enum Calculate
    {
        OnBarClose = 0,
        OnEachTick = 1,
        OnPriceChange = 2,
    }

    public interface ISeries<T>
    {
        T this[int barsAgo] { get; }
    }

    /// <summary>The series of one data series, newest at [0] (stub: a list, newest last).</summary>
    public class StubSeries<T> : ISeries<T>
    {
        public readonly List<T> Values = new List<T>();

        public T this[int barsAgo]
        {
            get { return Values[Values.Count - 1 - barsAgo]; }
        }
    }

    public abstract partial class NinjaScriptBase
    {
        public string Name { get; set; }
        public string Description { get; set; }
        public State State { get; set; }
        public Calculate Calculate { get; set; }
        public NinjaTrader.Cbi.Instrument Instrument { get; set; }
        public int BarsInProgress { get; set; }
        public bool IsFirstTickOfBar { get; set; }
        public NinjaTrader.Data.Bars[] BarsArray { get; set; } = new NinjaTrader.Data.Bars[0];
        public NinjaTrader.Data.BarsPeriod[] BarsPeriods { get; set; } = new NinjaTrader.Data.BarsPeriod[0];
        public int[] CurrentBars { get; set; } = new int[0];
        public ISeries<DateTime>[] Times { get; set; } = new ISeries<DateTime>[0];
        public ISeries<double>[] Opens { get; set; } = new ISeries<double>[0];
        public ISeries<double>[] Highs { get; set; } = new ISeries<double>[0];
        public ISeries<double>[] Lows { get; set; } = new ISeries<double>[0];
        public ISeries<double>[] Closes { get; set; } = new ISeries<double>[0];
        public ISeries<double>[] Volumes { get; set; } = new ISeries<double>[0];

        protected virtual void OnStateChange() { }
        protected virtual void OnBarUpdate() { }
        protected virtual void OnMarketData(NinjaTrader.Data.MarketDataEventArgs marketDataUpdate) { }
        protected virtual void OnMarketDepth(NinjaTrader.Data.MarketDepthEventArgs marketDepthUpdate) { }

        /// <summary>
        /// Stands in for NinjaTrader's thread: NinjaTrader runs the action on it; the stub runs
        /// it inline, under this lock, so it never overlaps other calls the harness makes under
        /// the same lock (NinjaTrader never runs two events of one script at once).
        /// </summary>
        public readonly object StubGate = new object();

        public void TriggerCustomEvent(Action<object> customEvent, object state)
        {
            lock (StubGate)
                customEvent(state);
        }

        public void Print(object value)
        {
            Console.WriteLine(value);
        }
    }
}

namespace NinjaTrader.NinjaScript.Strategies
{
    using NinjaTrader.Cbi;

    /// <summary>
    /// The strategy base with unmanaged orders, simulated synchronously (stub only; members
    /// named Stub* do not exist in NinjaTrader):
    ///   SubmitOrderUnmanaged  OnOrderUpdate Submitted, Accepted, Working inside the call; a
    ///                         Market order then fills at StubFillPrice (in executions of at most
    ///                         StubFillChunk contracts: PartFilled ... Filled), each fill followed
    ///                         by OnExecutionUpdate and OnPositionUpdate. StubRejectComment set:
    ///                         Submitted, Rejected (ErrorCode.OrderRejected, that comment).
    ///   ChangeOrder           ChangePending (old values), Working (new quantity and prices)
    ///   CancelOrder           CancelPending, Cancelled
    ///   StubFill              fills a working order (the market reached its price)
    ///   StubReplayLastExecution  raises the last execution again (same execution id)
    /// Like NinjaTrader, the Order object already shows the final state of a call when its
    /// events are raised: only the events' by-value parameters tell each step.
    /// Event times are StubNow, advanced 1 ms per event.
    /// </summary>
    public abstract class Strategy : NinjaTrader.NinjaScript.NinjaScriptBase
    {
        public int BarsRequiredToTrade { get; set; }
        public bool IsUnmanaged { get; set; }
        public RealtimeErrorHandling RealtimeErrorHandling { get; set; } = RealtimeErrorHandling.StopCancelClose;

        protected virtual void OnOrderUpdate(Order order, double limitPrice, double stopPrice, int quantity, int filled,
            double averageFillPrice, OrderState orderState, DateTime time, ErrorCode error, string comment) { }
        protected virtual void OnExecutionUpdate(Execution execution, string executionId, double price, int quantity,
            MarketPosition marketPosition, string orderId, DateTime time) { }
        protected virtual void OnPositionUpdate(Position position, double averagePrice, int quantity, MarketPosition marketPosition) { }

        public double StubFillPrice { get; set; }
        public int StubFillChunk { get; set; }
        public double StubCommissionPerContract { get; set; }
        public string StubRejectComment { get; set; }
        public DateTime StubNow { get; set; } = new DateTime(2024, 1, 2, 9, 30, 0, DateTimeKind.Unspecified);
        public Account StubAccount { get; set; } = new Account { Name = "Sim101" };
        public int StubSubmits { get; private set; }
        public int StubChanges { get; private set; }
        public int StubCancels { get; private set; }
        public readonly List<Order> StubOrders = new List<Order>();
        private readonly Dictionary<string, Position> stubPositions = new Dictionary<string, Position>();

        /// <summary>NinjaScript's Positions: the strategy's position per BarsInProgress.</summary>
        public Position[] Positions
        {
            get
            {
                var bars = BarsArray ?? new NinjaTrader.Data.Bars[0];
                var result = new Position[bars.Length];
                for (int i = 0; i < bars.Length; i++)
                {
                    Instrument instrument = bars[i].Instrument;
                    Position p;
                    if (instrument == null || !stubPositions.TryGetValue(instrument.FullName, out p))
                        p = new Position { Instrument = instrument, MarketPosition = MarketPosition.Flat, Account = StubAccount };
                    result[i] = p;
                }
                return result;
            }
        }
        private int stubOrderIds;
        private int stubExecutionIds;
        private Action stubLastExecution;

        public Order SubmitOrderUnmanaged(int selectedBarsInProgress, OrderAction orderAction, OrderType orderType, int quantity)
        {
            return SubmitOrderUnmanaged(selectedBarsInProgress, orderAction, orderType, quantity, 0, 0, "", "");
        }

        public Order SubmitOrderUnmanaged(int selectedBarsInProgress, OrderAction orderAction, OrderType orderType, int quantity,
            double limitPrice, double stopPrice, string oco, string signalName)
        {
            StubSubmits++;
            var order = new Order
            {
                Account = StubAccount,
                Instrument = BarsArray[selectedBarsInProgress].Instrument,
                Name = signalName,
                Oco = oco,
                OrderAction = orderAction,
                OrderType = orderType,
                OrderId = "stub-" + (++stubOrderIds),
                OrderState = OrderState.Initialized,
                Quantity = quantity,
                LimitPrice = limitPrice,
                StopPrice = stopPrice,
                Time = StubNow,
            };
            StubOrders.Add(order);
            var events = new List<Action>();
            Step(events, order, OrderState.Submitted, ErrorCode.NoError, "");
            if (StubRejectComment != null)
            {
                Step(events, order, OrderState.Rejected, ErrorCode.OrderRejected, StubRejectComment);
                StubRejectComment = null;
            }
            else
            {
                Step(events, order, OrderState.Accepted, ErrorCode.NoError, "");
                Step(events, order, OrderState.Working, ErrorCode.NoError, "");
                if (orderType == OrderType.Market)
                    Fill(events, order, quantity, StubFillPrice);
            }
            Deliver(events);
            return order;
        }

        public void ChangeOrder(Order order, int quantity, double limitPrice, double stopPrice)
        {
            StubChanges++;
            if (Order.IsTerminalState(order.OrderState))
                return; // NinjaTrader ignores it (and logs)
            var events = new List<Action>();
            Step(events, order, OrderState.ChangePending, ErrorCode.NoError, "");
            order.Quantity = quantity;
            order.LimitPrice = limitPrice;
            order.StopPrice = stopPrice;
            Step(events, order, order.Filled > 0 ? OrderState.PartFilled : OrderState.Working, ErrorCode.NoError, "");
            Deliver(events);
        }

        public void CancelOrder(Order order)
        {
            StubCancels++;
            if (Order.IsTerminalState(order.OrderState))
                return;
            var events = new List<Action>();
            Step(events, order, OrderState.CancelPending, ErrorCode.NoError, "");
            Step(events, order, OrderState.Cancelled, ErrorCode.NoError, "");
            Deliver(events);
        }

        /// <summary>The market reached a working order: fills quantity (at most what is left) at price.</summary>
        public void StubFill(Order order, int quantity, double price)
        {
            if (Order.IsTerminalState(order.OrderState))
                return;
            var events = new List<Action>();
            Fill(events, order, Math.Min(quantity, order.Quantity - order.Filled), price);
            Deliver(events);
        }

        private DateTime NextTime()
        {
            DateTime t = StubNow;
            StubNow = StubNow.AddMilliseconds(1);
            return t;
        }

        // Moves the order to state now and queues the event with the values of this moment.
        private void Step(List<Action> events, Order order, OrderState state, ErrorCode error, string comment)
        {
            order.OrderState = state;
            double limit = order.LimitPrice, stop = order.StopPrice, avg = order.AverageFillPrice;
            int quantity = order.Quantity, filled = order.Filled;
            DateTime time = NextTime();
            events.Add(() => OnOrderUpdate(order, limit, stop, quantity, filled, avg, state, time, error, comment));
        }

        private void Fill(List<Action> events, Order order, int quantity, double price)
        {
            int chunk = StubFillChunk > 0 ? StubFillChunk : quantity;
            bool buy = order.OrderAction == OrderAction.Buy || order.OrderAction == OrderAction.BuyToCover;
            while (quantity > 0)
            {
                int q = Math.Min(chunk, quantity);
                quantity -= q;
                order.AverageFillPrice = (order.AverageFillPrice * order.Filled + price * q) / (order.Filled + q);
                order.Filled += q;
                Step(events, order, order.Filled >= order.Quantity ? OrderState.Filled : OrderState.PartFilled, ErrorCode.NoError, "");
                var execution = new Execution
                {
                    Account = order.Account,
                    Commission = StubCommissionPerContract * q,
                    ExecutionId = "stub-exec-" + (++stubExecutionIds),
                    Instrument = order.Instrument,
                    MarketPosition = buy ? MarketPosition.Long : MarketPosition.Short,
                    Name = order.Name,
                    Order = order,
                    OrderId = order.OrderId,
                    Price = price,
                    Quantity = q,
                    Time = NextTime(),
                };
                Action raise = () => OnExecutionUpdate(execution, execution.ExecutionId, execution.Price, execution.Quantity,
                    execution.MarketPosition, execution.OrderId, execution.Time);
                events.Add(raise);
                stubLastExecution = raise;

                Position position;
                if (!stubPositions.TryGetValue(order.Instrument.FullName, out position))
                {
                    position = new Position { Account = order.Account, Instrument = order.Instrument, MarketPosition = MarketPosition.Flat };
                    stubPositions[order.Instrument.FullName] = position;
                }
                int signed = position.MarketPosition == MarketPosition.Short ? -position.Quantity : position.Quantity;
                int delta = buy ? q : -q;
                int after = signed + delta;
                double average = position.AveragePrice;
                if (after == 0)
                    average = 0.0;
                else if (signed == 0 || (signed > 0) != (after > 0))
                    average = price; // opened, or reversed through flat
                else if (Math.Abs(after) > Math.Abs(signed))
                    average = (average * Math.Abs(signed) + price * q) / Math.Abs(after);
                position.Quantity = Math.Abs(after);
                position.AveragePrice = average;
                position.MarketPosition = after > 0 ? MarketPosition.Long : after < 0 ? MarketPosition.Short : MarketPosition.Flat;
                MarketPosition side = position.MarketPosition;
                int size = position.Quantity;
                events.Add(() => OnPositionUpdate(position, average, size, side));
            }
        }

        /// <summary>Raises the last OnExecutionUpdate again, same values (a broker re-reporting a fill).</summary>
        public void StubReplayLastExecution()
        {
            if (stubLastExecution != null)
                stubLastExecution();
        }

        private static void Deliver(List<Action> events)
        {
            foreach (Action e in events)
                e();
        }
    }
}

#region Chart rendering (OnRender): SharpDX and NinjaTrader.Gui.Chart, recording
// The surface OrderflowRender.cs and OrderflowIndicator.cs use, with the signatures of SharpDX
// 2.6.3 (the version NinjaTrader 8 ships) and NinjaTrader 8's Help Guide (OnRender,
// OnRenderTargetChanged, ChartControl, ChartScale, ChartPanel). Instead of drawing, the stub's
// RenderTarget records every draw call (kind, coordinates, brush colour and opacity), and
// counts the brushes created against it and disposed; a disposed brush or text format refuses
// to draw. Members named Stub* do not exist in NinjaTrader.
namespace SharpDX
{
    public struct Color4
    {
        public float Red, Green, Blue, Alpha;

        public Color4(float red, float green, float blue, float alpha)
        {
            Red = red; Green = green; Blue = blue; Alpha = alpha;
        }
    }

    public struct Vector2
    {
        public float X, Y;

        public Vector2(float x, float y)
        {
            X = x; Y = y;
        }
    }

    public struct RectangleF
    {
        public float X, Y, Width, Height;

        public RectangleF(float x, float y, float width, float height)
        {
            X = x; Y = y; Width = width; Height = height;
        }

        public float Left { get { return X; } }
        public float Top { get { return Y; } }
        public float Right { get { return X + Width; } }
        public float Bottom { get { return Y + Height; } }
    }

    public abstract class DisposeBase : IDisposable
    {
        public bool IsDisposed { get; private set; }

        public void Dispose()
        {
            if (IsDisposed)
                return;
            IsDisposed = true;
            StubDisposed();
        }

        protected virtual void StubDisposed() { }
    }
}

namespace SharpDX.DirectWrite
{
    public class Factory : SharpDX.DisposeBase
    {
        public int StubTextFormatsCreated;
        public int StubTextFormatsDisposed;
    }

    public class TextFormat : SharpDX.DisposeBase
    {
        private readonly Factory factory;

        public TextFormat(Factory factory, string fontFamilyName, float fontSize)
        {
            this.factory = factory;
            FontFamilyName = fontFamilyName;
            FontSize = fontSize;
            factory.StubTextFormatsCreated++;
        }

        public string FontFamilyName { get; private set; }
        public float FontSize { get; private set; }

        protected override void StubDisposed()
        {
            factory.StubTextFormatsDisposed++;
        }
    }
}

namespace SharpDX.Direct2D1
{
    public abstract class Brush : SharpDX.DisposeBase
    {
        public float Opacity { get; set; } = 1f;
    }

    public class SolidColorBrush : Brush
    {
        private readonly RenderTarget target;

        public SolidColorBrush(RenderTarget renderTarget, SharpDX.Color4 color)
        {
            target = renderTarget;
            Color = color;
            renderTarget.StubBrushesCreated++;
        }

        public SharpDX.Color4 Color { get; set; }

        protected override void StubDisposed()
        {
            target.StubBrushesDisposed++;
        }
    }

    /// <summary>One recorded draw call (stub only).</summary>
    public sealed class StubDrawCall
    {
        public string Kind;            // fill_rectangle, draw_rectangle, draw_line, draw_text
        public float X0, Y0, X1, Y1;   // rectangle: left, top, right, bottom; line: its two points
        public SharpDX.Color4 Color;
        public float Opacity;
        public float StrokeWidth;
        public string Text;
    }

    public class RenderTarget : SharpDX.DisposeBase
    {
        public int StubBrushesCreated;
        public int StubBrushesDisposed;
        public readonly List<StubDrawCall> StubCalls = new List<StubDrawCall>();

        public void FillRectangle(SharpDX.RectangleF rect, Brush brush)
        {
            Record("fill_rectangle", rect.Left, rect.Top, rect.Right, rect.Bottom, brush, 0f, null);
        }

        public void DrawRectangle(SharpDX.RectangleF rect, Brush brush, float strokeWidth)
        {
            Record("draw_rectangle", rect.Left, rect.Top, rect.Right, rect.Bottom, brush, strokeWidth, null);
        }

        public void DrawLine(SharpDX.Vector2 point0, SharpDX.Vector2 point1, Brush brush, float strokeWidth)
        {
            Record("draw_line", point0.X, point0.Y, point1.X, point1.Y, brush, strokeWidth, null);
        }

        public void DrawText(string text, SharpDX.DirectWrite.TextFormat textFormat, SharpDX.RectangleF layoutRect, Brush defaultForegroundBrush)
        {
            if (textFormat == null || textFormat.IsDisposed)
                throw new ObjectDisposedException("TextFormat");
            Record("draw_text", layoutRect.Left, layoutRect.Top, layoutRect.Right, layoutRect.Bottom, defaultForegroundBrush, 0f, text);
        }

        private void Record(string kind, float x0, float y0, float x1, float y1, Brush brush, float strokeWidth, string text)
        {
            if (IsDisposed)
                throw new ObjectDisposedException("RenderTarget");
            if (brush == null || brush.IsDisposed)
                throw new ObjectDisposedException("Brush");
            var solid = brush as SolidColorBrush;
            StubCalls.Add(new StubDrawCall
            {
                Kind = kind, X0 = x0, Y0 = y0, X1 = x1, Y1 = y1,
                Color = solid != null ? solid.Color : new SharpDX.Color4(0f, 0f, 0f, 0f),
                Opacity = brush.Opacity, StrokeWidth = strokeWidth, Text = text,
            });
        }
    }
}

namespace NinjaTrader.Core
{
    public static partial class Globals
    {
        private static readonly SharpDX.DirectWrite.Factory directWriteFactory = new SharpDX.DirectWrite.Factory();

        /// <summary>NinjaTrader's shared DirectWrite factory (for TextFormat).</summary>
        public static SharpDX.DirectWrite.Factory DirectWriteFactory
        {
            get { return directWriteFactory; }
        }
    }
}

namespace NinjaTrader.Gui.Chart
{
    /// <summary>The chart (stub: a linear time axis, StubOrigin at x = StubX0, StubPixelsPerSecond).
    /// FirstTimePainted and LastTimePainted are read-only to a NinjaScript, as in NinjaTrader (the
    /// harness sets StubFirstTimePainted / StubLastTimePainted).</summary>
    public class ChartControl
    {
        public DateTime FirstTimePainted { get { return StubFirstTimePainted; } }
        public DateTime LastTimePainted { get { return StubLastTimePainted; } }
        public DateTime StubFirstTimePainted;
        public DateTime StubLastTimePainted;
        public DateTime StubOrigin;
        public float StubX0;
        public double StubPixelsPerSecond = 1.0;

        public int GetXByTime(DateTime time)
        {
            return (int)Math.Round(StubX0 + (time - StubOrigin).TotalSeconds * StubPixelsPerSecond);
        }
    }

    /// <summary>The price axis (stub: linear, MaxValue at y = StubTop, MinValue at StubTop + StubHeight).</summary>
    public class ChartScale
    {
        public double MaxValue { get; set; }
        public double MinValue { get; set; }
        public int StubTop;
        public int StubHeight;

        public int GetYByValue(double val)
        {
            return (int)Math.Round(StubTop + (MaxValue - val) / (MaxValue - MinValue) * StubHeight);
        }
    }

    public class ChartPanel
    {
        public int X { get; set; }
        public int Y { get; set; }
        public int W { get; set; }
        public int H { get; set; }
    }
}

namespace NinjaTrader.NinjaScript
{
    public abstract partial class NinjaScriptBase
    {
        public SharpDX.Direct2D1.RenderTarget RenderTarget { get; set; }
        public NinjaTrader.Gui.Chart.ChartPanel ChartPanel { get; set; }

        protected virtual void OnRender(NinjaTrader.Gui.Chart.ChartControl chartControl, NinjaTrader.Gui.Chart.ChartScale chartScale) { }

        public virtual void OnRenderTargetChanged() { }

        /// <summary>Stands in for NinjaTrader's chart: a new render target (null: none), then OnRenderTargetChanged.</summary>
        public void StubSetRenderTarget(SharpDX.Direct2D1.RenderTarget target)
        {
            RenderTarget = target;
            OnRenderTargetChanged();
        }

        /// <summary>Stands in for NinjaTrader: OnStateChange at the current State.</summary>
        public void StubStateChange()
        {
            OnStateChange();
        }

        /// <summary>Stands in for NinjaTrader's chart: one paint.</summary>
        public void StubRender(NinjaTrader.Gui.Chart.ChartControl chartControl, NinjaTrader.Gui.Chart.ChartScale chartScale)
        {
            OnRender(chartControl, chartScale);
        }
    }
}

namespace NinjaTrader.NinjaScript.Indicators
{
    public abstract class Indicator : NinjaTrader.NinjaScript.NinjaScriptBase
    {
        public bool IsOverlay { get; set; }
        public bool DrawOnPricePanel { get; set; }
        public bool DisplayInDataBox { get; set; }
    }
}
#endregion

#region OrderflowView API: what OrderflowExampleStrategy.cs uses (C#-decides mode)
namespace NinjaTrader.NinjaScript
{
    public abstract partial class NinjaScriptBase
    {
        /// <summary>NinjaScript's TickSize: the minimum price fluctuation of the primary
        /// instrument (a double; read-only in NinjaTrader, set by the harness here).</summary>
        public double TickSize { get; set; }
    }
}
#endregion
