"""Bybit v5 (``/v5/...``), the endpoints desk reads.

Security as Bybit documents it (bybit-exchange.github.io/docs/v5/guide, "Authentication"):
headers ``X-BAPI-API-KEY``, ``X-BAPI-TIMESTAMP``, ``X-BAPI-RECV-WINDOW`` (default 5000) and
``X-BAPI-SIGN`` = hex HMAC-SHA256(secret, timestamp + api key + recv window + query string)
for GET; the request is rejected unless ``server_time - recv_window <= timestamp <
server_time + 1000``. Answers are ``{"retCode", "retMsg", "result", "retExtInfo", "time"}``;
errors: 10003 invalid key (HTTP 401), 10004 bad signature, 10002 timestamp, 10005 permission.

``server.state["bybit"]["account"]`` selects the recorded account: "uta" (Unified Trading
Account, cross) or "classic" (isolated linear and a cross inverse position).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from aiohttp import web

from tests.fake_exchange.server import FakeExchange, json_response


def _answer(server: FakeExchange, result: Any, code: int = 0, msg: str = "OK",
            status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return json_response({"retCode": code, "retMsg": msg, "result": result, "retExtInfo": {},
                          "time": server.now_ms()}, status=status, headers=headers)


def _rate_limited(server: FakeExchange) -> web.Response | None:
    """Bybit's per-endpoint limit (v5 "Rate Limit"): HTTP 200, retCode 10006, and the
    ``X-Bapi-Limit*`` headers, the reset time in ms. On while a test sets
    ``state["limited_until"]`` (server ms)."""
    until = server.state["bybit"].get("limited_until")
    if not until or server.now_ms() >= until:
        return None
    return _answer(server, {}, 10006, "Too many visits!", headers={
        "X-Bapi-Limit": "10", "X-Bapi-Limit-Status": "0", "X-Bapi-Limit-Reset-Timestamp": str(until)})


def _check_signed(server: FakeExchange, request: web.Request) -> tuple[Any, web.Response | None]:
    headers = request.headers
    key = server.keys.get(headers.get("X-BAPI-API-KEY", ""))
    if key is None or key.revoked:
        return None, _answer(server, {}, 10003, "API key is invalid.", status=401)
    timestamp = headers.get("X-BAPI-TIMESTAMP")
    signature = headers.get("X-BAPI-SIGN")
    recv_window = headers.get("X-BAPI-RECV-WINDOW", "5000")
    if not timestamp or not signature:
        return None, _answer(server, {}, 10001, "empty value: apiTimestamp[] apiKey[] apiSignature[]")
    now = server.now_ms()
    if not (now - int(recv_window) <= int(timestamp) < now + 1000):
        return None, _answer(server, {}, 10002,
                             f"invalid request, please check your server timestamp or recv_window param. "
                             f"req_timestamp[{timestamp}],server_timestamp[{now}],recv_window[{recv_window}]")
    query = request.rel_url.raw_query_string
    origin = timestamp + key.key + recv_window + query
    expected = hmac.new(key.secret.encode(), origin.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        return None, _answer(server, {}, 10004, "error sign! origin_string[...]")
    if not key.can_read:
        return None, _answer(server, {}, 10005, "Permission denied, please check your API key permissions.")
    return key, None


def install(server: FakeExchange) -> None:
    server.state["bybit"] = {
        "account": "uta",
        "instruments": server.fresh_state("bybit_instruments.json"),
        "risk_limits": server.fresh_state("bybit_risk_limit.json"),
        "uta": server.fresh_state("bybit_account_uta.json"),
        "classic": server.fresh_state("bybit_account_classic.json"),
        # a UTA cross account with BTC and ETH collateral (unified-margin.md §6.7 TV5)
        "uta_collateral": server.fresh_state("bybit_account_uta_collateral.json"),
        # a UTA basis trade: BTC bought on spot (in the unified wallet) against a BTCUSDT short
        "uta_basis": server.fresh_state("bybit_account_uta_basis.json"),
        "collateral_ratio": server.fresh_state("bybit_collateral_ratio.json"),
        # open orders per recorded account (issue 17): plain and conditional in one list, as
        # /v5/order/realtime answers them when no orderFilter is given
        "orders": server.fresh_state("bybit_order_realtime.json"),
        # the funding fields of /v5/market/tickers per symbol (fundingRate, nextFundingTime in ms)
        "funding": server.fresh_state("bybit_tickers_funding.json"),
    }
    state = server.state["bybit"]

    def account() -> dict[str, Any]:
        return state[state["account"]]

    async def market_time(request: web.Request) -> web.Response:
        now = server.now_ms()
        return _answer(server, {"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)})

    async def instruments(request: web.Request) -> web.Response:
        category = request.query.get("category", "")
        if category not in ("spot", "linear", "inverse", "option"):
            return _answer(server, {}, 10001, "params error: category")
        status = request.query.get("status")
        rows = [r for r in state["instruments"].get(category, [])
                if status is None or r.get("status") == status]
        return _answer(server, {"category": category, "list": rows, "nextPageCursor": ""})

    async def risk_limit(request: web.Request) -> web.Response:
        symbol = request.query.get("symbol")
        rows = [r for r in state["risk_limits"] if symbol is None or r["symbol"] == symbol]
        return _answer(server, {"category": request.query.get("category", "linear"), "list": rows,
                                "nextPageCursor": ""})

    async def tickers(request: web.Request) -> web.Response:
        symbol = request.query.get("symbol")
        category = request.query.get("category", "linear")
        listed = {r["symbol"] for r in state["instruments"].get(category, [])}
        rows: dict[str, dict[str, str]] = {}
        for name in ("uta", "classic", "uta_collateral", "uta_basis"):
            for p in state[name]["positions"]:
                if (symbol is None or p["symbol"] == symbol) and p["symbol"] in listed:
                    funding = state["funding"].get(p["symbol"], {"fundingRate": "0.0001",
                                                                 "nextFundingTime": "1700006400000"})
                    rows[p["symbol"]] = {"symbol": p["symbol"], "markPrice": p["markPrice"],
                                         "indexPrice": p["markPrice"], "lastPrice": p["markPrice"],
                                         **funding}
        return _answer(server, {"category": category, "list": list(rows.values())})

    async def collateral_ratio(request: web.Request) -> web.Response:
        """Public tiered collateral ratios; ``currency`` narrows to one coin."""
        answer = state["collateral_ratio"]
        currency = request.query.get("currency")
        rows = [r for r in answer["result"]["list"] if currency is None or r["currency"] == currency]
        return _answer(server, {"list": rows})

    def signed(build: Any) -> Any:
        async def handler(request: web.Request) -> web.Response:
            limited = _rate_limited(server)
            if limited is not None:
                return limited
            key, failure = _check_signed(server, request)
            if failure is not None:
                return failure
            return build(request, key)
        return handler

    def positions(request: web.Request, key: Any) -> web.Response:
        category = request.query.get("category")
        settle = request.query.get("settleCoin")
        symbol = request.query.get("symbol")
        if category not in ("linear", "inverse", "option"):
            return _answer(server, {}, 10001, "params error: category")
        if category == "linear" and not (settle or symbol or request.query.get("baseCoin")):
            return _answer(server, {}, 10001, "params error: symbol or settleCoin is required")
        instruments = {r["symbol"]: r for r in state["instruments"][category]}
        rows = [p for p in account()["positions"] if p["symbol"] in instruments
                and (settle is None or instruments[p["symbol"]]["settleCoin"] == settle)
                and (symbol is None or p["symbol"] == symbol)]
        return _answer(server, {"list": rows, "nextPageCursor": "", "category": category})

    def wallet(request: web.Request, key: Any) -> web.Response:
        wanted = request.query.get("accountType")
        entry = account()["wallet"]
        if wanted != entry["accountType"]:
            return _answer(server, {}, 10001, f"accountType only support {entry['accountType']}")
        return _answer(server, {"list": [entry]})

    def fee_rate(request: web.Request, key: Any) -> web.Response:
        """The account's own rates (GET /v5/account/fee-rate): Bybit's non-VIP derivatives rates."""
        category = request.query.get("category")
        if category not in ("linear", "inverse", "spot", "option"):
            return _answer(server, {}, 10001, "params error: category")
        symbol = request.query.get("symbol")
        rows = [{"symbol": r["symbol"], "baseCoin": r.get("baseCoin", ""), "takerFeeRate": "0.00055",
                 "makerFeeRate": "0.0002"} for r in state["instruments"].get(category, [])
                if symbol is None or r["symbol"] == symbol]
        return _answer(server, {"category": category, "list": rows})

    def account_info(request: web.Request, key: Any) -> web.Response:
        return _answer(server, account()["info"])

    def query_api(request: web.Request, key: Any) -> web.Response:
        trade = ["Order", "Position"] if key.can_trade else []
        wallet_perms = ["AccountTransfer", "SubMemberTransfer", "Withdraw"] if key.can_withdraw else []
        unified = 1 if state["account"] == "uta" else 0
        return _answer(server, {
            "id": "1234567", "note": "desk test key", "apiKey": key.key,
            "readOnly": 0 if (key.can_trade or key.can_withdraw) else 1, "secret": "",
            "permissions": {"ContractTrade": trade, "Spot": [], "Wallet": wallet_perms, "Options": [],
                            "Derivatives": trade, "CopyTrading": [], "BlockTrade": [], "Exchange": [],
                            "NFT": [], "Affiliate": [], "Earn": []},
            "ips": ["*"], "type": 1, "deadlineDay": 83, "expiredAt": "2027-05-15T03:21:05Z",
            "createdAt": "2026-10-16T02:24:40Z", "unified": 0, "uta": unified, "userID": 24617703,
            "inviterID": 0, "vipLevel": "No VIP", "mktMakerLevel": "0", "affiliateID": 0,
            "rsaPublicKey": "", "isMaster": True, "parentUid": "0", "kycLevel": "LEVEL_1",
            "kycRegion": ""})

    def open_orders(request: web.Request, key: Any) -> web.Response:
        q = request.query
        category = q.get("category")
        if category not in ("linear", "inverse", "spot", "option"):
            return _answer(server, {}, 10001, "params error: category")
        if category == "linear" and not (q.get("settleCoin") or q.get("symbol") or q.get("baseCoin")):
            return _answer(server, {}, 10001, "params error: symbol or settleCoin is required")
        instruments = {r["symbol"]: r for r in state["instruments"].get(category, [])}
        # an account recorded without orders (the UTA collateral one) has none open
        rows = [o for o in state["orders"].get(state["account"], []) if o["symbol"] in instruments
                and (q.get("settleCoin") is None or instruments[o["symbol"]]["settleCoin"] == q["settleCoin"])
                and (q.get("symbol") is None or o["symbol"] == q["symbol"])
                and (q.get("orderFilter") != "StopOrder" or o["stopOrderType"])]
        limit = int(q.get("limit", "20"))
        return _answer(server, {"category": category, "list": rows[:limit], "nextPageCursor": ""})

    r = server.app.router
    r.add_get("/v5/order/realtime", signed(open_orders))
    r.add_get("/v5/market/time", market_time)
    r.add_get("/v5/market/instruments-info", instruments)
    r.add_get("/v5/market/risk-limit", risk_limit)
    r.add_get("/v5/market/tickers", tickers)
    r.add_get("/v5/position/list", signed(positions))
    r.add_get("/v5/account/wallet-balance", signed(wallet))
    r.add_get("/v5/account/info", signed(account_info))
    r.add_get("/v5/spot-margin-trade/collateral", collateral_ratio)
    r.add_get("/v5/account/fee-rate", signed(fee_rate))
    r.add_get("/v5/user/query-api", signed(query_api))


def move_price(server: FakeExchange, coin: str, price: float) -> None:
    """The market of ``coin`` moves to ``price`` (USD), between two reads, as a Unified Trading
    Account would show it (unified-margin.md §3).

    The selected account's USDT-settled ``<coin>USDT`` positions are marked there
    (``markPrice``, ``unrealisedPnl``; ``positionValue`` and ``positionMM`` are entry values and
    stay); each wallet coin's equity and ``usdValue`` follow (the settle coin's UPL, the coin's own
    USD index), and the account totals are re-added: ``totalEquity`` = Σ usdValue,
    ``totalMarginBalance`` = Σ collateral value with the public tiered ratios, ``accountMMRate`` =
    totalMaintenanceMargin ÷ totalMarginBalance (four decimals, as Bybit sends it).
    """
    state = server.state["bybit"]
    account = state[state["account"]]
    pnl = 0.0
    for row in account["positions"]:
        if row["symbol"] != f"{coin}USDT":
            continue
        sign = 1.0 if row["side"] == "Buy" else -1.0
        upl = sign * float(row["size"]) * (price - float(row["avgPrice"]))
        row.update(markPrice=f"{price:.12g}", unrealisedPnl=f"{upl:.12g}")
        pnl += upl
    tiers = {r["currency"]: r["collateralRatioList"] for r in state["collateral_ratio"]["result"]["list"]}
    wallet = account["wallet"]
    equity_usd = margin = perp = 0.0
    for c in wallet["coin"]:
        equity = float(c["equity"])
        usd = float(c["usdValue"]) / equity if equity else 1.0  # the coin's USD index
        if c["coin"] == coin:
            usd = price
        if c["coin"] == "USDT":
            c["unrealisedPnl"] = f"{pnl:.12g}"
            equity = float(c["walletBalance"]) + pnl
            perp += pnl
        c.update(equity=f"{equity:.12g}", usdValue=f"{equity * usd:.12g}")
        equity_usd += equity * usd
        if c.get("marginCollateral") and c.get("collateralSwitch"):
            counted = 0.0
            for tier in tiers.get(c["coin"], [{"minQty": "0", "maxQty": "", "collateralRatio": "1"}]):
                floor, cap = float(tier["minQty"]), float(tier["maxQty"] or "inf")
                counted += max(0.0, min(equity, cap) - floor) * float(tier["collateralRatio"])
            margin += counted * usd if equity > 0 else equity * usd
    mm = float(wallet["totalMaintenanceMargin"])
    wallet.update(totalEquity=f"{equity_usd:.12g}", totalMarginBalance=f"{margin:.12g}",
                  totalPerpUPL=f"{perp:.12g}",
                  accountMMRate=f"{mm / margin:.4f}")
