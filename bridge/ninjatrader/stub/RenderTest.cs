// RenderTest.cs - checks OrderflowRenderer, OrderflowIndicator and OrderflowStrategy's OnRender
// through the stub's recording render target (test only, never ships):
//
//   mono OrderflowRenderTest.exe [calls.json]
//   mono OrderflowRenderTest.exe --viewer ws://127.0.0.1:PORT/ws MS
//
// A hand-built OrderflowView (clusters of known price ranges, times and strengths, a profile,
// VWAP, signals) is drawn on a chart of known mapping: x = 100 + 2 px/s from 14:30:00 UTC
// (visible 14:30..14:35), y = 50 + 40 px/point down from 4815 (visible 4805..4815). Prints one
// "ok ..." or "FAIL ..." line per check and "all checks passed" at the end when none failed;
// with a path, writes the draw calls of the main render as JSON (scripts/render_calls_png.py
// turns them into a picture). --viewer: OrderflowIndicator on ES 03-24 connects to the server
// at the URL, stays MS milliseconds (refreshing every 200 ms), is terminated, prints "viewer done".

using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using NinjaTrader.Gui.Chart;
using NinjaTrader.NinjaScript;
using NinjaTrader.NinjaScript.Indicators;
using NinjaTrader.NinjaScript.Strategies;
using Orderflow.Bridge;
using SharpDX.Direct2D1;

namespace NinjaTraderStub
{
    public static class RenderTest
    {
        private static int failures;
        private static readonly DateTime T0 = new DateTime(2024, 1, 2, 14, 30, 0, DateTimeKind.Utc);

        private static void Check(bool condition, string what)
        {
            Console.WriteLine((condition ? "ok " : "FAIL ") + what);
            if (!condition)
                failures++;
        }

        private static long Ns(int seconds)
        {
            return (T0.AddSeconds(seconds) - new DateTime(1970, 1, 1, 0, 0, 0, DateTimeKind.Utc)).Ticks * 100;
        }

        private static ClusterView Cluster(string id, string kind, string side, double low, double high, double strength, int from, int to)
        {
            return new ClusterView
            {
                Id = id, Kind = kind, Side = side, Low = low, High = high, Size = (long)(1000 * strength),
                Strength = strength, FirstSeenNs = Ns(from), LastSeenNs = Ns(to),
            };
        }

        public static OrderflowView View()
        {
            var clusters = new List<ClusterView>
            {
                Cluster("liq-bid-1", "liquidity", "bid", 4806.00, 4807.00, 0.90, 30, 180),
                Cluster("liq-ask-2", "liquidity", "ask", 4812.25, 4813.00, 0.50, 60, 240),
                Cluster("vol-buy-3", "volume", "buy", 4809.50, 4810.00, 0.35, 120, 270),
                Cluster("vol-sell-4", "volume", "sell", 4810.50, 4811.00, 0.60, 90, 200),
                Cluster("vol-buy-5", "volume", "buy", 4808.00, 4808.75, 0.75, 200, 290),
                Cluster("liq-bid-weak", "liquidity", "bid", 4807.50, 4808.00, 0.10, 40, 250),   // below the minimum
                Cluster("liq-ask-far", "liquidity", "ask", 4820.00, 4821.00, 0.80, 40, 250),    // above the visible prices
                Cluster("vol-sell-old", "volume", "sell", 4809.00, 4810.00, 0.80, -600, -300),  // before the visible times
                Cluster("liq-bid-edge", "liquidity", "bid", 4803.00, 4805.50, 0.40, 250, 400),  // partly below, partly after
            };
            var byId = new Dictionary<string, ClusterView>();
            foreach (ClusterView c in clusters)
                byId[c.Id] = c;
            return new OrderflowView
            {
                Instrument = "ES 03-24",
                Seq = 42,
                Metrics = new MetricsView
                {
                    Vwap = 4809.75, Mid = 4810.125,
                    // the second band's lower line (4804) lies below the visible prices
                    VwapBands = new[]
                    {
                        new VwapBand { K = 1, Upper = 4811.25, Lower = 4808.25 },
                        new VwapBand { K = 2, Upper = 4812.75, Lower = 4804.00 },
                    },
                },
                ActiveClusters = byId,
                Profile = new ProfileView { Poc = 4810.25, ValueAreaHigh = 4812.00, ValueAreaLow = 4807.50, Volume = 12000 },
                Signals = new[]
                {
                    new SignalView { Kind = "absorption", Direction = 1, Score = 0.8, Price = 4807.00, TsNs = Ns(150) },
                    new SignalView { Kind = "iceberg", Direction = -1, Score = 0.6, Price = 4812.50, TsNs = Ns(210) },
                    new SignalView { Kind = "sweep", Direction = 1, Score = 0.7, Price = 4830.00, TsNs = Ns(100) }, // not visible
                },
            };
        }

