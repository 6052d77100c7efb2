"""Hyperliquid's info endpoint: every read is ``POST /info`` with a JSON body.

As the API does (hyperliquid.gitbook.io, "Info endpoint"): the body must be JSON with a known
``type``; user-scoped requests need ``user`` as a 42-character 0x address; anything else is
HTTP 422 "Failed to deserialize the JSON body into the target type". No signature is involved
in reads. ``POST /exchange`` (orders, transfers) is the write endpoint: it exists here only to
record that nothing ever calls it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

from tests.fake_exchange.server import FakeExchange, json_response

ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


def _reject() -> web.Response:
    return web.Response(status=422, text="Failed to deserialize the JSON body into the target type",
                        content_type="text/plain")


def install(server: FakeExchange) -> None:
    server.state["hyperliquid"] = {
        "metaAndAssetCtxs": server.fresh_state("hyperliquid_metaAndAssetCtxs.json"),
        "clearinghouseState": server.fresh_state("hyperliquid_clearinghouseState.json"),
        # the account's abstraction mode: "default" (standard), "unifiedAccount", "portfolioMargin"
        "userAbstraction": "default",
        "frontendOpenOrders": server.fresh_state("hyperliquid_frontendOpenOrders.json"),  # issue 17
        # spot (issue 21): token balances per user, and the spot pairs with their contexts
        "spotClearinghouseState": server.fresh_state("hyperliquid_spotClearinghouseState.json"),
        "spotMetaAndAssetCtxs": server.fresh_state("hyperliquid_spotMetaAndAssetCtxs.json"),
    }
    state = server.state["hyperliquid"]

    async def info(request: web.Request) -> web.Response:
        if request.content_type != "application/json":
            return _reject()
        try:
            body: Any = json.loads(await request.text())
        except ValueError:
            return _reject()
        if not isinstance(body, dict):
            return _reject()
        kind = body.get("type")
        if kind == "metaAndAssetCtxs":
            return json_response(state["metaAndAssetCtxs"])
        if kind == "meta":
            return json_response(state["metaAndAssetCtxs"][0])
        if kind == "spotMeta":
            return json_response({"universe": [], "tokens": []})
        if kind == "spotMetaAndAssetCtxs":
            return json_response(state["spotMetaAndAssetCtxs"])
        if kind == "spotClearinghouseState":
            user = body.get("user")
            if not isinstance(user, str) or not ADDRESS.match(user):
                return _reject()
            # a wallet with no spot history: an empty balances list
            return json_response(state["spotClearinghouseState"].get(user.lower(), {"balances": []}))
        if kind == "perpDexs":
            return json_response([None])
        if kind == "allMids":
            meta, ctxs = state["metaAndAssetCtxs"]
            return json_response({u["name"]: c["midPx"] for u, c in zip(meta["universe"], ctxs, strict=True)})
        if kind in ("frontendOpenOrders", "openOrders"):
            user = body.get("user")
            if not isinstance(user, str) or not ADDRESS.match(user):
                return _reject()
            return json_response(state["frontendOpenOrders"].get(user.lower(), []))
        if kind in ("clearinghouseState", "userAbstraction"):
            user = body.get("user")
            if not isinstance(user, str) or not ADDRESS.match(user):
                return _reject()
            if kind == "userAbstraction":
                return json_response(state["userAbstraction"])
            accounts = state["clearinghouseState"]
            empty = {"marginSummary": {"accountValue": "0.0", "totalNtlPos": "0.0", "totalRawUsd": "0.0",
                                       "totalMarginUsed": "0.0"},
                     "crossMarginSummary": {"accountValue": "0.0", "totalNtlPos": "0.0", "totalRawUsd": "0.0",
                                            "totalMarginUsed": "0.0"},
                     "crossMaintenanceMarginUsed": "0.0", "withdrawable": "0.0", "assetPositions": []}
            return json_response(dict(accounts.get(user.lower(), empty), time=server.now_ms()))
        return _reject()

    async def exchange(request: web.Request) -> web.Response:
        return json_response({"status": "err", "response": "desk's fake exchange accepts no actions"})

    server.app.router.add_post("/info", info)
    server.app.router.add_post("/exchange", exchange)
