#!/usr/bin/env bash
# Compiles the NinjaTrader bridge with mono on Linux (CI and development; NinjaTrader itself
# compiles the .cs files with F5, see README.md). Outputs go to build/:
#   OrderflowStrategy.dll   transport + strategies + stub/ : proves the strategies compile
#   OrderflowSelfTest.exe   transport + SelfTest         : run with `mono build/OrderflowSelfTest.exe`
#   OrderflowStrategyHarness.exe  transport + strategies + stub/ : drives them (tests)
#   OrderflowRenderTest.exe  renderer + indicator + strategy + stub/ : checks the chart drawing
# Installs Debian's mono-mcs when mcs (or mono) is missing, and tzdata for the self-test's
# time zone, with apt-get (needs root or sudo).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$here/build"
mkdir -p "$out"
# one build at a time: parallel test workers each ask for it
exec 9>"$out/.build.lock"
flock 9

need=()
if ! command -v mcs >/dev/null 2>&1 || ! command -v mono >/dev/null 2>&1; then
    need+=(mono-mcs)
fi
# The self-test converts New York times: mono reads the zone from tzdata.
if [ ! -e /usr/share/zoneinfo/America/New_York ]; then
    need+=(tzdata)
fi
if [ ${#need[@]} -gt 0 ]; then
    echo "build.sh: installing ${need[*]} with apt-get ..." >&2
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "build.sh: ERROR: ${need[*]} missing and apt-get is not available; install mono (mono-mcs) and tzdata by hand" >&2
        exit 3
    fi
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
            echo "build.sh: ERROR: ${need[*]} missing and we are not root (no sudo) to apt-get install them" >&2
            exit 3
        fi
    fi
    if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}"; } >&2; then
        echo "build.sh: ERROR: 'apt-get install ${need[*]}' failed; install them by hand" >&2
        exit 3
    fi
    if ! command -v mcs >/dev/null 2>&1 || ! command -v mono >/dev/null 2>&1; then
        echo "build.sh: ERROR: mono-mcs installed but mcs/mono are still not on PATH" >&2
        exit 3
    fi
fi

mkdir -p "$out"
# C# 7.2: the subset both mcs and NinjaTrader's compiler accept (see README.md).
MCS=(mcs -langversion:7.2 -warnaserror+ -nowarn:1591 -debug- -optimize+)

"${MCS[@]}" -target:library -out:"$out/OrderflowStrategy.dll" \
    "$here/OrderflowTransport.cs" "$here/OrderflowModel.cs" "$here/OrderflowStrategy.cs" "$here/OrderflowExampleStrategy.cs" \
    "$here/OrderflowRender.cs" "$here/OrderflowIndicator.cs" "$here/stub/NinjaTraderStub.cs"

"${MCS[@]}" -target:exe -out:"$out/OrderflowSelfTest.exe" \
    "$here/OrderflowTransport.cs" "$here/OrderflowModel.cs" "$here/SelfTest.cs" "$here/SelfTestViews.cs"

"${MCS[@]}" -target:exe -out:"$out/OrderflowStrategyHarness.exe" \
    "$here/OrderflowTransport.cs" "$here/OrderflowModel.cs" "$here/OrderflowStrategy.cs" "$here/OrderflowExampleStrategy.cs" \
    "$here/OrderflowRender.cs" "$here/OrderflowIndicator.cs" "$here/stub/NinjaTraderStub.cs" \
    "$here/stub/StrategyHarness.cs"

"${MCS[@]}" -target:exe -out:"$out/OrderflowRenderTest.exe" \
    "$here/OrderflowTransport.cs" "$here/OrderflowModel.cs" "$here/OrderflowStrategy.cs" \
    "$here/OrderflowRender.cs" "$here/OrderflowIndicator.cs" "$here/stub/NinjaTraderStub.cs" \
    "$here/stub/RenderTest.cs"

echo "build.sh: built OrderflowStrategy.dll, OrderflowSelfTest.exe, OrderflowStrategyHarness.exe, OrderflowRenderTest.exe in $out ($(mcs --version))"