        public static ChartControl Control()
        {
            return new ChartControl
            {
                StubOrigin = T0, StubX0 = 100f, StubPixelsPerSecond = 2.0,
                StubFirstTimePainted = T0, StubLastTimePainted = T0.AddMinutes(5),
            };
        }

        public static ChartScale Scale()
        {
            return new ChartScale { MaxValue = 4815.0, MinValue = 4805.0, StubHeight = 400, StubTop = 50 };
        }

        private static bool Same(SharpDX.Color4 a, SharpDX.Color4 b)
        {
            return Math.Abs(a.Red - b.Red) < 1e-6 && Math.Abs(a.Green - b.Green) < 1e-6 && Math.Abs(a.Blue - b.Blue) < 1e-6;
        }

        private static bool Near(float a, double b)
        {
            return Math.Abs(a - b) < 0.01;
        }

        public static int Main(string[] args)
        {
            if (args.Length == 3 && args[0] == "--viewer")
                return Viewer(args[1], int.Parse(args[2], CultureInfo.InvariantCulture));
            var settings = new OrderflowRenderSettings { BaseOpacity = 0.15, MaxOpacity = 0.75, MinStrength = 0.2, TimeZone = TimeZoneInfo.Utc };
            var colors = new Dictionary<string, SharpDX.Color4>
            {
                { "liquidity/bid", OrderflowRenderSettings.ParseColor(settings.LiquidityBidColor) },
                { "liquidity/ask", OrderflowRenderSettings.ParseColor(settings.LiquidityAskColor) },
                { "volume/buy", OrderflowRenderSettings.ParseColor(settings.VolumeBuyColor) },
                { "volume/sell", OrderflowRenderSettings.ParseColor(settings.VolumeSellColor) },
            };
            OrderflowView view = View();
            ChartControl control = Control();
            ChartScale scale = Scale();
            var chartPanel = new ChartPanel { X = 100, Y = 50, W = 600, H = 400 };
            var renderer = new OrderflowRenderer(settings);

            bool refused = false;
            try { new OrderflowRenderer(new OrderflowRenderSettings { VolumeSellColor = "red" }); }
            catch (ArgumentException e) { refused = e.Message.Contains("'red'"); }
            Check(refused, "a colour that is not #RRGGBB is refused when the renderer is made, naming it");
            Check(Same(OrderflowRenderSettings.ParseColor("#1E90FF"), new SharpDX.Color4(0x1E / 255f, 0x90 / 255f, 0xFF / 255f, 1f)), "#RRGGBB parsed");

            // No render target yet: nothing drawn, nothing made.
            var first = new RenderTarget();
            renderer.Render(first, control, scale, chartPanel, view, null);
            Check(first.StubCalls.Count == 0, "no brushes yet (OnRenderTargetChanged not called): nothing drawn");

            renderer.RenderTargetChanged(first);
            Check(first.StubBrushesCreated > 0 && first.StubBrushesDisposed == 0, "brushes made in OnRenderTargetChanged: " + first.StubBrushesCreated);
            renderer.Render(first, control, scale, chartPanel, view, new OrderflowPanelInfo { Position = "Long 2 @ 4809.50", Pnl = "+1.25 pts", Risk = "orders on" });
            List<StubDrawCall> calls = first.StubCalls;

            // Clusters: one filled rectangle per visible cluster at or above the minimum strength.
            var expected = view.ActiveClusters.Values
                .Where(c => c.Strength >= settings.MinStrength && c.High >= scale.MinValue && c.Low <= scale.MaxValue
                    && c.LastSeenNs >= Ns(0) && c.FirstSeenNs <= Ns(300))
                .OrderBy(c => c.Strength).ToList();
            var fills = calls.Where(c => c.Kind == "fill_rectangle" && colors.Values.Any(k => Same(k, c.Color))).ToList();
            Check(expected.Count == 6, "6 clusters are visible and strong enough (of 9)");
            Check(fills.Count == expected.Count, "cluster rectangles drawn: " + fills.Count + " (want " + expected.Count + ")");
            var byFill = new Dictionary<string, StubDrawCall>();
            foreach (ClusterView c in expected)
            {
                double lowVisible = Math.Max(c.Low, scale.MinValue), highVisible = Math.Min(c.High, scale.MaxValue);
                float top = scale.GetYByValue(highVisible), bottom = scale.GetYByValue(lowVisible);
                StubDrawCall f = fills.FirstOrDefault(k => Same(k.Color, colors[c.Kind + "/" + c.Side]) && Near(k.Y0, top) && Near(k.Y1, bottom));
                Check(f != null, c.Id + ": rectangle from y " + top + " (GetYByValue " + highVisible + ") to y " + bottom + " (GetYByValue " + lowVisible + ")");
                if (f == null)
                    continue;
                byFill[c.Id] = f;
                DateTime from = new DateTime(1970, 1, 1, 0, 0, 0, DateTimeKind.Utc).AddTicks(c.FirstSeenNs / 100);
                DateTime to = new DateTime(1970, 1, 1, 0, 0, 0, DateTimeKind.Utc).AddTicks(c.LastSeenNs / 100);
                if (from < control.FirstTimePainted) from = control.FirstTimePainted;
                if (to > control.LastTimePainted) to = control.LastTimePainted;
                Check(Near(f.X0, control.GetXByTime(from)) && Near(f.X1, control.GetXByTime(to)),
                    c.Id + ": x from " + control.GetXByTime(from) + " to " + control.GetXByTime(to) + " (GetXByTime, clipped to the visible times)");
                Check(Math.Abs(f.Opacity - settings.OpacityOf(c.Strength)) < 1e-6, c.Id + ": opacity " + f.Opacity + " for strength " + c.Strength);
            }
            var opacities = expected.Where(c => byFill.ContainsKey(c.Id)).Select(c => byFill[c.Id].Opacity).ToList();
            bool rising = opacities.Count == expected.Count;
            for (int i = 1; i < opacities.Count; i++)
                rising &= opacities[i] > opacities[i - 1];
            Check(rising, "opacity rises with strength: " + string.Join(" < ", opacities.Select(o => o.ToString("0.000", CultureInfo.InvariantCulture))));
            Check(byFill.ContainsKey("liq-bid-edge") && Near(byFill["liq-bid-edge"].Y1, scale.GetYByValue(scale.MinValue))
                && Near(byFill["liq-bid-edge"].X1, control.GetXByTime(control.LastTimePainted)),
                "a cluster partly outside is clipped to the visible prices and times");
            foreach (StubDrawCall c in calls.Where(k => k.Kind != "draw_text"))
            {
                bool inside = c.X0 >= 100 - 5 && c.X1 <= 700 + 5 && Math.Min(c.Y0, c.Y1) >= 50 - 16 && Math.Max(c.Y0, c.Y1) <= 450 + 16;
                if (!inside)
                    Check(false, "a " + c.Kind + " drawn outside the visible chart: " + c.X0 + "," + c.Y0 + " " + c.X1 + "," + c.Y1);
            }
            Check(calls.Count(k => k.Kind == "draw_rectangle" && colors.Values.Any(v => Same(v, k.Color))) == expected.Count, "each cluster outlined once");

            // Profile and VWAP: horizontal lines across the visible chart at their prices.
            Func<string, double, bool> line = (color, price) => calls.Any(k => k.Kind == "draw_line"
                && Same(k.Color, OrderflowRenderSettings.ParseColor(color)) && Near(k.Y0, scale.GetYByValue(price))
                && Near(k.Y1, k.Y0) && Near(k.X0, 100) && Near(k.X1, 700));
            Check(line(settings.PocColor, 4810.25), "POC line at y " + scale.GetYByValue(4810.25));
            Check(line(settings.ValueAreaColor, 4812.00), "value area high line at y " + scale.GetYByValue(4812.00));
            Check(line(settings.ValueAreaColor, 4807.50), "value area low line at y " + scale.GetYByValue(4807.50));
            Check(line(settings.VwapColor, 4809.75), "VWAP line at y " + scale.GetYByValue(4809.75));
            Check(line(settings.VwapColor, 4811.25) && line(settings.VwapColor, 4808.25) && line(settings.VwapColor, 4812.75),
                "VWAP band lines at their prices");
            Check(!line(settings.VwapColor, 4804.00), "no band line below the visible prices");

            // Signals: the two visible ones, with their kind.
            var texts = calls.Where(k => k.Kind == "draw_text").Select(k => k.Text).ToList();
            Check(texts.Contains("absorption") && texts.Contains("iceberg") && !texts.Contains("sweep"), "signal markers with their kind, only the visible ones");
            Check(calls.Any(k => k.Kind == "fill_rectangle" && Same(k.Color, OrderflowRenderSettings.ParseColor(settings.SignalLongColor))
                && Near((k.Y0 + k.Y1) / 2, scale.GetYByValue(4807.00)) && Near((k.X0 + k.X1) / 2, control.GetXByTime(T0.AddSeconds(150)))),
                "the long signal's marker at its time and price");
            // Panel.
            Check(texts.Contains("orderflow ES 03-24 @42") && texts.Contains("Position: Long 2 @ 4809.50")
                && texts.Contains("P&L: +1.25 pts") && texts.Contains("Risk: orders on"), "panel: view, position, P&L, risk");

            if (args.Length > 0)
                File.WriteAllText(args[0], Json(calls, control, scale));

            // An answer's clusters.as_of_ns: every active cluster still stands then, so each is
            // drawn to the later of it and its own last seen (vol-buy-3 last seen at 270 s).
            var lasting = View();
            lasting.ClustersAsOfNs = Ns(285);
            int mark = first.StubCalls.Count;
            renderer.Render(first, control, scale, chartPanel, lasting, null);
            var lastingFills = first.StubCalls.Skip(mark).Where(k => k.Kind == "fill_rectangle" && Same(k.Color, colors["volume/buy"])).ToList();
            Check(lastingFills.Any(k => Near(k.X1, control.GetXByTime(T0.AddSeconds(285))) && Near(k.X0, control.GetXByTime(T0.AddSeconds(120))))
                && lastingFills.Any(k => Near(k.X1, control.GetXByTime(T0.AddSeconds(290)))),
                "a cluster is drawn to the answer's as_of_ns when later than its last seen (vol-buy-3: 270 s -> 285 s; vol-buy-5 keeps 290 s)");

            // Nothing visible: a chart scrolled away draws only the panel.
            var away = Control();
            away.StubFirstTimePainted = T0.AddHours(2);
            away.StubLastTimePainted = T0.AddHours(2).AddMinutes(5);
            int before = first.StubCalls.Count;
            renderer.Render(first, away, scale, chartPanel, view, null);
            var awayCalls = first.StubCalls.Skip(before).ToList();
            Check(awayCalls.All(k => Same(k.Color, OrderflowRenderSettings.ParseColor(settings.PanelColor)) || k.Kind == "draw_text" && k.Text.StartsWith("orderflow")
                    || k.Kind == "draw_line"),
                "scrolled away from every cluster and signal: no rectangle or marker drawn (" + awayCalls.Count + " calls: panel and levels)");

            // Brushes: all of the old target disposed on OnRenderTargetChanged; all disposed at the end.
            var second = new RenderTarget();
            renderer.RenderTargetChanged(second);
            Check(first.StubBrushesCreated == first.StubBrushesDisposed, "new render target: the old one's brushes disposed (" + first.StubBrushesDisposed + "/" + first.StubBrushesCreated + ")");
            renderer.Render(second, control, scale, chartPanel, view, null);
            Check(second.StubCalls.Count(k => k.Kind == "fill_rectangle" && colors.Values.Any(v => Same(v, k.Color))) == expected.Count, "draws the same on the new target");
            renderer.Dispose();
            Check(second.StubBrushesCreated > 0 && second.StubBrushesCreated == second.StubBrushesDisposed, "terminated: every brush disposed (" + second.StubBrushesDisposed + "/" + second.StubBrushesCreated + ")");
            var factory = NinjaTrader.Core.Globals.DirectWriteFactory;
            Check(factory.StubTextFormatsCreated == 2 && factory.StubTextFormatsDisposed == 2, "text formats disposed too");
            int after = second.StubCalls.Count;
            renderer.Render(second, control, scale, chartPanel, view, null);
            Check(second.StubCalls.Count == after, "after Dispose nothing is drawn (no disposed brush used)");

            // The indicator: no server URL (drawing what SetView gives it), through the stub's chart.
            var indicator = new OrderflowIndicator();
            indicator.State = State.SetDefaults;
            indicator.StubStateChange();
            indicator.ServerUrl = "";
            indicator.State = State.DataLoaded;
            indicator.StubStateChange();
            var third = new RenderTarget();
            indicator.ChartPanel = chartPanel;
            indicator.StubSetRenderTarget(third);
            indicator.SetView(view);
            indicator.StubRender(control, scale);
            Check(third.StubCalls.Count(k => k.Kind == "fill_rectangle" && colors.Values.Any(v => Same(v, k.Color))) == expected.Count,
                "the indicator draws the same clusters");
            Check(third.StubCalls.Any(k => k.Kind == "draw_text" && k.Text == "Position: viewer (no orders)"), "the indicator's panel says it places no orders");
            indicator.State = State.Terminated;
            indicator.StubStateChange();
            Check(third.StubBrushesCreated > 0 && third.StubBrushesCreated == third.StubBrushesDisposed, "indicator terminated: every brush disposed");

            // The strategy: its OnRender draws the view it exposes (empty here: the panel only).
            var strategy = new OrderflowStrategy();
            strategy.State = State.SetDefaults;
            strategy.StubStateChange();
            var fourth = new RenderTarget();
            strategy.ChartPanel = chartPanel;
            strategy.StubSetRenderTarget(fourth);
            strategy.StubRender(control, scale);
            Check(fourth.StubCalls.Any(k => k.Kind == "draw_text" && k.Text == "orderflow: no answer yet")
                && fourth.StubCalls.Any(k => k.Kind == "draw_text" && k.Text == "Position: Flat"), "the strategy draws its panel");
            strategy.StubSetRenderTarget(null);
            Check(fourth.StubBrushesCreated > 0 && fourth.StubBrushesCreated == fourth.StubBrushesDisposed, "strategy: render target gone, brushes disposed");
            strategy.State = State.Terminated;
            strategy.StubStateChange();

            Console.WriteLine(failures == 0 ? "all checks passed" : failures + " checks failed");
            return failures == 0 ? 0 : 1;
        }

