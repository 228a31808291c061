"""Message events of a WhatsApp-style messaging platform, as its client accounts would publish them.

Events follow docs/messaging-contract.md (schema version 1), one newline-free JSON object each:
  {"schema_version": 1, "event_id": "m7-e1", "event_time": "2026-08-01T00:00:00.412345Z",
   "type": "send", "message_id": "m7-m1", "client_id": "c00001", "recipient": "+5491155550123",
   "country": "AR", "category": "marketing", "template": "promo_semanal"}
Times run on a simulated clock (a month of traffic in seconds of CPU) or on the wall clock
(`start=None`). Arrival is not time order: statuses come seconds to hours after their send, a few
events are held back up to two minutes (so a status may overtake its send or another status) and a
few are delivered twice. `maker.ledger` records what was emitted, as the lake should end up holding it.
The accounts and the rate card (`build_world`, `write_reference`) live in messaging_ledger.
"""

from __future__ import annotations

import gc
import heapq
import itertools
import random
import re
import time
from bisect import bisect_right
from collections.abc import Callable, Iterable
from datetime import date, datetime, timezone
from typing import Any

from almacen.domains.messaging.vocabulary import CATEGORIES, COUNTRIES, STATUS_RANK
from almacen.errors import UsageError
from almacen.simulate.messaging_ledger import (
    INBOUND,
    NO_CATEGORY,
    REPLY,
    TEMPLATE,
    Client,
    Ledger,
    World,
    build_world,
    write_reference,
)

__all__ = ["BAD_KINDS", "Client", "Ledger", "MessageMaker", "World", "build_world", "emit_messaging", "write_reference"]

SCHEMA_VERSION = 1
BAD_KINDS = (
    "malformed_json",
    "unknown_version",
    "unknown_client",
    "unknown_country",
    "unknown_category",
    "missing_field",
    "future_time",
    "orphan_status",
)
DELIVERED, READ, FAILED = 0.92, 0.60, 0.04
"""share of templates delivered, share of the delivered that are also read, share that fail (the rest stay sent)"""
LATE, DUPLICATED = 0.02, 0.005
"""share of events held back 1–120 s on their way, share of valid events delivered twice"""
TEMPLATES = {
    "authentication": ("codigo_verificacion", "codigo_acceso"),
    "marketing": ("promo_semanal", "carrito_abandonado", "novedades", "cupon_cumpleanos"),
    "utility": ("confirmacion_pedido", "envio_en_camino", "recordatorio_turno", "factura_disponible"),
}
_PHONES = {
    "AR": ("+549", ("11", "351", "341", "261", "381", "223"), 10),
    "BR": ("+55", ("119", "219", "319", "419", "519", "619"), 11),
    "CL": ("+56", ("9",), 9),
    "CO": ("+57", ("30", "31", "32"), 10),
    "MX": ("+52", ("55", "33", "81"), 10),
    "PE": ("+51", ("9",), 9),
    "US": ("+1", ("305", "786", "212", "713", "646"), 10),
}
"""mobile numbers: country code, area or mobile prefixes, digits after the country code (E.164)"""

_US = 1_000_000
_DAY_US = 86_400 * _US
_HMS = tuple(f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60))
_D3 = tuple(f"{i:03d}" for i in range(1000))
_EPOCH = date(1970, 1, 1).toordinal()
_RANK = {s: STATUS_RANK[s] for s in ("delivered", "read", "failed")}
_MESSAGE, _STATUS, _DUPLICATE, _DEFECTIVE = range(4)
_CLIENT_SLOTS, _MIX_SLOTS = 1 << 16, 512
"""draws by table lookup: a client's share of traffic (or of recipients × categories) to 1/slots"""
_READ_DELAYS = tuple(int(10 * _US * 1080 ** ((k + 0.5) / 4096) ** 1.5) for k in range(4096))
"""10 s to 3 h after delivery, most within minutes"""


