"""Binance USDⓈ-M (``/fapi``), COIN-M (``/dapi``), Portfolio Margin (``/papi``) and the ``/sapi``
reads desk uses.

Security as Binance applies it (developers.binance.com, "Endpoint security type" and
"SIGNED endpoint security"): USER_DATA endpoints need ``X-MBX-APIKEY`` and a ``signature`` =
hex HMAC-SHA256(secret, query string + body) over the other parameters, with ``timestamp``
within ``recvWindow`` (default 5000 ms, max 60000) of the server clock and not more than
1000 ms ahead. Errors: 401 ``-2015`` (key invalid, revoked, IP or permission), 400 ``-1022``
(bad signature), 400 ``-1021`` (timestamp outside recvWindow), 400 ``-1102`` (missing param).

Portfolio Margin (unified-margin.md §2, §7): ``state["portfolioMargin"]`` says which kind of
account the key belongs to. A classic account's key is refused on ``/papi`` with 401 ``-2015``
(as reported to ccxt, issues #20905 and #22397); a Portfolio Margin account's key is refused the
same way on the signed ``/fapi`` and ``/dapi`` reads (as reported to Binance.Net, issue #1485).
Both behaviours are second-hand reports, not Binance documentation.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets as pysecrets
from typing import Any

from aiohttp import web

from tests.fake_exchange.server import FakeExchange, json_response


def _error(status: int, code: int, msg: str) -> web.Response:
    return json_response({"code": code, "msg": msg}, status=status)


def _auth_key(server: FakeExchange, request: web.Request) -> tuple[Any, web.Response | None]:
    key = server.keys.get(request.headers.get("X-MBX-APIKEY", ""))
    if key is None or key.revoked or not key.can_read:
        return None, _error(401, -2015,
                            "Invalid API-key, IP, or permissions for action, request ip: 127.0.0.1")
    return key, None


def _check_signed(server: FakeExchange, request: web.Request, body: str) -> web.Response | None:
    key, failure = _auth_key(server, request)
    if failure is not None:
        return failure
    raw = request.rel_url.raw_query_string
    payload, _, signature = raw.rpartition("&signature=")
    if not signature:
        if "signature=" in raw:
            payload, signature = "", raw.split("signature=", 1)[1]
        else:
            return _error(400, -1102, "Mandatory parameter 'signature' was not sent, was empty/null, "
                                      "or malformed.")
    timestamp = request.query.get("timestamp")
    if timestamp is None:
        return _error(400, -1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, "
                                  "or malformed.")
    recv_window = int(request.query.get("recvWindow", "5000"))
    if recv_window > 60000:
        return _error(400, -1131, "recvWindow must be less than 60000")
    now = server.now_ms()
    ts = int(timestamp)
    if ts >= now + 1000 or now - ts > recv_window:
        return _error(400, -1021, "Timestamp for this request is outside of the recvWindow.")
    expected = hmac.new(key.secret.encode(), (payload + body).encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        return _error(400, -1022, "Signature for this request is not valid.")
    return None


def _weight_headers(server: FakeExchange, weight: int) -> dict[str, str]:
    state = server.state["binance"]
    minute = server.now_ms() // 60_000
    if state.get("weight_minute") != minute:  # Binance counts weight per clock minute
        state["weight_minute"], state["used_weight"] = minute, 0
    state["used_weight"] = state.get("used_weight", 0) + weight
    return {"X-MBX-USED-WEIGHT-1M": str(state["used_weight"])}


def _sent(state: dict[str, Any], seconds: int) -> str:
    """The Retry-After header, kept in ``state["retry_after_sent"]``: a test compares with what was
    sent rather than recomputing it from a clock that may have moved on to the next minute."""
    state["retry_after_sent"] = seconds
    return str(seconds)


def _rate_limited(server: FakeExchange) -> web.Response | None:
    """Binance's IP limits ("LIMITS" in the USDⓈ-M docs): over the request weight of the current
    minute → 429 -1003 with ``Retry-After`` (seconds to the next minute); while banned → 418
    with ``Retry-After`` and the ban's end (ms) in the message. Off unless a test sets
    ``state["weight_limit"]`` or ``state["banned_until"]``."""
    state = server.state["binance"]
    now = server.now_ms()
    banned_until = state.get("banned_until")
    if banned_until and now < banned_until:
        return json_response(
            {"code": -1003, "msg": f"Way too much request weight used; IP banned until {banned_until}. "
                                   f"Please use WebSocket Streams for live updates to avoid bans."},
            status=418, headers={"Retry-After": _sent(state, -(-(banned_until - now) // 1000))})
    limit = state.get("weight_limit")
    if limit is not None and state.get("weight_minute") == now // 60_000 \
            and state.get("used_weight", 0) > limit:
        return json_response(
            {"code": -1003, "msg": f"Too much request weight used; current limit is {limit} request "
                                   f"weight per 1 MINUTE. Please use WebSocket Streams for live updates "
                                   f"to avoid polling the API."},
            status=429, headers={"Retry-After": _sent(state, 60 - (now // 1000) % 60)})
    return None


def install(server: FakeExchange) -> None:
    server.state["binance"] = {
        "exchangeInfo": server.fresh_state("binance_fapi_exchangeInfo.json"),
        "positionRisk": server.fresh_state("binance_fapi_positionRisk_v3.json"),
        "account": server.fresh_state("binance_fapi_account_v3.json"),
        "leverageBracket": server.fresh_state("binance_fapi_leverageBracket.json"),
        "premiumIndex": server.fresh_state("binance_fapi_premiumIndex.json"),
        "dapi_exchangeInfo": server.fresh_state("binance_dapi_exchangeInfo.json"),
        "dapi_positionRisk": server.fresh_state("binance_dapi_positionRisk.json"),
        "dapi_account": server.fresh_state("binance_dapi_account.json"),
        "dapi_leverageBracket": server.fresh_state("binance_dapi_leverageBracket_v2.json"),
        "dapi_premiumIndex": server.fresh_state("binance_dapi_premiumIndex.json"),
        # the symbols whose funding interval or cap Binance adjusted (GET /fapi|dapi/v1/fundingInfo)
        "fundingInfo": server.fresh_state("binance_fapi_fundingInfo.json"),
        "dapi_fundingInfo": [],
        "listen_keys": [],
        # Multi-Assets mode (GET /fapi/v1/multiAssetsMargin); tests switch it on together with the
        # binance_fapi_*_multi_assets.json payloads
        "multiAssetsMargin": False,
        "assetIndex": server.fresh_state("binance_fapi_assetIndex.json"),
        # open orders (issue 17): plain /openOrders and the conditional (algo) /openAlgoOrders
        "openOrders": server.fresh_state("binance_fapi_openOrders.json"),
        "openAlgoOrders": server.fresh_state("binance_fapi_openAlgoOrders.json"),
        "dapi_openOrders": [],
        "dapi_openAlgoOrders": server.fresh_state("binance_dapi_openAlgoOrders.json"),
        # Portfolio Margin: off unless a test switches it on (the papi_* payloads then answer)
        "portfolioMargin": False,
        "papi_account": server.fresh_state("binance_papi_account.json"),
        "papi_balance": server.fresh_state("binance_papi_balance.json"),
        "papi_um_positionRisk": server.fresh_state("binance_papi_um_positionRisk.json"),
        "papi_cm_positionRisk": [],
        # the same brackets as /fapi, with the PM answer's notionalCoef
        "papi_um_leverageBracket": [dict(r, notionalCoef="1.0") for r in
                                    server.fresh_state("binance_fapi_leverageBracket.json")],
        "papi_cm_leverageBracket": server.fresh_state("binance_dapi_leverageBracket_v2.json"),
        # Portfolio Margin open orders: UM plain and algo (the conditional orders since 2026-04-28),
        # CM plain and conditional (strategy rows)
        "papi_um_openOrders": server.fresh_state("binance_papi_um_openOrders.json"),
        "papi_um_openAlgoOrders": server.fresh_state("binance_papi_um_openAlgoOrders.json"),
        "papi_cm_openOrders": [],
        "papi_cm_conditional_openOrders": [],
        "collateralRate": server.fresh_state("binance_sapi_portfolio_collateralRate.json"),
        "assetIndexPrice": server.fresh_state("binance_sapi_portfolio_assetIndexPrice.json"),
        # the spot wallet (GET /api/v3/account, weight 20); "spot_refused" answers the key with the
        # 401 -2015 Binance gives a key that may not read it
        "spot_account": server.fresh_state("binance_api_v3_account.json"),
        "spot_refused": False,
        # ADL quantile per position side (issue 17): GET /fapi|/dapi/v1/adlQuantile and the
        # Portfolio Margin /papi/v1/{um,cm}/adlQuantile, weight 5 each
        "adlQuantile": server.fresh_state("binance_fapi_adlQuantile.json"),
        "dapi_adlQuantile": server.fresh_state("binance_dapi_adlQuantile.json"),
        "papi_um_adlQuantile": server.fresh_state("binance_papi_um_adlQuantile.json"),
        "papi_cm_adlQuantile": [],
    }
    state = server.state["binance"]

    def public(name: str, weight: int = 1) -> Any:
        async def handler(request: web.Request) -> web.Response:
            limited = _rate_limited(server)
            if limited is not None:
                return limited
            return json_response(state[name], headers=_weight_headers(server, weight))
        return handler

    def signed(name: str, weight: int = 5) -> Any:
        async def handler(request: web.Request) -> web.Response:
            limited = _rate_limited(server)
            if limited is not None:
                return limited
            failure = _check_signed(server, request, await request.text()) or _wrong_api(request)
            if failure is not None:
                return failure
            data = state[name]
            symbol = request.query.get("symbol")
            if symbol and isinstance(data, list):
                data = [row for row in data if row.get("symbol") == symbol]
                if name.endswith("leverageBracket"):
                    if not data:
                        return _error(400, -1121, "Invalid symbol.")
                    data = data[0]  # Binance answers one object when a symbol is given
            return json_response(data, headers=_weight_headers(server, weight))
        return handler

    def _wrong_api(request: web.Request) -> web.Response | None:
        """The refusal a key meets on the API of the other account kind (see the module docstring)."""
        portfolio = bool(state["portfolioMargin"])
        on_papi = request.path.startswith("/papi/")
        on_futures = request.path.startswith(("/fapi/", "/dapi/"))
        if (on_papi and not portfolio) or (on_futures and portfolio):
            return _error(401, -2015, "Invalid API-key, IP, or permissions for action, request ip: 127.0.0.1")
        return None

    async def asset_index_price(request: web.Request) -> web.Response:
        """``GET /sapi/v1/portfolio/asset-index-price``: weight 1 with ``asset``, 50 without; a list
        either way (Binance's documented example)."""
        failure = _check_signed(server, request, await request.text())
        if failure is not None:
            return failure
        rows = state["assetIndexPrice"]
        asset = request.query.get("asset")
        if asset:
            rows = [r for r in rows if r["asset"] == asset]
            if not rows:
                return _error(400, -1121, "Invalid symbol.")
        return json_response(rows, headers=_weight_headers(server, 1 if asset else 50))

    async def spot_account(request: web.Request) -> web.Response:
        """``GET /api/v3/account`` (USER_DATA, weight 20); ``omitZeroBalances=true`` drops the empty rows."""
        limited = _rate_limited(server)
        if limited is not None:
            return limited
        failure = _check_signed(server, request, await request.text())
        if failure is not None:
            return failure
        if state["spot_refused"]:
            return _error(401, -2015, "Invalid API-key, IP, or permissions for action, request ip: 127.0.0.1")
        answer = dict(state["spot_account"])
        if request.query.get("omitZeroBalances") == "true":
            answer["balances"] = [b for b in answer["balances"]
                                  if float(b["free"]) != 0 or float(b["locked"]) != 0]
        return json_response(answer, headers=_weight_headers(server, 20))

    async def server_time(request: web.Request) -> web.Response:
        return json_response({"serverTime": server.now_ms()})

    async def premium_index(request: web.Request) -> web.Response:
        # COIN-M answers a list even for one symbol; USDⓈ-M one object
        coin = request.path.startswith("/dapi/")
        rows = state["dapi_premiumIndex" if coin else "premiumIndex"]
        symbol = request.query.get("symbol")
        if symbol:
            match = [r for r in rows if r["symbol"] == symbol]
            if not match:
                return _error(400, -1121, "Invalid symbol.")
            if coin:
                return json_response([dict(match[0], time=server.now_ms())])
            return json_response(dict(match[0], time=server.now_ms()))
        return json_response([dict(r, time=server.now_ms()) for r in rows])

    async def multi_assets_margin(request: web.Request) -> web.Response:
        failure = _check_signed(server, request, await request.text()) or _wrong_api(request)
        if failure is not None:
            return failure
        return json_response({"multiAssetsMargin": bool(state["multiAssetsMargin"])},
                             headers=_weight_headers(server, 30))

    async def asset_index(request: web.Request) -> web.Response:
        """One row per ``<ASSET>USD`` pair; with ``symbol`` one object (Binance's shape)."""
        rows = state["assetIndex"]
        symbol = request.query.get("symbol")
        if symbol:
            match = [r for r in rows if r["symbol"] == symbol]
            if not match:
                return _error(400, -1121, "Invalid symbol.")
            return json_response(match[0], headers=_weight_headers(server, 1))
        return json_response(rows, headers=_weight_headers(server, 10))

    async def listen_key(request: web.Request) -> web.Response:
        _, failure = _auth_key(server, request)
        if failure is not None:
            return failure
        if request.method == "POST":
            key = pysecrets.token_hex(32)
            state["listen_keys"].append(key)
            return json_response({"listenKey": key})
        return json_response({})

    async def api_restrictions(request: web.Request) -> web.Response:
        failure = _check_signed(server, request, await request.text())
        if failure is not None:
            return failure
        key = server.keys[request.headers["X-MBX-APIKEY"]]
        return json_response({
            "ipRestrict": key.ip_restricted, "createTime": 1698645219000, "enableReading": key.can_read,
            "enableWithdrawals": key.can_withdraw, "enableInternalTransfer": key.can_withdraw,
            "enableMargin": False, "enableFutures": key.can_trade,
            "permitsUniversalTransfer": key.can_withdraw,
            "enableVanillaOptions": False, "enableSpotAndMarginTrading": key.can_trade,
            "enablePortfolioMarginTrading": False, "enableFixApiTrade": False, "enableFixReadOnly": False,
        })

    r = server.app.router
    r.add_get("/api/v3/account", spot_account)
    r.add_get("/fapi/v1/ping", _empty)
    r.add_get("/fapi/v1/time", server_time)
    r.add_get("/fapi/v1/exchangeInfo", public("exchangeInfo", 1))
    r.add_get("/fapi/v1/premiumIndex", premium_index)
    r.add_get("/fapi/v1/fundingInfo", public("fundingInfo", 0))
    r.add_get("/fapi/v1/leverageBracket", signed("leverageBracket", 1))
    r.add_get("/fapi/v3/positionRisk", signed("positionRisk", 5))
    r.add_get("/fapi/v3/account", signed("account", 5))
    r.add_get("/fapi/v1/multiAssetsMargin", multi_assets_margin)
    r.add_get("/fapi/v1/adlQuantile", signed("adlQuantile", 5))
    r.add_get("/dapi/v1/adlQuantile", signed("dapi_adlQuantile", 5))
    r.add_get("/papi/v1/um/adlQuantile", signed("papi_um_adlQuantile", 5))
    r.add_get("/papi/v1/cm/adlQuantile", signed("papi_cm_adlQuantile", 5))
    r.add_get("/fapi/v1/assetIndex", asset_index)
    for method in ("POST", "PUT", "DELETE"):
        r.add_route(method, "/fapi/v1/listenKey", listen_key)
        r.add_route(method, "/dapi/v1/listenKey", listen_key)
    r.add_get("/fapi/v1/openOrders", signed("openOrders", 1))
    r.add_get("/fapi/v1/openAlgoOrders", signed("openAlgoOrders", 1))
    r.add_get("/dapi/v1/openOrders", signed("dapi_openOrders", 1))
    r.add_get("/dapi/v1/openAlgoOrders", signed("dapi_openAlgoOrders", 1))
    r.add_get("/dapi/v1/ping", _empty)
    r.add_get("/dapi/v1/time", server_time)
    r.add_get("/dapi/v1/exchangeInfo", public("dapi_exchangeInfo", 1))
    r.add_get("/dapi/v1/premiumIndex", premium_index)
    r.add_get("/dapi/v1/fundingInfo", public("dapi_fundingInfo", 0))
    r.add_get("/dapi/v1/positionRisk", signed("dapi_positionRisk", 1))
    r.add_get("/dapi/v1/account", signed("dapi_account", 5))
    r.add_get("/dapi/v2/leverageBracket", signed("dapi_leverageBracket", 1))
    r.add_get("/sapi/v1/account/apiRestrictions", api_restrictions)
    # Portfolio Margin (developers.binance.com/docs/derivatives/portfolio-margin): weights as documented
    r.add_get("/papi/v1/account", signed("papi_account", 20))
    r.add_get("/papi/v1/balance", signed("papi_balance", 20))
    r.add_get("/papi/v1/um/positionRisk", signed("papi_um_positionRisk", 5))
    r.add_get("/papi/v1/cm/positionRisk", signed("papi_cm_positionRisk", 1))
    r.add_get("/papi/v1/um/leverageBracket", signed("papi_um_leverageBracket", 1))
    r.add_get("/papi/v1/cm/leverageBracket", signed("papi_cm_leverageBracket", 1))
    r.add_get("/papi/v1/um/openOrders", signed("papi_um_openOrders", 1))
    r.add_get("/papi/v1/um/algo/openAlgoOrders", signed("papi_um_openAlgoOrders", 1))
    r.add_get("/papi/v1/cm/openOrders", signed("papi_cm_openOrders", 1))
    r.add_get("/papi/v1/cm/conditional/openOrders", signed("papi_cm_conditional_openOrders", 1))
    r.add_get("/sapi/v1/portfolio/collateralRate", signed("collateralRate", 50))
    r.add_get("/sapi/v1/portfolio/asset-index-price", asset_index_price)


async def _empty(request: web.Request) -> web.Response:
    return json_response({})


def move_price(server: FakeExchange, coin: str, price: float) -> None:
    """The market of ``coin`` moves to ``price`` (USDT), between two reads, as Binance would show it.

    Every USDⓈ-M position on the coin is marked there (``markPrice``, ``unRealizedProfit``,
    ``notional``, and ``maintMargin`` from its bracket at the new notional); the premium index and
    the coin's asset index follow; the account's per-asset and total figures are re-added (in
    Multi-Assets mode the totals are USD: an asset's equity at its bid rate, its maintenance margin
    at its ask rate, unified-margin.md §1). Each position's ``liquidationPrice`` stays: with the
    collateral held at its index it does not depend on the mark (the bracket held).
    """
    state = server.state["binance"]
    rates = {r["symbol"][:-3]: (float(r["bidRate"]), float(r["askRate"])) for r in state["assetIndex"]}
    multi = bool(state["multiAssetsMargin"])
    brackets = {r["symbol"]: r["brackets"] for r in state["leverageBracket"]}
    moved: dict[str, dict[str, float]] = {}
    for row in state["positionRisk"]:
        if not row["symbol"].startswith(coin) or float(row["positionAmt"]) == 0:
            continue
        amount = float(row["positionAmt"])
        notional = amount * price
        bracket = next(b for b in brackets[row["symbol"]] if abs(notional) <= b["notionalCap"])
        maint = abs(notional) * bracket["maintMarginRatio"] - bracket["cum"]
        pnl = amount * (price - float(row["entryPrice"]))
        row.update(markPrice=f"{price:.8f}", unRealizedProfit=f"{pnl:.8f}", notional=f"{notional:.8f}",
                   maintMargin=f"{maint:.8f}")
        moved[row["symbol"]] = {"unrealizedProfit": pnl, "notional": notional, "maintMargin": maint}
    for row in state["premiumIndex"]:
        if row["symbol"] in moved:
            row.update(markPrice=f"{price:.8f}", indexPrice=f"{price:.8f}")
    for row in state["assetIndex"]:
        if row["symbol"] == f"{coin}USD":
            bid, ask = float(row["bidBuffer"]), float(row["askBuffer"])
            row.update(index=f"{price:.8f}", bidRate=f"{price * (1 - bid):.8f}",
                       askRate=f"{price * (1 + ask):.8f}")
    account = state["account"]
    for row in account.get("positions") or []:
        if row["symbol"] in moved:
            row.update({k: f"{v:.8f}" for k, v in moved[row["symbol"]].items()})
    settle_of = {s["symbol"]: s["marginAsset"] for s in state["exchangeInfo"]["symbols"]}
    totals = {"unrealized": 0.0, "maint": 0.0, "wallet": 0.0}
    for asset in account["assets"]:
        code = asset["asset"]
        held = [m for s, m in moved.items() if settle_of.get(s) == code]
        if held:
            pnl = sum(m["unrealizedProfit"] for m in held)
            maint = sum(m["maintMargin"] for m in held)
            asset.update(unrealizedProfit=f"{pnl:.8f}", crossUnPnl=f"{pnl:.8f}", maintMargin=f"{maint:.8f}",
                         marginBalance=f"{float(asset['walletBalance']) + pnl:.8f}")
        bid, ask = rates.get(code, (1.0, 1.0)) if multi else (1.0, 1.0)
        equity = float(asset["walletBalance"]) + float(asset["unrealizedProfit"])
        totals["wallet"] += float(asset["walletBalance"]) * bid
        totals["unrealized"] += equity * (bid if equity >= 0 else ask) - float(asset["walletBalance"]) * bid
        totals["maint"] += float(asset["maintMargin"]) * ask
    account.update(totalUnrealizedProfit=f"{totals['unrealized']:.8f}",
                   totalCrossUnPnl=f"{totals['unrealized']:.8f}",
                   totalMaintMargin=f"{totals['maint']:.8f}",
                   totalMarginBalance=f"{totals['wallet'] + totals['unrealized']:.8f}")
