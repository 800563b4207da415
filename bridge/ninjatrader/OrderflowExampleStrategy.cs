// OrderflowExampleStrategy.cs - an example of the C#-decides mode: the strategy forwards its
// data to the orderflow server like OrderflowStrategy (it is one), reads what the server answers
// as Orderflow (an OrderflowView: metrics, active clusters, profile, signals) in OnBarUpdate and
// decides itself, in C#, the way the original NinjaTrader strategy did. The server's order
// commands are refused (Execute order commands is off by default here): one of the two decides,
// never both. See README.md, "Who decides".
//
// Rules (every threshold a property):
//   Long:  imbalance >= Imbalance threshold, momentum >= Momentum threshold, and a bid
//          liquidity cluster of strength >= Min cluster strength whose top is at most
//          Max ticks to cluster below the bar's close. Buy Quantity at market; once filled, a
//          sell stop Stop ticks beyond cluster below the cluster's low.
//   Short: the mirror: imbalance <= -threshold, momentum <= -threshold, an ask liquidity
//          cluster within N ticks above; sell short at market, buy-to-cover stop above its high.
//   One trade at a time, in real time only, on the primary series, never on a stale view or
//   before the server's first answer. The position ends at its stop.
//
// Install: copy this file beside OrderflowStrategy.cs, OrderflowTransport.cs and
// OrderflowModel.cs into Documents\NinjaTrader 8\bin\Custom\Strategies and press F5.

#region Using declarations
using System;
using System.ComponentModel.DataAnnotations;
using NinjaTrader.Cbi;
using Orderflow.Bridge;
#endregion

namespace NinjaTrader.NinjaScript.Strategies
{
    public class OrderflowExampleStrategy : OrderflowStrategy
    {
        private int trades;
        private string entryName;      // the working trade's entry signal name; null when flat
        private string stopName;
        private bool stopPlaced;
        private double stopLevel;
        private OrderAction exitAction;

        #region Properties
        [Range(0.0, 1.0)]
        [Display(Name = "Imbalance threshold", Description = "Book imbalance (-1..1) at least this for a long, at most minus this for a short", GroupName = "Example rules", Order = 40)]
        public double ImbalanceThreshold { get; set; }

        [Range(0.0, double.MaxValue)]
        [Display(Name = "Momentum threshold", Description = "Momentum score at least this for a long, at most minus this for a short", GroupName = "Example rules", Order = 41)]
        public double MomentumThreshold { get; set; }

        [Range(0.0, 1.0)]
        [Display(Name = "Min cluster strength", Description = "The liquidity cluster behind the entry is at least this strong (0..1)", GroupName = "Example rules", Order = 42)]
        public double MinClusterStrength { get; set; }

        [Range(0, 1000)]
        [Display(Name = "Max ticks to cluster", Description = "The cluster is at most this many ticks below (long) or above (short) the close", GroupName = "Example rules", Order = 43)]
        public int MaxTicksToCluster { get; set; }

        [Range(0, 1000)]
        [Display(Name = "Stop ticks beyond cluster", Description = "The stop sits this many ticks beyond the cluster's far edge", GroupName = "Example rules", Order = 44)]
        public int StopTicksBeyondCluster { get; set; }

        [Range(1, 1000)]
        [Display(Name = "Quantity", GroupName = "Example rules", Order = 45)]
        public int Quantity { get; set; }

        [Display(Name = "Trade short", Description = "Also take the mirrored short entries", GroupName = "Example rules", Order = 46)]
        public bool TradeShort { get; set; }
        #endregion

        protected override void OnStateChange()
        {
            base.OnStateChange();
            if (State == State.SetDefaults)
            {
                Name = "OrderflowExampleStrategy";
                Description = "Decides in C# from orderflow's answers (metrics, liquidity clusters); the server's order commands are refused.";
                ExecuteCommands = false;
                ImbalanceThreshold = 0.3;
                MomentumThreshold = 0.2;
                MinClusterStrength = 0.6;
                MaxTicksToCluster = 8;
                StopTicksBeyondCluster = 2;
                Quantity = 1;
                TradeShort = true;
            }
        }

