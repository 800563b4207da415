// OrderflowIndicator.cs - orderflow's view on any NinjaTrader 8 chart, without the strategy.
//
// Install: copy this file, OrderflowRender.cs, OrderflowModel.cs and OrderflowTransport.cs into
// Documents\NinjaTrader 8\bin\Custom\Indicators (or beside the strategy's files: NinjaTrader
// compiles bin\Custom as one assembly, so each file is copied once) and press F5. See README.md.
//
// Read-only: the indicator connects with its own client name (nt8-view-<instrument> unless
// set), sends no market data and no report, refuses every order command the server might send
// ("read-only viewer") and asks for the instrument's state (state_request) every RefreshMs.
// The transport's receiver thread builds each answer into a new OrderflowView and swaps it in;
// OnRender reads that reference once (OrderflowTransport.View, lock-free) and draws it with
// OrderflowRenderer (clusters, profile, VWAP, signals, panel), never waiting on the socket.

#region Using declarations
using System;
using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Threading;
using NinjaTrader.Gui.Chart;
using Orderflow.Bridge;
#endregion

namespace NinjaTrader.NinjaScript.Indicators
{
    public class OrderflowIndicator : Indicator
    {
        private OrderflowTransport transport;
        private OrderflowRenderer renderer;
        private Timer stateTimer;
        private volatile bool terminating;
        private string serverInstrument = "";
        // Without a server URL: the view SetView gave (any thread), read once per OnRender.
        private volatile OrderflowView view = OrderflowView.Empty;

        #region Properties
        [Display(Name = "Server URL", Description = "WebSocket URL of the orderflow server", GroupName = "Orderflow server", Order = 1)]
        public string ServerUrl { get; set; }

        [PasswordPropertyText(true)]
        [Display(Name = "Token", Description = "Token sent in hello (required when the server is not on 127.0.0.1)", GroupName = "Orderflow server", Order = 2)]
        public string Token { get; set; }

        [Display(Name = "Token file", Description = "File holding the token, instead of Token", GroupName = "Orderflow server", Order = 3)]
        public string TokenFile { get; set; }

        [Display(Name = "Client name", Description = "This viewer's name at the server. Empty: nt8-view-<instrument>", GroupName = "Orderflow server", Order = 4)]
        public string ClientName { get; set; }

        [Display(Name = "Server instrument", Description = "The instrument as the server names it. Empty: the chart's Instrument.FullName", GroupName = "Orderflow server", Order = 5)]
        public string ServerInstrument { get; set; }

        [Range(100, 60000)]
        [Display(Name = "Refresh (ms)", Description = "How often the state is asked for", GroupName = "Orderflow server", Order = 6)]
        public int RefreshMs { get; set; }

        [Range(0.0, 1.0)]
        [Display(Name = "Opacity", Description = "Fill opacity of a cluster of strength 0", GroupName = "Clusters", Order = 10)]
        public double BaseOpacity { get; set; }

        [Range(0.0, 1.0)]
        [Display(Name = "Max opacity", Description = "Fill opacity of a cluster of strength 1", GroupName = "Clusters", Order = 11)]
        public double MaxOpacity { get; set; }

        [Range(0.0, 1.0)]
        [Display(Name = "Minimum strength", Description = "Weaker clusters are not drawn", GroupName = "Clusters", Order = 12)]
        public double MinStrength { get; set; }

        [Display(Name = "Liquidity bid colour", GroupName = "Clusters", Order = 13)]
        public string LiquidityBidColor { get; set; }

        [Display(Name = "Liquidity ask colour", GroupName = "Clusters", Order = 14)]
        public string LiquidityAskColor { get; set; }

        [Display(Name = "Volume buy colour", GroupName = "Clusters", Order = 15)]
        public string VolumeBuyColor { get; set; }

        [Display(Name = "Volume sell colour", GroupName = "Clusters", Order = 16)]
        public string VolumeSellColor { get; set; }
        #endregion