def _table(weights: Iterable[float], slots: int) -> tuple[int, ...]:
    """Indices in proportion to their weights over `slots` slots: `table[int(u * slots)]` draws one."""
    cumulative = list(itertools.accumulate(weights))
    return tuple(bisect_right(cumulative, (k + 0.5) / slots * cumulative[-1]) for k in range(slots))


def _phone(r: Callable[[], float], country: str) -> str:
    """A mobile number of `country` in E.164 (the digit after the prefix is never 0 or 1)."""
    code, prefixes, digits = _PHONES[country]
    prefix = prefixes[int(r() * len(prefixes))]
    rest = 10 ** (digits - len(prefix) - 1)
    return f"{code}{prefix}{int(r() * 8 * rest) + 2 * rest}"


class MessageMaker:
    """Message events in arrival order, deterministic for a seed; `ledger` records what was emitted.

    `per_second` new messages (a template send or a customer writing to a chatbot) per second of
    simulated time from `start`; `start=None` stamps events with the wall clock instead (per_second
    is then unused: emit_messaging sets the pace). About `bad_fraction` of the new messages are
    replaced by a defective event (BAD_KINDS in turn); `chatbot_share` of them are chatbot traffic.
    """

    def __init__(
        self,
        world: World,
        seed: int = 7,
        start: datetime | None = None,
        per_second: float = 100.0,
        bad_fraction: float = 0.0,
        chatbot_share: float = 0.3,
        run: str | None = None,
    ) -> None:
        if per_second <= 0:
            raise UsageError(f"per_second must be above zero, not {per_second}")
        if not (0.0 <= bad_fraction < 1.0 and 0.0 <= chatbot_share <= 1.0):
            raise UsageError("bad_fraction (--bad) must be in [0, 1) and chatbot_share in [0, 1]")
        self.run = run or f"m{seed}"
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", self.run):
            raise ValueError(f"run {self.run!r} may hold only letters, digits, '_', '.' and '-'")
        self.world, self.seed, self.rng = world, seed, random.Random(seed)
        self.wall = start is None
        if start is not None and start.tzinfo is None:
            start = start.replace(tzinfo=timezone.utc)
        self.clock = (time.time() if start is None else start.timestamp()) * _US
        """the clock in µs since the epoch: new messages up to it have been made"""
        self.step = 2 * _US / per_second  # a uniform draw in [0, step) averages 1/per_second s
        self.bad_fraction = bad_fraction
        clients = world.clients
        self._ids = [c.client_id for c in clients]
        self._clients = _table((c.volume for c in clients), _CLIENT_SLOTS)
        chat = [i for i, c in enumerate(clients) if c.chatbot]
        self._chat = tuple(chat[k] for k in _table((clients[i].volume for i in chat), _CLIENT_SLOTS)) if chat else ()
        self.chatbot_share = chatbot_share if chat else 0.0
        self._mix = [self._client_mix(c) for c in clients]
        """per client: (client_id, (country, category, ...) table, country table, phone pools by country)"""
        self._pending: list[tuple] = []
        """made events on their way: (arrival µs, order, key, line, what the ledger does, its record); only
        numbers and strings, so the garbage collector stops tracking them"""
        self._future: list[tuple] = []
        """customers who will write again: (time µs, order, (client, country, phone, follow-up depth))"""
        self._order, self._event_ids, self._seqs = itertools.count(1), itertools.count(1), itertools.count(1)
        self._bad = 0
        self._seconds: dict[int, str] = {}
        self.ledger = Ledger(self._ids, self.run, BAD_KINDS)
        self._adds: tuple[Callable[[Any], None], ...] = (
            self.ledger.messages_emitted.append,
            self.ledger.statuses_emitted.append,
            self.ledger.duplicate,
            self.ledger.defective,
        )
        """what the ledger does with an emitted event's record, by _MESSAGE, _STATUS, _DUPLICATE, _DEFECTIVE"""

    @staticmethod
    def _client_mix(c: Client) -> tuple:
        """A client's draw tables: its recipients' countries × its template categories, and countries."""
        pairs = [
            ((COUNTRIES.index(co), CATEGORIES.index(ca), co, ca, TEMPLATES[ca]), sc * sa)
            for co, sc in c.countries
            for ca, sa in c.categories
        ]
        countries = [COUNTRIES.index(co) for co, _ in c.countries]
        return (
            c.client_id,
            tuple(pairs[k][0] for k in _table((w for _, w in pairs), _MIX_SLOTS)),
            tuple(countries[k] for k in _table((s for _, s in c.countries), _MIX_SLOTS)),
            [None] * len(COUNTRIES),
        )

    def _second(self, s: int) -> str:
        """The ISO time of second `s` since the epoch, up to its fraction; cached."""
        if len(self._seconds) >= 1 << 16:
            self._seconds.clear()
        d, x = divmod(s, 86_400)
        head = self._seconds[s] = f"{date.fromordinal(_EPOCH + d).isoformat()}T{_HMS[x]}."
        return head

    def _stamp(self, t: int) -> str:
        """`t` (µs since the epoch) as the events' time, `2026-08-01T00:00:00.412345Z` (the hot paths
        spell this out)."""
        s, us = divmod(t, _US)
        return f"{self._seconds.get(s) or self._second(s)}{_D3[us // 1000]}{_D3[us % 1000]}Z"

    def _pool(self, client: int, country: int) -> tuple[str, ...]:
        """The phones of the client's customers in `country` (made once, from the seed; a tuple of
        strings, which the garbage collector stops tracking)."""
        c, code = self.world.clients[client], COUNTRIES[country]
        r = random.Random(f"{self.seed}:{c.client_id}:{code}").random
        size = max(5, int(c.audience * dict(c.countries)[code]))
        pool = self._mix[client][3][country] = tuple(_phone(r, code) for _ in range(size))
        return pool

    def _push(
        self, t: int, key: str, line: str, add: int, record: tuple, out: list[tuple[str, str]] | None = None
    ) -> None:
        """Put a valid event of time `t` on its way: it arrives at `t` or, held back, 1–120 s later; a
        few arrive a second time up to a minute after. Given `out`, an event of the current clock goes
        straight out when nothing is due before it."""
        r, pending = self.rng.random, self._pending
        u = r()  # one draw: held back (LATE), or sent twice (DUPLICATED), or neither
        if u < LATE:
            heapq.heappush(pending, (t + 1_000_000 + int(r() * 119_000_000), next(self._order), key, line, add, record))
            return
        if out is not None and not (pending and pending[0][0] <= t):
            out.append((key, line))
            self._adds[add](record)
        else:
            heapq.heappush(pending, (t, next(self._order), key, line, add, record))
        if u < LATE + DUPLICATED:
            heapq.heappush(
                pending, (t + 200_000 + int(r() * 60_000_000), next(self._order), key, line, _DUPLICATE, None)
            )

    def _template(self, out: list[tuple[str, str]], t: int) -> None:
        """A template sent at `t`, and the statuses it will get."""
        r, run, seconds = self.rng.random, self.run, self._seconds
        ci = self._clients[int(r() * _CLIENT_SLOTS)]
        cid, mix, _, pools = self._mix[ci]
        co, ca, country, category, names = mix[int(r() * _MIX_SLOTS)]
        pool = pools[co] or self._pool(ci, co)
        recipient = pool[int(len(pool) * r() ** 2)]  # some customers get many messages
        seq = next(self._seqs)
        mid = f"{run}-m{seq}"  # = message_id(run, seq), spelled out for speed
        s, us = divmod(t, _US)
        line = (
            f'{{"schema_version": {SCHEMA_VERSION}, "event_id": "{run}-e{next(self._event_ids)}", '
            f'"event_time": "{seconds.get(s) or self._second(s)}{_D3[us // 1000]}{_D3[us % 1000]}Z", '
            f'"type": "send", "message_id": "{mid}", "client_id": "{cid}", "recipient": "{recipient}", '
            f'"country": "{country}", "category": "{category}", "template": "{names[int(r() * len(names))]}"}}'
        )
        self._push(t, cid, line, _MESSAGE, (seq, ci, recipient, co, ca, TEMPLATE, t), out)
        u = r()
        if u >= DELIVERED + FAILED:
            return  # stays "sent"
        t += 1_000_000 + int(r() * 29_000_000)
        statuses = [(t, "delivered")] if u < DELIVERED else [(t, "failed")]
        if u < DELIVERED and r() < READ:
            statuses.append((t + _READ_DELAYS[int(r() * 4096)], "read"))
        tail = f'"type": "status", "message_id": "{mid}", "client_id": "{cid}", "status": "'
        for at, status in statuses:
            s, us = divmod(at, _US)
            line = (
                f'{{"schema_version": {SCHEMA_VERSION}, "event_id": "{run}-e{next(self._event_ids)}", '
                f'"event_time": "{seconds.get(s) or self._second(s)}{_D3[us // 1000]}{_D3[us % 1000]}Z", '
                f'{tail}{status}"}}'
            )
            self._push(at, cid, line, _STATUS, (seq, _RANK[status]))

    def _conversation(self, out: list[tuple[str, str]], t: int, follow: tuple | None = None) -> None:
        """A customer writing to a chatbot at `t` and its 1–3 replies; maybe the customer writes again
        the same day (the conversation goes on) or a day or two later (a new one opens)."""
        r = self.rng.random
        if follow is None:
            ci = self._chat[int(r() * _CLIENT_SLOTS)]
            _, _, countries, pools = self._mix[ci]
            co = countries[int(r() * _MIX_SLOTS)]
            pool = pools[co] or self._pool(ci, co)
            recipient, depth = pool[int(len(pool) * r() ** 2)], 0
        else:
            ci, co, recipient, depth = follow
        cid, run, seconds, at = self._ids[ci], self.run, self._seconds, t
        tail = f'"client_id": "{cid}", "recipient": "{recipient}", "country": "{COUNTRIES[co]}"}}'
        for k in range(2 + int(r() * 3)):
            seq = next(self._seqs)
            s, us = divmod(at, _US)
            line = (
                f'{{"schema_version": {SCHEMA_VERSION}, "event_id": "{run}-e{next(self._event_ids)}", '
                f'"event_time": "{seconds.get(s) or self._second(s)}{_D3[us // 1000]}{_D3[us % 1000]}Z", '
                f'"type": "{"reply" if k else "inbound"}", "message_id": "{run}-m{seq}", {tail}'
            )
            record = (seq, ci, recipient, co, NO_CATEGORY, REPLY if k else INBOUND, at)
            self._push(at, cid, line, _MESSAGE, record, out if k == 0 and follow is None else None)
            at += 1_000_000 + int(r() * 7_000_000)
        u = r()
        if depth < 3 and u < 0.5:
            later = t + 30 * _US + int(r() ** 3 * 23 * 3600 * _US) if u < 0.35 else t + _DAY_US + int(r() * _DAY_US)
            heapq.heappush(self._future, (later, next(self._order), (ci, co, recipient, depth + 1)))

    def _defective(self, t: int) -> None:
        """One event of the next kind in BAD_KINDS, about a message that is never validly sent."""
        kind = BAD_KINDS[self._bad % len(BAD_KINDS)]
        self._bad += 1
        ci = self._clients[int(self.rng.random() * _CLIENT_SLOTS)]
        cid, co, category = self._ids[ci], self._mix[ci][2][0], CATEGORIES[1]
        mid, event_id = f"{self.run}-b{self._bad}", f"{self.run}-e{next(self._event_ids)}"
        head = (
            f'{{"schema_version": {99 if kind == "unknown_version" else SCHEMA_VERSION}, "event_id": "{event_id}", '
            f'"event_time": "{self._stamp(t + 365 * _DAY_US if kind == "future_time" else t)}", '
        )
        if kind == "orphan_status":
            line = f'{head}"type": "status", "message_id": "{mid}", "client_id": "{cid}", "status": "delivered"}}'
        else:
            cid = "c_desconocido" if kind == "unknown_client" else cid
            country = "XX" if kind == "unknown_country" else COUNTRIES[co]
            category = "promocion" if kind == "unknown_category" else category
            pool = self._mix[ci][3][co] or self._pool(ci, co)
            line = (
                f'{head}"type": "send", "message_id": "{mid}", "client_id": "{cid}", "recipient": "{pool[0]}", '
                f'"country": "{country}", '
                + ("" if kind == "missing_field" else f'"category": "{category}", ')
                + '"template": "promo_semanal"}'
            )
            if kind == "malformed_json":
                line = line[: len(line) // 2]
        heapq.heappush(self._pending, (t, next(self._order), cid, line, _DEFECTIVE, kind))

    def events(self, n: int) -> list[tuple[str, str]]:
        """The next `n` events in arrival order, as (key = client_id, JSON line).

        The cycle collector is paused meanwhile: the events make no reference cycles, and its passes
        over the many short-lived tuples would take a fifth to a third of the time."""
        paused = gc.isenabled()
        gc.disable()
        try:
            return self._events(n)
        finally:
            if paused:
                gc.enable()

    def _events(self, n: int) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        append, pending, future, r, heappop = out.append, self._pending, self._future, self.rng.random, heapq.heappop
        adds = self._adds
        while True:
            now, room = int(self.clock), n - len(out)
            while room and pending and pending[0][0] <= now:
                _, _, key, line, add, record = heappop(pending)
                append((key, line))
                adds[add](record)
                room -= 1
            if not room:
                break
            self.clock = max(self.clock, time.time() * _US) if self.wall else self.clock + self.step * r()
            t = int(self.clock)
            while future and future[0][0] <= t:
                at, _, follow = heappop(future)
                self._conversation(out, at, follow)
            if self.bad_fraction and r() < self.bad_fraction:
                self._defective(t)
            elif r() < self.chatbot_share:
                self._conversation(out, t)
            else:
                self._template(out, t)
        self._counted(out)
        return out

    def flush(self) -> list[tuple[str, str]]:
        """Everything still scheduled (statuses, replies, held-back events, customers' later messages),
        in arrival order however far ahead of the clock: afterwards the ledger is final."""
        out: list[tuple[str, str]] = []
        pending, future = self._pending, self._future
        while pending or future:
            if future and (not pending or future[0][0] <= pending[0][0]):
                at, _, follow = heapq.heappop(future)
                self.clock = max(self.clock, at)
                self._conversation(out, at, follow)
            else:
                arrival, _, key, line, add, record = heapq.heappop(pending)
                self.clock = max(self.clock, arrival)
                out.append((key, line))
                self._adds[add](record)
        self._counted(out)
        return out

    def _counted(self, out: list[tuple[str, str]]) -> None:
        """Count what went out; fold the ledger's records into columns now and then (fewer live tuples)."""
        self.ledger.emitted += len(out)
        if len(self.ledger.messages_emitted) >= 1 << 14:
            self.ledger.compact()


def emit_messaging(
    maker: MessageMaker,
    write: Callable[[list[tuple[str, str]]], None],
    per_second_wall: float,
    duration: float,
    *,
    clock: Callable[[], float] = time.time,
    stop: Callable[[], bool] = lambda: False,
) -> int:
    """Write events at `per_second_wall` per second for `duration` seconds, in bursts as events.emit does.

    A maker made with `start=None` stamps events with the time they are made; one on a simulated
    clock replays its times at this pace. Returns how many were written. Statuses not due yet stay in
    the maker (`maker.flush()` writes them, with their future times).
    """
    sent, began = 0, clock()
    tick = max(0.05, min(1.0, 1.0 / per_second_wall))
    while not stop():
        elapsed = clock() - began
        if elapsed >= duration:
            break
        due = int(min(elapsed + tick, duration) * per_second_wall) - sent
        if due > 0:
            write(maker.events(due))
            sent += due
        time.sleep(max(0.0, began + elapsed + tick - clock()))
    return sent