        private static int Viewer(string url, int ms)
        {
            NinjaTrader.Core.Globals.GeneralOptions.TimeZoneInfo = TimeZoneInfo.Utc; // the chart's times are UTC here
            var indicator = new OrderflowIndicator();
            indicator.Instrument = new NinjaTrader.Cbi.Instrument { FullName = "ES 03-24" };
            indicator.State = State.SetDefaults;
            indicator.StubStateChange();
            indicator.ServerUrl = url;
            indicator.RefreshMs = 200;
            indicator.State = State.DataLoaded;
            indicator.StubStateChange();
            System.Threading.Thread.Sleep(ms);
            var target = new RenderTarget();
            indicator.ChartPanel = new ChartPanel { X = 100, Y = 50, W = 600, H = 400 };
            indicator.StubSetRenderTarget(target);
            indicator.StubRender(Control(), Scale());
            var bid = OrderflowRenderSettings.ParseColor(new OrderflowRenderSettings().LiquidityBidColor);
            foreach (StubDrawCall c in target.StubCalls.Where(k => k.Kind == "fill_rectangle" && Same(k.Color, bid)))
                Console.WriteLine("cluster " + F(c.Y0) + " " + F(c.Y1) + " " + F(c.Opacity));
            indicator.State = State.Terminated;
            indicator.StubStateChange();
            Console.WriteLine("viewer done");
            return 0;
        }