        protected override void OnStateChange()
        {
            if (State == State.SetDefaults)
            {
                Name = "OrderflowIndicator";
                Description = "Draws orderflow's clusters, profile, VWAP and signals (read-only; places no orders).";
                IsOverlay = true;
                DrawOnPricePanel = true;
                DisplayInDataBox = false;
                ServerUrl = "ws://127.0.0.1:8765/ws";
                Token = "";
                TokenFile = "";
                ClientName = "";
                ServerInstrument = "";
                RefreshMs = 500;
                var d = new OrderflowRenderSettings();
                BaseOpacity = d.BaseOpacity;
                MaxOpacity = d.MaxOpacity;
                MinStrength = d.MinStrength;
                LiquidityBidColor = d.LiquidityBidColor;
                LiquidityAskColor = d.LiquidityAskColor;
                VolumeBuyColor = d.VolumeBuyColor;
                VolumeSellColor = d.VolumeSellColor;
            }
            else if (State == State.DataLoaded)
            {
                renderer = new OrderflowRenderer(new OrderflowRenderSettings
                {
                    BaseOpacity = BaseOpacity,
                    MaxOpacity = MaxOpacity,
                    MinStrength = MinStrength,
                    LiquidityBidColor = LiquidityBidColor,
                    LiquidityAskColor = LiquidityAskColor,
                    VolumeBuyColor = VolumeBuyColor,
                    VolumeSellColor = VolumeSellColor,
                    TimeZone = NinjaTrader.Core.Globals.GeneralOptions.TimeZoneInfo,
                });
                if (string.IsNullOrEmpty(ServerUrl))
                    return; // drawing only what SetView is given
                string instrument = serverInstrument = string.IsNullOrEmpty(ServerInstrument) ? Instrument.FullName : ServerInstrument;
                transport = new OrderflowTransport(new TransportOptions
                {
                    Url = ServerUrl,
                    Token = TransportOptions.ResolveToken(Token, TokenFile),
                    ClientName = string.IsNullOrEmpty(ClientName) ? "nt8-view-" + Instrument.FullName : ClientName,
                    Report = false,
                });
                transport.Log += text =>
                {
                    if (!terminating)
                        Print("orderflow view: " + text);
                };
                // Read-only: no order is ever placed from here.
                transport.CommandReceived += c => transport.CompleteCommand(c, "refused", "read-only viewer (OrderflowIndicator)");
                transport.Start();
                stateTimer = new Timer(o => RequestState(instrument), null, 0, RefreshMs);
            }
            else if (State == State.Terminated)
            {
                terminating = true;
                if (stateTimer != null)
                {
                    stateTimer.Dispose();
                    stateTimer = null;
                }
                if (transport != null)
                {
                    transport.Stop("indicator terminated", 2000);
                    transport = null;
                }
                if (renderer != null)
                {
                    renderer.Dispose();
                    renderer = null;
                }
            }
        }

        /// <summary>Without a server URL: swaps in a view to draw (any thread); the next OnRender draws it.</summary>
        public void SetView(OrderflowView newView)
        {
            view = newView ?? OrderflowView.Empty;
        }

        /// <summary>The view OnRender draws next: the transport's latest for the instrument, or SetView's.</summary>
        public OrderflowView View
        {
            get
            {
                OrderflowTransport t = transport;
                return t != null ? t.View(serverInstrument) : view;
            }
        }

        public override void OnRenderTargetChanged()
        {
            if (renderer != null)
                renderer.RenderTargetChanged(RenderTarget);
        }

        protected override void OnRender(ChartControl chartControl, ChartScale chartScale)
        {
            OrderflowView v = View; // the one read of the swapped reference
            if (renderer != null)
                renderer.Render(RenderTarget, chartControl, chartScale, ChartPanel, v,
                    new OrderflowPanelInfo { Position = "viewer (no orders)" });
        }

        private void RequestState(string instrument)
        {
            OrderflowTransport t = transport;
            if (t != null && !terminating && t.IsConnected)
                t.RequestState(instrument);
        }
    }
}