        protected override void OnBarUpdate()
        {
            base.OnBarUpdate(); // forwards the bar and takes this OnBarUpdate's Orderflow
            if (BarsInProgress != 0 || State != State.Realtime || entryName != null)
                return;
            OrderflowView of = Orderflow; // one snapshot for the whole decision
            if (of.Seq < 0 || of.Stale)
                return;
            double close = Closes[0][0];
            MetricsView m = of.Metrics;
            // NaN (not known yet) fails every comparison: no trade.
            if (m.Imbalance >= ImbalanceThreshold && m.Momentum >= MomentumThreshold)
            {
                ClusterView c = NearestCluster(of, "bid", close);
                if (c != null)
                    Enter(OrderAction.Buy, OrderAction.Sell, "long", c.Low - StopTicksBeyondCluster * TickSize);
            }
            else if (TradeShort && m.Imbalance <= -ImbalanceThreshold && m.Momentum <= -MomentumThreshold)
            {
                ClusterView c = NearestCluster(of, "ask", close);
                if (c != null)
                    Enter(OrderAction.SellShort, OrderAction.BuyToCover, "short", c.High + StopTicksBeyondCluster * TickSize);
            }
        }

        /// <summary>
        /// The liquidity cluster on the side (bid: below the close, ask: above) at most
        /// MaxTicksToCluster ticks away with strength >= MinClusterStrength, nearest first;
        /// null when there is none.
        /// </summary>
        private ClusterView NearestCluster(OrderflowView of, string side, double close)
        {
            double reach = MaxTicksToCluster * TickSize + TickSize * 1e-6;
            ClusterView best = null;
            double bestDistance = double.MaxValue;
            foreach (ClusterView c in of.ActiveClusters.Values)
            {
                if (c.Kind != "liquidity" || c.Side != side || !(c.Strength >= MinClusterStrength))
                    continue;
                double distance = side == "bid" ? close - c.High : c.Low - close;
                if (distance < 0 || distance > reach || distance >= bestDistance)
                    continue;
                best = c;
                bestDistance = distance;
            }
            return best;
        }

        private void Enter(OrderAction entry, OrderAction exit, string kind, double stop)
        {
            trades++;
            entryName = "of-" + kind + "-" + trades;
            stopName = "of-stop-" + trades;
            stopPlaced = false;
            stopLevel = stop;
            exitAction = exit;
            Print("orderflow example: " + entryName + " at market, stop " + stop);
            SubmitOrderUnmanaged(0, entry, OrderType.Market, Quantity, 0, 0, "", entryName);
        }

        protected override void OnOrderUpdate(Order order, double limitPrice, double stopPrice, int quantity, int filled,
            double averageFillPrice, OrderState orderState, DateTime time, ErrorCode error, string comment)
        {
            base.OnOrderUpdate(order, limitPrice, stopPrice, quantity, filled, averageFillPrice, orderState, time, error, comment);
            if (entryName == null)
                return;
            // Matched by name: OnOrderUpdate runs inside SubmitOrderUnmanaged, before it returns the Order.
            if (order.Name == entryName)
            {
                if (orderState == OrderState.Filled && !stopPlaced)
                {
                    stopPlaced = true;
                    SubmitOrderUnmanaged(0, exitAction, OrderType.StopMarket, filled, 0, stopLevel, "", stopName);
                }
                else if ((orderState == OrderState.Rejected || orderState == OrderState.Cancelled) && filled == 0)
                    entryName = null; // no position: free to trade again
            }
            else if (order.Name == stopName && orderState == OrderState.Filled)
                entryName = null; // flat again
            else if (order.Name == stopName && orderState == OrderState.Rejected)
                Print("orderflow example: stop " + stopName + " rejected (" + comment + "): the position is unprotected; no new entries");
        }
    }
}
