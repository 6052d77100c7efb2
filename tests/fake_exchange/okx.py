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