        private static string F(float v)
        {
            return v.ToString("R", CultureInfo.InvariantCulture);
        }

        private static string Json(List<StubDrawCall> calls, ChartControl control, ChartScale scale)
        {
            var sb = new StringBuilder();
            sb.Append("{\"width\":800,\"height\":500,\"calls\":[");
            for (int i = 0; i < calls.Count; i++)
            {
                StubDrawCall c = calls[i];
                if (i > 0)
                    sb.Append(",\n");
                sb.Append("{\"kind\":\"").Append(c.Kind).Append("\",\"x0\":").Append(F(c.X0)).Append(",\"y0\":").Append(F(c.Y0))
                    .Append(",\"x1\":").Append(F(c.X1)).Append(",\"y1\":").Append(F(c.Y1))
                    .Append(",\"color\":[").Append(F(c.Color.Red)).Append(',').Append(F(c.Color.Green)).Append(',').Append(F(c.Color.Blue)).Append(']')
                    .Append(",\"opacity\":").Append(F(c.Opacity)).Append(",\"stroke\":").Append(F(c.StrokeWidth)).Append(",\"text\":");
                if (c.Text == null)
                    sb.Append("null");
                else
                {
                    var t = new StringBuilder();
                    OrderflowJson.AppendString(t, c.Text);
                    sb.Append(t);
                }
                sb.Append('}');
            }
            sb.Append("]}");
            return sb.ToString();
        }
    }
}
