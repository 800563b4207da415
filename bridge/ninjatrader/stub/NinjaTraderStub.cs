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

    public static class Globals
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

    public abstract class NinjaScriptBase
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

        /// <summary>NinjaTrader runs the action on its own thread; the stub runs it inline.</summary>
        public void TriggerCustomEvent(Action<object> customEvent, object state)
        {
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
    public abstract class Strategy : NinjaTrader.NinjaScript.NinjaScriptBase
    {
        public int BarsRequiredToTrade { get; set; }
    }
}
