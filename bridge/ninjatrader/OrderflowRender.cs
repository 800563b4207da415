// OrderflowRender.cs - draws orderflow's view of an instrument (OrderflowView, see
// OrderflowModel.cs) on a NinjaTrader 8 chart with SharpDX: the active clusters as rectangles
// over their price range (low..high) and lifetime (first..last seen), filled with an opacity
// that grows with their strength; the session profile's POC and value-area lines; VWAP; the
// signals as markers with their kind; and a small text panel (position, P&L, risk state).
//
// Used by OrderflowStrategy and OrderflowIndicator from their OnRender/OnRenderTargetChanged:
//   * OnRenderTargetChanged -> RenderTargetChanged(RenderTarget): the brushes belong to one
//     render target; they are disposed and made again for the new one (none when it is null).
//   * State.Terminated -> Dispose(): every brush and the text format are disposed.
//   * OnRender -> Render(...): the caller reads its volatile view reference once and passes it;
//     the renderer never touches the transport, never waits, and draws only what lies in the
//     chart's visible time (FirstTimePainted..LastTimePainted) and price (MinValue..MaxValue)
//     range, clipped to it.
// NinjaTrader calls both on its UI thread; the renderer is not meant for any other thread.
using System;
using System.Collections.Generic;
using System.Globalization;
using NinjaTrader.Gui.Chart;

namespace Orderflow.Bridge
{
    /// <summary>What the renderer draws and how (the strategy's and the indicator's properties).</summary>
    public sealed class OrderflowRenderSettings
    {
        /// <summary>Fill opacity of a cluster of strength 0 ...</summary>
        public double BaseOpacity = 0.15;
        /// <summary>... rising linearly to this at strength 1.</summary>
        public double MaxOpacity = 0.75;
        /// <summary>Clusters weaker than this are not drawn.</summary>
        public double MinStrength = 0.2;
        public bool DrawClusters = true;
        public bool DrawProfile = true;
        public bool DrawVwap = true;
        public bool DrawSignals = true;
        public bool DrawPanel = true;
        // Colours as #RRGGBB (NinjaTrader's property grid edits them as text).
        public string LiquidityBidColor = "#1E90FF";
        public string LiquidityAskColor = "#FF8C00";
        public string VolumeBuyColor = "#2E8B57";
        public string VolumeSellColor = "#DC143C";
        public string PocColor = "#FFD700";
        public string ValueAreaColor = "#B0B0B0";
        public string VwapColor = "#BA55D3";
        public string SignalLongColor = "#00C800";
        public string SignalShortColor = "#E00000";
        public string TextColor = "#FFFFFF";
        public string PanelColor = "#202020";
        /// <summary>The zone NinjaTrader's DateTimes are in (cluster times are UTC ns).</summary>
        public TimeZoneInfo TimeZone = TimeZoneInfo.Utc;

        /// <summary>The opacity a cluster of this strength is filled with (clamped to 0..1).</summary>
        public double OpacityOf(double strength)
        {
            double s = double.IsNaN(strength) ? 0.0 : Math.Max(0.0, Math.Min(1.0, strength));
            return Math.Max(0.0, Math.Min(1.0, BaseOpacity + (MaxOpacity - BaseOpacity) * s));
        }

        /// <summary>"#RRGGBB" (or "#AARRGGBB") as a SharpDX colour; anything else is an error naming the text.</summary>
        public static SharpDX.Color4 ParseColor(string text)
        {
            string t = (text ?? "").Trim().TrimStart('#');
            uint v;
            if ((t.Length != 6 && t.Length != 8)
                || !uint.TryParse(t, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out v))
                throw new ArgumentException("a colour must be #RRGGBB or #AARRGGBB, not '" + text + "'");
            float a = t.Length == 8 ? ((v >> 24) & 0xFF) / 255f : 1f;
            return new SharpDX.Color4(((v >> 16) & 0xFF) / 255f, ((v >> 8) & 0xFF) / 255f, (v & 0xFF) / 255f, a);
        }
    }

