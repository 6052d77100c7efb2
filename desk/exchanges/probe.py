"""What an API key may do, where the venue says so (for `desk accounts test`).

desk needs read access only. A key that can also trade or withdraw works, but a leak of it
costs money — the user should know. Venues that report it:
Binance ``GET /sapi/v1/account/apiRestrictions``, Bybit ``GET /v5/user/query-api``,
OKX ``GET /api/v5/account/config`` (``perm``). Elsewhere the answer is "unknown".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from desk.exchanges.errors import classify


@dataclass(frozen=True)
class KeyPermissions:
    known: bool
    can_trade: bool | None = None
    can_withdraw: bool | None = None
    can_transfer: bool | None = None
    ip_restricted: bool | None = None
    source: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    def warnings(self) -> list[str]:
        out = []
        if self.can_withdraw:
            out.append("this key can WITHDRAW funds — create a read-only key for desk")
        if self.can_transfer:
            out.append("this key can transfer funds between accounts — a read-only key is safer")
        if self.can_trade:
            out.append("this key can TRADE — desk only reads; a read-only key is safer")
        if self.known and self.ip_restricted is False and (self.can_trade or self.can_withdraw):
            out.append("the key is not restricted to your IP address")
        return out


async def key_permissions(reader: Any) -> KeyPermissions:
    """Ask the venue what the reader's key may do. Raises VenueError on failure."""
    ex = reader.exchange
    venue = reader.venue
    try:
        if venue.startswith("binance"):
            r = await ex.sapi_get_account_apirestrictions()
            return KeyPermissions(
                known=True,
                can_trade=bool(r.get("enableFutures") or r.get("enableSpotAndMarginTrading")
                               or r.get("enableMargin") or r.get("enableVanillaOptions")),
                can_withdraw=bool(r.get("enableWithdrawals")),
                can_transfer=bool(r.get("enableInternalTransfer") or r.get("permitsUniversalTransfer")),
                ip_restricted=bool(r.get("ipRestrict")), source="GET /sapi/v1/account/apiRestrictions")
        if venue == "bybit":
            r = (await ex.private_get_v5_user_query_api()).get("result") or {}
            perms = r.get("permissions") or {}
            trade_groups = ("ContractTrade", "Spot", "Options", "Derivatives", "CopyTrading", "BlockTrade",
                            "Exchange")
            wallet = set(perms.get("Wallet") or [])
            return KeyPermissions(
                known=True, can_trade=any(perms.get(g) for g in trade_groups),
                can_withdraw="Withdraw" in wallet,
                can_transfer=bool(wallet & {"AccountTransfer", "SubMemberTransfer"}),
                ip_restricted=(r.get("ips") or ["*"]) != ["*"], source="GET /v5/user/query-api",
                notes=("read-only key",) if str(r.get("readOnly")) == "1" else ())
        if venue == "okx":
            data = (await ex.private_get_account_config()).get("data") or [{}]
            perm = str(data[0].get("perm") or "")
            return KeyPermissions(known=True, can_trade="trade" in perm, can_withdraw="withdraw" in perm,
                                  source="GET /api/v5/account/config")
    except Exception as exc:
        raise classify(exc, reader.account_name, venue) from exc
    if venue == "hyperliquid":
        return KeyPermissions(known=True, can_trade=False, can_withdraw=False,
                              source="wallet address only: desk holds no key for Hyperliquid")
    return KeyPermissions(known=False, notes=(f"{venue} does not report key permissions through ccxt",))
