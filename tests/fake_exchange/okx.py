"""OKX v5 (``/api/v5/...``), the endpoints desk reads.

Security as OKX documents it (okx.com/docs-v5, "REST Authentication"): headers
``OK-ACCESS-KEY``, ``OK-ACCESS-SIGN`` = base64 HMAC-SHA256(secret, timestamp + METHOD +
requestPath-with-query + body), ``OK-ACCESS-TIMESTAMP`` (ISO 8601 with milliseconds, UTC, within
30 s of the server clock) and ``OK-ACCESS-PASSPHRASE``. Answers are ``{"code", "msg", "data"}``;
errors (HTTP 401): 50111 invalid key, 50113 invalid sign, 50105 wrong passphrase, 50102
timestamp expired.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime
from typing import Any

from aiohttp import web

from tests.fake_exchange.server import FakeExchange, json_response


def _answer(data: Any, code: str = "0", msg: str = "", status: int = 200) -> web.Response:
    return json_response({"code": code, "msg": msg, "data": data}, status=status)


def install(server: FakeExchange) -> None:
    server.state["okx"] = {
        "instruments": server.fresh_state("okx_instruments.json"),
        "positions": server.fresh_state("okx_positions.json"),
        "balance": server.fresh_state("okx_balance.json"),
        # instFamily -> tier rows (minSz/maxSz in contracts), the same for cross and isolated
        "position_tiers": server.fresh_state("okx_position_tiers.json"),
        "passphrases": {},  # api key -> passphrase
        # account mode (GET /api/v5/account/config acctLv): 2 spot and futures, 3 multi-currency,
        # 4 portfolio margin; tests switch to 3 with okx_balance_multi_currency.json
        "acctLv": "2",
        "orders_pending": server.fresh_state("okx_orders_pending.json"),  # issue 17
        "orders_algo_pending": server.fresh_state("okx_orders_algo_pending.json"),
        # GET /api/v5/public/funding-rate rows by instId (issue 17)
        "funding_rate": {r["instId"]: r for r in server.fresh_state("okx_funding_rate.json")},
    }
    state = server.state["okx"]

    async def check(request: web.Request) -> tuple[Any, web.Response | None]:
        h = request.headers
        key = server.keys.get(h.get("OK-ACCESS-KEY", ""))
        if key is None or key.revoked:
            return None, _answer([], "50111", "Invalid OK-ACCESS-KEY", 401)
        if state["passphrases"].get(key.key) != h.get("OK-ACCESS-PASSPHRASE"):
            return None, _answer([], "50105", "Invalid OK-ACCESS-PASSPHRASE", 401)
        stamp = h.get("OK-ACCESS-TIMESTAMP", "")
        try:
            sent = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000
        except ValueError:
            return None, _answer([], "50112", "Invalid OK-ACCESS-TIMESTAMP", 401)
        if abs(server.now_ms() - sent) > 30_000:
            return None, _answer([], "50102", "Timestamp request expired", 401)
        path = request.rel_url.raw_path + (f"?{request.rel_url.raw_query_string}"
                                           if request.rel_url.raw_query_string else "")
        body = await request.text()
        digest = hmac.new(key.secret.encode(), f"{stamp}{request.method}{path}{body}".encode(),
                          hashlib.sha256).digest()
        if not hmac.compare_digest(base64.b64encode(digest).decode(), h.get("OK-ACCESS-SIGN", "")):
            return None, _answer([], "50113", "Invalid Sign", 401)
        if not key.can_read:
            return None, _answer([], "50030", "Illegal request", 403)
        return key, None

    async def public_time(request: web.Request) -> web.Response:
        return _answer([{"ts": str(server.now_ms())}])

    async def instruments(request: web.Request) -> web.Response:
        kind = request.query.get("instType")
        if kind not in ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION"):
            return _answer([], "51000", "Parameter instType error")
        return _answer([i for i in state["instruments"] if i["instType"] == kind])

    async def position_tiers(request: web.Request) -> web.Response:
        # GET /api/v5/public/position-tiers (public): instType and tdMode are required; derivatives
        # need uly or instFamily (OKX: 50014 "Parameter {0} can not be empty", 51000 on bad values).
        q = request.query
        for name in ("instType", "tdMode"):
            if not q.get(name):
                return _answer([], "50014", f"Parameter {name} can not be empty", 400)
        if q["instType"] not in ("MARGIN", "SWAP", "FUTURES", "OPTION"):
            return _answer([], "51000", "Parameter instType error", 400)
        if q["tdMode"] not in ("cross", "isolated"):
            return _answer([], "51000", "Parameter tdMode error", 400)
        family = q.get("instFamily") or q.get("uly")
        if q["instType"] != "MARGIN" and not family:
            return _answer([], "50014", "Parameter instFamily can not be empty", 400)
        rows = state["position_tiers"].get(family, [])
        wanted = q.get("tier")
        return _answer([r for r in rows if wanted is None or r["tier"] == wanted])

    async def funding_rate(request: web.Request) -> web.Response:
        # GET /api/v5/public/funding-rate (public): instId is required (50014); an instrument with no
        # funding row is not a perpetual OKX knows (51001 "Instrument ID does not exist")
        inst = request.query.get("instId")
        if not inst:
            return _answer([], "50014", "Parameter instId can not be empty", 400)
        row = state["funding_rate"].get(inst)
        if row is None:
            return _answer([], "51001", "Instrument ID does not exist", 400)
        return _answer([row])

    def signed(build: Any) -> Any:
        async def handler(request: web.Request) -> web.Response:
            key, failure = await check(request)
            return failure if failure is not None else build(request, key)
        return handler

    def positions(request: web.Request, key: Any) -> web.Response:
        kind, inst = request.query.get("instType"), request.query.get("instId")
        return _answer([p for p in state["positions"] if (kind is None or p["instType"] == kind)
                        and (inst is None or p["instId"] == inst)])

    def balance(request: web.Request, key: Any) -> web.Response:
        return _answer(state["balance"])

    def config(request: web.Request, key: Any) -> web.Response:
        perm = ",".join(["read_only"] + (["trade"] if key.can_trade else [])
                        + (["withdraw"] if key.can_withdraw else []))
        return _answer([{"acctLv": state["acctLv"], "autoLoan": False, "ctIsoMode": "automatic",
                         "greeksType": "PA",
                         "level": "Lv1", "levelTmp": "", "mgnIsoMode": "automatic", "posMode": "net_mode",
                         "uid": "44705892343619584", "label": "desk test key", "roleType": "0",
                         "traderInsts": [], "spotRoleType": "0", "opAuth": "0", "kycLv": "1", "ip": "",
                         "perm": perm, "mainUid": "44705892343619584"}])

    def orders_pending(request: web.Request, key: Any) -> web.Response:
        inst = request.query.get("instId")
        return _answer([o for o in state["orders_pending"] if inst is None or o["instId"] == inst])

    def orders_algo_pending(request: web.Request, key: Any) -> web.Response:
        # OKX: ordType is required, one type a request (51000 "Parameter ordType error")
        kind = request.query.get("ordType")
        if kind not in ("conditional", "oco", "trigger", "move_order_stop", "iceberg", "twap", "chase"):
            return _answer([], "51000", "Parameter ordType error", 400)
        return _answer([o for o in state["orders_algo_pending"] if o["ordType"] == kind])

    r = server.app.router
    r.add_get("/api/v5/trade/orders-pending", signed(orders_pending))
    r.add_get("/api/v5/trade/orders-algo-pending", signed(orders_algo_pending))
    r.add_get("/api/v5/public/time", public_time)
    r.add_get("/api/v5/public/instruments", instruments)
    r.add_get("/api/v5/public/position-tiers", position_tiers)
    r.add_get("/api/v5/public/funding-rate", funding_rate)
    r.add_get("/api/v5/account/positions", signed(positions))
    r.add_get("/api/v5/account/balance", signed(balance))
    r.add_get("/api/v5/account/config", signed(config))


def move_price(server: FakeExchange, coin: str, price: float) -> None:
    """The market of ``coin`` moves to ``price`` (USD), between two reads, as OKX would show a
    multi-currency (acctLv 3) account (unified-margin.md §4).

    Every ``<coin>-USDT-SWAP`` and ``<coin>-USD-SWAP`` position is marked there (``markPx``,
    ``idxPx``, ``upl``, ``notionalUsd``; a linear position's ``mmr``/``imr`` at its rate × the new
    notional). Each currency's ``eq``/``eqUsd``/``disEq``/``isoEq`` follow (its discount rate kept),
    and the account's ``adjEq`` = Σ disEq without isolated equity, ``totalEq`` = Σ eqUsd,
    ``mmr`` = Σ cross ``mmr`` and ``mgnRatio`` = adjEq ÷ (mmr + the liquidation-fee reserve, which
    grows with the notional). A position's ``liqPx`` stays as recorded.
    """
    state = server.state["okx"]
    ct_val = {i["instId"]: float(i["ctVal"]) for i in state["instruments"] if i.get("ctVal")}
    upl_in: dict[str, float] = {}  # cross UPL per currency
    isolated_in: dict[str, float] = {}  # isolated margin + UPL per currency (isoEq)
    cross_mmr = cross_notional = 0.0
    for row in state["positions"]:
        size = float(row["pos"] or 0)
        if not size or row["instId"] not in (f"{coin}-USDT-SWAP", f"{coin}-USD-SWAP"):
            continue
        entry, value = float(row["avgPx"]), ct_val[row["instId"]]
        if row["instId"].endswith("-USDT-SWAP"):
            old_notional = float(row["notionalUsd"])
            upl, notional = size * value * (price - entry), abs(size) * value * price
            for field in ("mmr", "imr"):
                if row.get(field):
                    row[field] = f"{float(row[field]) / old_notional * notional:.12g}"
            row["notionalUsd"] = f"{notional:.12g}"
        else:  # inverse: PnL in the coin, notional in USD
            upl = size * value * (1 / entry - 1 / price)
        row.update(markPx=f"{price:.12g}", idxPx=f"{price:.12g}", last=f"{price:.12g}", upl=f"{upl:.8f}")
        if row["mgnMode"] == "isolated":
            isolated_in[row["ccy"]] = isolated_in.get(row["ccy"], 0.0) + float(row["margin"]) + upl
        else:
            upl_in[row["ccy"]] = upl_in.get(row["ccy"], 0.0) + upl
            cross_mmr += float(row["mmr"] or 0)
            cross_notional += float(row["notionalUsd"] or 0)
    for detail in state["balance"]:
        if not detail.get("adjEq"):
            continue
        old_adj, old_ratio = float(detail["adjEq"]), float(detail["mgnRatio"])
        old_mmr, old_notional = float(detail["mmr"]), float(detail["notionalUsd"])
        reserve = (old_adj / old_ratio - old_mmr) / old_notional  # per USD of notional
        adj = total = 0.0
        for d in detail["details"]:
            eq, usd = float(d["eq"]), float(d["eqUsd"])
            index = usd / eq if eq else 1.0
            rate = float(d["disEq"]) / usd if usd else 1.0
            if d["ccy"] == coin:
                index = price
            isolated = isolated_in.get(d["ccy"], float(d.get("isoEq") or 0))
            if d["ccy"] in upl_in or d["ccy"] in isolated_in:
                d["isoEq"] = f"{isolated:.12g}"
                eq = float(d["cashBal"]) + upl_in.get(d["ccy"], 0.0) + isolated
            d.update(eq=f"{eq:.12g}", eqUsd=f"{eq * index:.12g}", disEq=f"{eq * index * rate:.12g}")
            adj += (eq - isolated) * index * rate  # adjusted equity: what backs the cross positions
            total += eq * index
        detail.update(adjEq=f"{adj:.12g}", totalEq=f"{total:.12g}", mmr=f"{cross_mmr:.12g}",
                      notionalUsd=f"{cross_notional:.12g}", upl=f"{sum(upl_in.values()):.12g}",
                      mgnRatio=f"{adj / (cross_mmr + reserve * cross_notional):.4f}")


def cross_and_isolated(server: FakeExchange, isolated_margin: float = 610.0) -> None:
    """A multi-currency (acctLv 3) account holding BTC-USDT-SWAP twice in net mode: 100 contracts
    cross, in the pool with the USDT and BTC cash, and 20 contracts isolated with
    ``isolated_margin`` USDT of their own (OKX keeps one position per instrument and margin mode,
    each with its own ``posId``).

    The isolated row's ``liqPx`` is OKX's isolated formula, (margin − ctVal·|pos|·avgPx) ÷
    (ctVal·|pos|·(mmr + fee rate − 1)) at tier 1 (mmr 0.4 %) and the 0.05 % taker rate. The USDT
    balance carries the isolated equity as OKX reports it (``eq`` = cashBal + UPL + isolated
    margin, ``isoEq`` = margin + isolated UPL); ``adjEq`` and ``mgnRatio`` are the cross pool's.
    """
    state = server.state["okx"]
    state["acctLv"] = "3"
    positions = server.fresh_state("okx_positions_cross_and_isolated.json")
    balance = server.fresh_state("okx_balance_cross_and_isolated.json")
    isolated = next(p for p in positions if p["mgnMode"] == "isolated")
    held = float(isolated["pos"]) * 0.01  # ctVal 0.01 BTC
    entry, upl = float(isolated["avgPx"]), float(isolated["upl"])
    rate = float(isolated["mmr"]) / float(isolated["notionalUsd"]) + 0.0005
    liquidation = (isolated_margin - held * entry) / (held * (rate - 1))
    isolated.update(margin=f"{isolated_margin:.12g}", liqPx=f"{liquidation:.10g}",
                    mgnRatio=f"{(isolated_margin + upl) / (float(isolated['notionalUsd']) * rate):.8f}")
    usdt = next(d for d in balance[0]["details"] if d["ccy"] == "USDT")
    equity = float(usdt["cashBal"]) + float(usdt["upl"]) + isolated_margin
    usdt.update(eq=f"{equity:.12g}", eqUsd=f"{equity:.12g}", disEq=f"{equity:.12g}",
                isoEq=f"{isolated_margin + upl:.12g}", frozenBal=f"{isolated_margin:.12g}")
    others = sum(float(d["eqUsd"]) for d in balance[0]["details"] if d["ccy"] != "USDT")
    balance[0].update(isoEq=f"{isolated_margin + upl:.12g}", totalEq=f"{equity + others:.12g}")
    state["positions"], state["balance"] = positions, balance