    /// <summary>The text panel's lines, from what the host already knows (position, P&amp;L, risk).</summary>
    public sealed class OrderflowPanelInfo
    {
        public string Position = "";
        public string Pnl = "";
        public string Risk = "";
    }

    public sealed class OrderflowRenderer : IDisposable
    {
        private static readonly DateTime Epoch = new DateTime(1970, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        private const float MinRectPixels = 2f;
        private const float MarkerHalf = 4f;

        private readonly OrderflowRenderSettings settings;
        private SharpDX.Direct2D1.SolidColorBrush liquidityBid, liquidityAsk, volumeBuy, volumeSell,
            poc, valueArea, vwap, signalLong, signalShort, text, panel;
        private SharpDX.DirectWrite.TextFormat textFormat;
        private readonly List<SharpDX.DisposeBase> resources = new List<SharpDX.DisposeBase>();

        public OrderflowRenderer(OrderflowRenderSettings settings)
        {
            this.settings = settings ?? new OrderflowRenderSettings();
            // A wrong colour fails here (State.DataLoaded), naming it, not later inside OnRender.
            foreach (string color in new[] { this.settings.LiquidityBidColor, this.settings.LiquidityAskColor,
                this.settings.VolumeBuyColor, this.settings.VolumeSellColor, this.settings.PocColor, this.settings.ValueAreaColor,
                this.settings.VwapColor, this.settings.SignalLongColor, this.settings.SignalShortColor, this.settings.TextColor,
                this.settings.PanelColor })
                OrderflowRenderSettings.ParseColor(color);
        }

        public OrderflowRenderSettings Settings
        {
            get { return settings; }
        }

        /// <summary>OnRenderTargetChanged: disposes the brushes of the old target, makes those
        /// of the new one (none when <paramref name="target"/> is null).</summary>
        public void RenderTargetChanged(SharpDX.Direct2D1.RenderTarget target)
        {
            DisposeResources();
            if (target == null)
                return;
            liquidityBid = Brush(target, settings.LiquidityBidColor);
            liquidityAsk = Brush(target, settings.LiquidityAskColor);
            volumeBuy = Brush(target, settings.VolumeBuyColor);
            volumeSell = Brush(target, settings.VolumeSellColor);
            poc = Brush(target, settings.PocColor);
            valueArea = Brush(target, settings.ValueAreaColor);
            vwap = Brush(target, settings.VwapColor);
            signalLong = Brush(target, settings.SignalLongColor);
            signalShort = Brush(target, settings.SignalShortColor);
            text = Brush(target, settings.TextColor);
            panel = Brush(target, settings.PanelColor);
            panel.Opacity = 0.7f;
            textFormat = new SharpDX.DirectWrite.TextFormat(NinjaTrader.Core.Globals.DirectWriteFactory, "Arial", 11f);
            resources.Add(textFormat);
        }

        /// <summary>State.Terminated: every brush and the text format disposed.</summary>
        public void Dispose()
        {
            DisposeResources();
        }

        /// <summary>
        /// Draws <paramref name="view"/> (the caller's one read of its volatile reference) on
        /// <paramref name="target"/>; nothing without brushes (no render target yet) or view.
        /// </summary>
        public void Render(SharpDX.Direct2D1.RenderTarget target, ChartControl chartControl, ChartScale chartScale,
            ChartPanel chartPanel, OrderflowView view, OrderflowPanelInfo info)
        {
            if (target == null || textFormat == null || chartControl == null || chartScale == null || view == null)
                return;
            DateTime t0 = chartControl.FirstTimePainted, t1 = chartControl.LastTimePainted;
            double p0 = chartScale.MinValue, p1 = chartScale.MaxValue;
            if (t1 < t0 || !(p1 > p0))
                return;
            float xLeft = chartControl.GetXByTime(t0), xRight = chartControl.GetXByTime(t1);

            if (settings.DrawClusters)
                DrawClusters(target, chartControl, chartScale, view, t0, t1, p0, p1);
            if (settings.DrawProfile)
            {
                ProfileView profile = view.Profile;
                if (profile != null)
                {
                    Level(target, chartScale, profile.ValueAreaHigh, valueArea, 1f, xLeft, xRight, p0, p1);
                    Level(target, chartScale, profile.ValueAreaLow, valueArea, 1f, xLeft, xRight, p0, p1);
                    Level(target, chartScale, profile.Poc, poc, 2f, xLeft, xRight, p0, p1);
                }
            }
            if (settings.DrawVwap && view.Metrics != null)
            {
                Level(target, chartScale, view.Metrics.Vwap, vwap, 2f, xLeft, xRight, p0, p1);
                if (view.Metrics.VwapBands != null)
                {
                    foreach (VwapBand band in view.Metrics.VwapBands)
                    {
                        if (band == null)
                            continue;
                        Level(target, chartScale, band.Upper, vwap, 1f, xLeft, xRight, p0, p1);
                        Level(target, chartScale, band.Lower, vwap, 1f, xLeft, xRight, p0, p1);
                    }
                }
            }
            if (settings.DrawSignals)
                DrawSignals(target, chartControl, chartScale, view, t0, t1, p0, p1);
            if (settings.DrawPanel)
                DrawPanel(target, chartPanel, xLeft, chartScale, view, info);
        }

        /// <summary>A chart DateTime (in the settings' zone) from UTC nanoseconds.</summary>
        public DateTime ChartTime(long utcNanos)
        {
            DateTime utc = Epoch.AddTicks(utcNanos / 100);
            return TimeZoneInfo.ConvertTimeFromUtc(utc, settings.TimeZone ?? TimeZoneInfo.Utc);
        }

        private void DrawClusters(SharpDX.Direct2D1.RenderTarget target, ChartControl chartControl, ChartScale chartScale,
            OrderflowView view, DateTime t0, DateTime t1, double p0, double p1)
        {
            if (view.ActiveClusters == null)
                return;
            foreach (ClusterView c in view.ActiveClusters.Values)
            {
                if (c == null || c.Strength < settings.MinStrength)
                    continue;
                if (c.High < p0 || c.Low > p1)
                    continue; // outside the visible prices
                // an active cluster still stands at the answer's as_of_ns (the server re-reads a
                // cluster's last_seen only on a material change or a refresh)
                DateTime first = ChartTime(c.FirstSeenNs);
                DateTime last = ChartTime(Math.Max(Math.Max(c.LastSeenNs, c.FirstSeenNs), view.ClustersAsOfNs));
                if (last < t0 || first > t1)
                    continue; // outside the visible times
                float x0 = chartControl.GetXByTime(first < t0 ? t0 : first);
                float x1 = chartControl.GetXByTime(last > t1 ? t1 : last);
                float yTop = chartScale.GetYByValue(Math.Min(c.High, p1));
                float yBottom = chartScale.GetYByValue(Math.Max(c.Low, p0));
                if (x1 - x0 < MinRectPixels)
                    x1 = x0 + MinRectPixels;
                if (yBottom - yTop < MinRectPixels)
                {
                    float mid = (yTop + yBottom) / 2f;
                    yTop = mid - MinRectPixels / 2f;
                    yBottom = mid + MinRectPixels / 2f;
                }
                SharpDX.Direct2D1.SolidColorBrush brush = ClusterBrush(c);
                var rect = new SharpDX.RectangleF(x0, yTop, x1 - x0, yBottom - yTop);
                brush.Opacity = (float)settings.OpacityOf(c.Strength);
                target.FillRectangle(rect, brush);
                brush.Opacity = 1f;
                target.DrawRectangle(rect, brush, 1f);
            }
        }

        private SharpDX.Direct2D1.SolidColorBrush ClusterBrush(ClusterView c)
        {
            if (c.Kind == "volume")
                return c.Side == "sell" ? volumeSell : volumeBuy;
            return c.Side == "ask" ? liquidityAsk : liquidityBid;
        }

        // A horizontal line across the visible chart at price, when the price is visible.
        private static void Level(SharpDX.Direct2D1.RenderTarget target, ChartScale chartScale, double price,
            SharpDX.Direct2D1.SolidColorBrush brush, float width, float xLeft, float xRight, double p0, double p1)
        {
            if (double.IsNaN(price) || price < p0 || price > p1)
                return;
            float y = chartScale.GetYByValue(price);
            target.DrawLine(new SharpDX.Vector2(xLeft, y), new SharpDX.Vector2(xRight, y), brush, width);
        }

        private void DrawSignals(SharpDX.Direct2D1.RenderTarget target, ChartControl chartControl, ChartScale chartScale,
            OrderflowView view, DateTime t0, DateTime t1, double p0, double p1)
        {
            if (view.Signals == null)
                return;
            foreach (SignalView s in view.Signals)
            {
                if (s == null || double.IsNaN(s.Price) || s.Price < p0 || s.Price > p1)
                    continue;
                DateTime t = ChartTime(s.TsNs);
                if (t < t0 || t > t1)
                    continue;
                float x = chartControl.GetXByTime(t), y = chartScale.GetYByValue(s.Price);
                SharpDX.Direct2D1.SolidColorBrush brush = s.Direction < 0 ? signalShort : signalLong;
                // A marker at the price, and an arrow pointing the signal's way with its kind.
                target.FillRectangle(new SharpDX.RectangleF(x - MarkerHalf, y - MarkerHalf, 2 * MarkerHalf, 2 * MarkerHalf), brush);
                float tip = s.Direction < 0 ? y + 4 * MarkerHalf : y - 4 * MarkerHalf;
                target.DrawLine(new SharpDX.Vector2(x, y), new SharpDX.Vector2(x, tip), brush, 2f);
                float labelTop = s.Direction < 0 ? tip : tip - 14f;
                target.DrawText(s.Kind, textFormat, new SharpDX.RectangleF(x + 2 * MarkerHalf, labelTop, 160f, 14f), brush);
            }
        }

        private void DrawPanel(SharpDX.Direct2D1.RenderTarget target, ChartPanel chartPanel, float xLeft, ChartScale chartScale,
            OrderflowView view, OrderflowPanelInfo info)
        {
            var lines = new List<string>();
            string name = string.IsNullOrEmpty(view.Instrument) ? "orderflow" : "orderflow " + view.Instrument;
            lines.Add(view.Seq < 0 ? name + ": no answer yet" : name + " @" + view.Seq + (view.Stale ? " (STALE)" : ""));
            if (info != null)
            {
                if (!string.IsNullOrEmpty(info.Position)) lines.Add("Position: " + info.Position);
                if (!string.IsNullOrEmpty(info.Pnl)) lines.Add("P&L: " + info.Pnl);
                if (!string.IsNullOrEmpty(info.Risk)) lines.Add("Risk: " + info.Risk);
            }
            const float lineHeight = 14f, width = 240f, pad = 4f;
            float x = chartPanel != null ? chartPanel.X + 8f : xLeft + 8f;
            float y = chartPanel != null ? chartPanel.Y + 8f : chartScale.GetYByValue(chartScale.MaxValue) + 8f;
            target.FillRectangle(new SharpDX.RectangleF(x, y, width, lines.Count * lineHeight + 2 * pad), panel);
            for (int i = 0; i < lines.Count; i++)
                target.DrawText(lines[i], textFormat, new SharpDX.RectangleF(x + pad, y + pad + i * lineHeight, width - 2 * pad, lineHeight), text);
        }

        private SharpDX.Direct2D1.SolidColorBrush Brush(SharpDX.Direct2D1.RenderTarget target, string color)
        {
            var brush = new SharpDX.Direct2D1.SolidColorBrush(target, OrderflowRenderSettings.ParseColor(color));
            resources.Add(brush);
            return brush;
        }

        private void DisposeResources()
        {
            foreach (SharpDX.DisposeBase r in resources)
                r.Dispose();
            resources.Clear();
            liquidityBid = liquidityAsk = volumeBuy = volumeSell = poc = valueArea = vwap = signalLong = signalShort = text = panel = null;
            textFormat = null;
        }
    }
}
