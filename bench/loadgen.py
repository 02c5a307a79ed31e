"""Cheap multi-process OCPP 1.6J load generator for the evedge benchmarks.

Design (why it is cheap):
  * a minimal websocket client written directly on ``asyncio.Protocol`` (handshake, masked text frames,
    ping/pong, close): no per-message task, no library layers, one future per request;
  * frames are pre-serialised ``%``-templates: per message only the unique id (and for MeterValues,
    Start/StopTransaction the meter value, transaction id and a timestamp string cached per second) is
    substituted;
  * replies are checked cheaply: ``json.loads`` + ``[3, same_id, {...}]``; ``[4, ...]`` is counted as a
    CALLERROR (with its error code), anything else as a bad reply;
  * several worker processes (multiprocessing, spawn), each driving a share of the chargers, pinned to the
    "client" cores (by default every core except the server's).

Used by ``bench/run.py`` through :class:`LoadGen`; also usable on its own, e.g.::

    python bench/loadgen.py --port 9000 --chargers 100 --workload meter --mode closed --duration 10
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import hashlib
import json
import multiprocessing as mp
import os
import random
import resource
import struct
import sys
import time
import traceback
from array import array
from collections import Counter

try:  # C implementation shipped with the websockets package (only the XOR helper is used)
    from websockets.speedups import apply_mask as _c_apply_mask
except Exception:  # pragma: no cover
    _c_apply_mask = None

monotonic = time.monotonic  # CLOCK_MONOTONIC is system-wide: comparable across processes


def apply_mask(data: bytes, mask: bytes) -> bytes:
    if _c_apply_mask is not None:
        return _c_apply_mask(data, mask)
    n = len(data)
    m = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(data, "big") ^ m).to_bytes(n, "big")


def raise_nofile_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# --------------------------------------------------------------------------------------------------------
# OCPP 1.6J frames (schema-valid, realistic payloads)

_ts_cache = [0, ""]


def ts_now() -> str:
    """ISO 8601 UTC timestamp, cached per second (formatting per message would cost more than the rest)."""
    s = int(time.time())
    if s != _ts_cache[0]:
        _ts_cache[0] = s
        _ts_cache[1] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(s))
    return _ts_cache[1]


T_BOOT = ('[2,"%s","BootNotification",{"chargePointVendor":"BenchVendor","chargePointModel":"BenchModel-22kW",'
          '"chargePointSerialNumber":"%s","firmwareVersion":"1.4.2","meterType":"DZG DSZ12D"}]')
T_STATUS = ('[2,"%s","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"%s",'
            '"timestamp":"%s"}]')
T_HEARTBEAT = '[2,"%s","Heartbeat",{}]'
T_AUTHORIZE = '[2,"%s","Authorize",{"idTag":"%s"}]'
T_START = ('[2,"%s","StartTransaction",{"connectorId":1,"idTag":"%s","meterStart":%d,'
           '"timestamp":"%s"}]')
T_STOP = ('[2,"%s","StopTransaction",{"idTag":"%s","meterStop":%d,"timestamp":"%s","transactionId":%d,'
          '"reason":"Local"}]')
# MeterValues with one meterValue of 4 sampledValues (energy register, power, current, voltage)
T_METER = ('[2,"%s","MeterValues",{"connectorId":1,"transactionId":%d,"meterValue":[{"timestamp":"%s",'
           '"sampledValue":['
           '{"value":"%d","context":"Sample.Periodic","format":"Raw","measurand":"Energy.Active.Import.Register",'
           '"location":"Outlet","unit":"Wh"},'
           '{"value":"%d.0","context":"Sample.Periodic","format":"Raw","measurand":"Power.Active.Import",'
           '"location":"Outlet","unit":"W"},'
           '{"value":"31.8","context":"Sample.Periodic","format":"Raw","measurand":"Current.Import",'
           '"location":"Outlet","unit":"A"},'
           '{"value":"230.4","context":"Sample.Periodic","format":"Raw","measurand":"Voltage",'
           '"location":"Outlet","unit":"V"}]}]}]')

# Replies to CALLs the server may send to a charger (e.g. GetConfiguration/TriggerMessage after a boot)
SERVER_CALL_REPLIES = {
    "GetConfiguration": {"configurationKey": []},
    "ChangeConfiguration": {"status": "Accepted"},
    "TriggerMessage": {"status": "Rejected"},
    "ChangeAvailability": {"status": "Accepted"},
    "ClearCache": {"status": "Accepted"},
    "Reset": {"status": "Rejected"},
    "UnlockConnector": {"status": "NotSupported"},
    "RemoteStartTransaction": {"status": "Rejected"},
    "RemoteStopTransaction": {"status": "Rejected"},
    "SetChargingProfile": {"status": "Accepted"},
    "ClearChargingProfile": {"status": "Accepted"},
    "GetLocalListVersion": {"listVersion": 0},
    "SendLocalList": {"status": "Accepted"},
    "DataTransfer": {"status": "UnknownVendorId"},
}

WORKLOADS = ("heartbeat", "meter", "session", "boot")


class HandshakeError(Exception):
    pass


class RequestTimeout(Exception):
    pass


class ConnectionClosed(Exception):
    pass


# --------------------------------------------------------------------------------------------------------
# Minimal websocket client protocol


def _consume(fut):
    if not fut.cancelled():
        fut.exception()


class OcppClient(asyncio.Protocol):
    __slots__ = ("w", "cp_id", "host", "port", "path", "transport", "hs", "buf", "opened", "waiter",
                 "wait_since", "closed", "frag", "key", "idx", "uid", "tx", "meter", "tag", "seq")

    def __init__(self, worker: "Worker", cp_id: str, idx: int, host: str, port: int, path: str):
        self.w = worker
        self.cp_id = cp_id
        self.idx = idx
        self.host = host
        self.port = port
        self.path = path
        self.transport = None
        self.hs = True
        self.buf = b""
        self.opened = asyncio.get_running_loop().create_future()
        self.opened.add_done_callback(_consume)  # a late handshake failure after a timeout is not an error
        self.waiter = None
        self.wait_since = 0.0
        self.closed = False
        self.frag = None
        self.key = ""
        # charger state
        self.uid = 0
        self.tx = None
        self.meter = 1000 + idx * 7
        self.tag = "TAG%06d" % (idx % 100000)
        self.seq = 0

    # -- asyncio.Protocol
    def connection_made(self, transport):
        self.transport = transport
        self.key = base64.b64encode(os.urandom(16)).decode()
        req = ("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ocpp1.6\r\n"
               "User-Agent: evedge-bench\r\n\r\n") % (self.path, self.host, self.port, self.key)
        transport.write(req.encode())

    def connection_lost(self, exc):
        self.closed = True
        if not self.opened.done():
            self.opened.set_exception(ConnectionClosed("closed during handshake: %r" % (exc,)))
        w = self.waiter
        if w is not None and not w.done():
            self.waiter = None
            w.set_exception(ConnectionClosed("connection lost: %r" % (exc,)))

    def data_received(self, data):
        if self.hs:
            self.buf += data
            i = self.buf.find(b"\r\n\r\n")
            if i < 0:
                if len(self.buf) > 65536:
                    self._fail_handshake("oversized handshake response")
                return
            head = self.buf[:i].decode("latin-1")
            rest = self.buf[i + 4:]
            self.buf = b""
            self.hs = False
            lines = head.split("\r\n")
            parts = lines[0].split(" ", 2)
            try:
                code = int(parts[1])
            except (IndexError, ValueError):
                self._fail_handshake("bad status line %r" % lines[0])
                return
            if code != 101:
                self._fail_handshake("HTTP %d" % code)
                return
            headers = {}
            for line in lines[1:]:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
            accept = base64.b64encode(hashlib.sha1(
                (self.key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
            if headers.get("sec-websocket-accept") != accept:
                self._fail_handshake("bad Sec-WebSocket-Accept")
                return
            if headers.get("sec-websocket-protocol") != "ocpp1.6":
                self._fail_handshake("server did not select subprotocol ocpp1.6 (got %r)"
                                     % headers.get("sec-websocket-protocol"))
                return
            if not self.opened.done():
                self.opened.set_result(None)
            if rest:
                self._frames(rest)
            return
        self._frames(data)

    def _fail_handshake(self, why):
        self.hs = False
        if not self.opened.done():
            self.opened.set_exception(HandshakeError(why))
        self.transport.close()

    # -- frames
    def _frames(self, data):
        buf = self.buf + data if self.buf else data
        n = len(buf)
        pos = 0
        while n - pos >= 2:
            b0 = buf[pos]
            b1 = buf[pos + 1]
            ln = b1 & 0x7F
            hl = 2
            if ln == 126:
                if n - pos < 4:
                    break
                ln = int.from_bytes(buf[pos + 2:pos + 4], "big")
                hl = 4
            elif ln == 127:
                if n - pos < 10:
                    break
                ln = int.from_bytes(buf[pos + 2:pos + 10], "big")
                hl = 10
            mask = None
            if b1 & 0x80:
                if n - pos < hl + 4:
                    break
                mask = buf[pos + hl:pos + hl + 4]
                hl += 4
            end = pos + hl + ln
            if end > n:
                break
            payload = buf[pos + hl:end]
            if mask is not None:
                payload = apply_mask(payload, mask)
            pos = end
            self._on_frame(b0, payload)
        self.buf = buf[pos:] if pos < n else b""

    def _on_frame(self, b0, payload):
        op = b0 & 0x0F
        fin = b0 & 0x80
        if op == 1 or op == 2:
            if fin:
                self._on_message(payload)
            else:
                self.frag = [payload]
        elif op == 0:
            if self.frag is not None:
                self.frag.append(payload)
                if fin:
                    msg = b"".join(self.frag)
                    self.frag = None
                    self._on_message(msg)
        elif op == 9:  # ping -> pong
            self._send_frame(payload, 0xA)
        elif op == 8:  # close: echo it and close the transport
            self.w.closes_by_server += 1
            if not self.closed:
                self._send_frame(payload[:2], 0x8)
                self.closed = True
                self.transport.close()

    def _on_message(self, payload):
        t = monotonic()
        try:
            msg = json.loads(payload)
        except ValueError:
            self.w.bad_frames += 1
            return
        if type(msg) is list and msg and msg[0] == 2:
            self._server_call(msg)
            return
        w = self.waiter
        if w is not None:
            self.waiter = None
            if not w.done():
                w.set_result((msg, t))
        else:
            self.w.unexpected += 1

    def _server_call(self, msg):
        uid = msg[1] if len(msg) > 1 else ""
        action = msg[2] if len(msg) > 2 else "?"
        self.w.server_calls[str(action)] += 1
        payload = SERVER_CALL_REPLIES.get(action)
        if payload is None:
            out = json.dumps([4, uid, "NotImplemented", "not supported by the bench charger", {}])
        else:
            out = json.dumps([3, uid, payload])
        self.send_text(out)

    def _send_frame(self, payload: bytes, opcode: int):
        n = len(payload)
        if n < 126:
            header = bytes((0x80 | opcode, 0x80 | n))
        elif n < 65536:
            header = struct.pack("!BBH", 0x80 | opcode, 0xFE, n)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0xFF, n)
        mask = random.getrandbits(32).to_bytes(4, "big")
        self.transport.write(header + mask + apply_mask(payload, mask))

    def send_text(self, text: str):
        if not self.closed:
            self._send_frame(text.encode(), 1)

    # -- request/response
    def call(self, text: str) -> asyncio.Future:
        """Send a CALL frame, return a future resolving to (decoded reply, receive time)."""
        fut = asyncio.get_running_loop().create_future()
        if self.closed:
            fut.set_exception(ConnectionClosed("connection closed"))
            return fut
        self.waiter = fut
        self.wait_since = monotonic()
        self._send_frame(text.encode(), 1)
        return fut

    def close(self):
        if not self.closed:
            self.closed = True
            try:
                self._send_frame(struct.pack("!H", 1000), 0x8)
            except Exception:
                pass
            self.transport.close()

    def next_uid(self) -> str:
        self.uid += 1
        return str(self.uid)


# --------------------------------------------------------------------------------------------------------
# Worker process


class Stats:
    """Counters for one measured window (or one connect phase)."""

    def __init__(self):
        self.ok = Counter()          # action -> replies [3, id, {...}]
        self.callerror = Counter()   # "Action:ErrorCode" -> count
        self.bad = Counter()         # action -> malformed / wrong id
        self.timeouts = Counter()
        self.closed = Counter()
        self.lat = array("d")
        self.sched = array("d")      # per latency sample: its scheduled (paced) or actual (closed) send time
        self.late = array("d")       # paced mode: actual send time - scheduled send time
        self.late_sched = array("d")  # per lateness sample: its scheduled send time
        self.not_accepted = Counter()  # Boot/Authorize/Start with a status other than Accepted

    def as_dict(self):
        return {"ok": dict(self.ok), "callerror": dict(self.callerror), "bad": dict(self.bad),
                "timeouts": dict(self.timeouts), "closed": dict(self.closed),
                "not_accepted": dict(self.not_accepted), "lat": self.lat.tobytes(), "late": self.late.tobytes(),
                "sched": self.sched.tobytes(), "late_sched": self.late_sched.tobytes()}


class Worker:
    def __init__(self, conn, cfg, stop_at=None):
        self.conn = conn
        # shared with the driver: a paced/closed run sends nothing scheduled at or after this time (0 = no limit);
        # lets the driver end a run early, e.g. when a concurrent storm is over (LoadGen.stop_run_at)
        self.stop_at = stop_at
        self.host = cfg["host"]
        self.port = cfg["port"]
        self.path = cfg.get("path", "/ocpp/")
        self.timeout = cfg.get("timeout", 30.0)
        self.clients: list[OcppClient] = []
        self.server_calls = Counter()
        self.bad_frames = 0
        self.unexpected = 0
        self.closes_by_server = 0

    async def main(self):
        loop = asyncio.get_running_loop()
        wd = asyncio.ensure_future(self._watchdog())
        try:
            while True:
                cmd, args = await loop.run_in_executor(None, self.conn.recv)
                if cmd == "exit":
                    break
                try:
                    res = await getattr(self, "cmd_" + cmd)(**args)
                except Exception as e:  # report, keep the worker alive
                    res = {"error": "%s: %s" % (type(e).__name__, e), "traceback": traceback.format_exc()}
                self.conn.send(res)
        finally:
            wd.cancel()
            for c in self.clients:
                c.close()
            await asyncio.sleep(0.05)

    async def _watchdog(self):
        while True:
            await asyncio.sleep(0.5)
            now = monotonic()
            lim = now - self.timeout
            for c in self.clients:
                w = c.waiter
                if w is not None and c.wait_since < lim and not w.done():
                    c.waiter = None
                    w.set_exception(RequestTimeout())

    # -- helpers
    def _check(self, st: Stats, c: OcppClient, uid: str, action: str, msg) -> dict | None:
        """Cheap validation; returns the payload dict of a good CALLRESULT, else None (and counts it)."""
        if type(msg) is list and len(msg) >= 3 and msg[1] == uid:
            t = msg[0]
            if t == 3 and type(msg[2]) is dict:
                st.ok[action] += 1
                return msg[2]
            if t == 4:
                st.callerror["%s:%s" % (action, msg[2])] += 1
                return None
        st.bad[action] += 1
        return None

    def _frame(self, c: OcppClient, workload: str, k: int) -> tuple[str, str, str]:
        """Next (uid, action, frame) for a charger in this workload."""
        uid = c.next_uid()
        if workload == "heartbeat":
            return uid, "Heartbeat", T_HEARTBEAT % uid
        if workload == "meter":
            if c.tx is None:
                return uid, "StartTransaction", T_START % (uid, c.tag, c.meter, ts_now())
            c.meter += 37
            return uid, "MeterValues", T_METER % (uid, c.tx, ts_now(), c.meter, 7000 + (c.uid % 400))
        if workload == "session":
            s = c.seq
            if s == 0:
                return uid, "Authorize", T_AUTHORIZE % (uid, c.tag)
            if s == 1:
                return uid, "StartTransaction", T_START % (uid, c.tag, c.meter, ts_now())
            if s <= k + 1 and c.tx is not None:
                c.meter += 37
                return uid, "MeterValues", T_METER % (uid, c.tx, ts_now(), c.meter, 7000 + (c.uid % 400))
            return uid, "StopTransaction", T_STOP % (uid, c.tag, c.meter, ts_now(), c.tx or 0)
        raise ValueError("unknown workload %r" % workload)

    def _after(self, st: Stats, c: OcppClient, workload: str, action: str, payload: dict | None, k: int):
        """Update charger state from a reply (transactionId, session position)."""
        if action == "StartTransaction":
            tx = payload.get("transactionId") if payload is not None else None
            if type(tx) is int:
                c.tx = tx
                info = payload.get("idTagInfo") or {}
                if info.get("status") != "Accepted":
                    st.not_accepted["StartTransaction:%s" % info.get("status")] += 1
            else:
                c.tx = None
                if payload is not None:
                    st.bad["StartTransaction(no transactionId)"] += 1
        elif action == "Authorize" and payload is not None:
            info = payload.get("idTagInfo") or {}
            if info.get("status") != "Accepted":
                st.not_accepted["Authorize:%s" % info.get("status")] += 1
        if workload == "session":
            if action == "StopTransaction":
                c.tx = None
                c.seq = 0
            elif action == "StartTransaction" and c.tx is None:
                c.seq = 0  # start failed: begin a new session
            else:
                c.seq += 1

    async def _request(self, st: Stats, c: OcppClient, uid: str, action: str, frame: str):
        """Returns (payload | None, t_recv | None)."""
        try:
            msg, t1 = await c.call(frame)
        except RequestTimeout:
            st.timeouts[action] += 1
            return None, None
        except ConnectionClosed:
            st.closed[action] += 1
            return None, None
        return self._check(st, c, uid, action, msg), t1

    # -- commands
    async def cmd_connect(self, ids: list[tuple[int, str]], boot: bool = True, concurrency: int = 0,
                          start_at: float | None = None, deadline: float = 180.0,
                          connect_timeout: float = 60.0):
        """Open one websocket per charger id (and send BootNotification + StatusNotification).

        concurrency=0 means all at once (boot storm). Returns per-charger completion times relative to
        start_at (or to the command start)."""
        loop = asyncio.get_running_loop()
        st = Stats()
        errors = Counter()
        retries = 0
        done_t = array("d")
        conn_t = array("d")
        boot_status = Counter()
        if start_at is not None:
            d = start_at - monotonic()
            if d > 0:
                await asyncio.sleep(d)
        t0 = start_at if start_at is not None else monotonic()
        t_deadline = t0 + deadline
        sem = asyncio.Semaphore(concurrency) if concurrency else None
        cpu0 = time.process_time()

        async def one(idx, cp_id):
            nonlocal retries
            path = self.path + cp_id
            while True:
                proto = None
                try:
                    _tr, proto = await asyncio.wait_for(
                        loop.create_connection(lambda: OcppClient(self, cp_id, idx, self.host, self.port, path),
                                               self.host, self.port), connect_timeout)
                    await asyncio.wait_for(proto.opened, connect_timeout)
                    break
                except (OSError, HandshakeError, ConnectionClosed, asyncio.TimeoutError) as e:
                    if proto is not None and proto.transport is not None:
                        proto.transport.close()
                    errors[type(e).__name__ + (": " + str(e) if isinstance(e, HandshakeError) else "")] += 1
                    if monotonic() > t_deadline:
                        return False
                    retries += 1
                    await asyncio.sleep(0.2 + random.random() * 0.8)
            self.clients.append(proto)
            conn_t.append(monotonic() - t0)
            if boot:
                uid = proto.next_uid()
                p, _ = await self._request(st, proto, uid, "BootNotification", T_BOOT % (uid, "SN-" + cp_id[-20:]))
                if p is None:
                    return False
                boot_status[str(p.get("status"))] += 1
                uid = proto.next_uid()
                p, _ = await self._request(st, proto, uid, "StatusNotification",
                                           T_STATUS % (uid, "Available", ts_now()))
                if p is None:
                    return False
            done_t.append(monotonic() - t0)
            return True

        async def guarded(idx, cp_id):
            async with sem:
                return await one(idx, cp_id)

        coros = [guarded(i, c) if sem else one(i, c) for i, c in ids]
        results = await asyncio.gather(*coros, return_exceptions=True)
        exc = Counter(type(r).__name__ for r in results if isinstance(r, BaseException))
        return {"requested": len(ids), "done": sum(1 for r in results if r is True),
                "failed": sum(1 for r in results if r is not True), "exceptions": dict(exc),
                "connect_errors": dict(errors), "retries": retries, "boot_status": dict(boot_status),
                "done_t": done_t.tobytes(), "conn_t": conn_t.tobytes(), "stats": st.as_dict(),
                "cpu": time.process_time() - cpu0, "open": sum(1 for c in self.clients if not c.closed)}

    async def cmd_run(self, workload: str, mode: str, t_go: float, t_measure: float, t_end: float,
                      rate: float = 0.0, k: int = 6, total_chargers: int = 0, offset: int = 0):
        """Drive every connected charger of this worker.

        mode "closed": each charger sends its next request as soon as the previous reply arrived.
        mode "paced":  each charger sends at fixed times (rate is the total over all workers), phases spread
                       evenly; latency is measured from the scheduled send time (no coordinated omission).
        Replies received in [t_measure, t_end) are counted; latencies of those too."""
        st = Stats()
        clients = [c for c in self.clients if not c.closed]
        if not clients:
            return {"error": "no open connections in this worker"}
        cpu = {}

        async def cpu_mark(at, key):
            d = at - monotonic()
            if d > 0:
                await asyncio.sleep(d)
            cpu[key] = time.process_time()

        marks = [asyncio.ensure_future(cpu_mark(t_measure, "a")), asyncio.ensure_future(cpu_mark(t_end, "b"))]
        d = t_go - monotonic()
        if d > 0:
            await asyncio.sleep(d)
        lat = st.lat
        late = st.late
        sched = st.sched
        late_sched = st.late_sched
        stop_at = self.stop_at

        def stopped(t: float) -> bool:
            return stop_at is not None and 0.0 < stop_at.value <= t

        async def closed_loop(c: OcppClient):
            while not c.closed:
                t0 = monotonic()
                if t0 >= t_end or stopped(t0):
                    return
                uid, action, frame = self._frame(c, workload, k)
                p, t1 = await self._request(st, c, uid, action, frame)
                if t1 is None:
                    if c.closed:
                        return
                    continue
                self._after(st, c, workload, action, p, k)
                if t_measure <= t1 < t_end:
                    lat.append(t1 - t0)
                    sched.append(t0)
                elif p is not None:  # warm-up / late replies are not part of the window
                    st.ok[action] -= 1

        n_total = total_chargers or len(clients)
        interval = n_total / rate if rate else 1.0

        async def paced_loop(c: OcppClient, j: int):
            phase = interval * ((offset + j) / n_total)
            i = 0
            while not c.closed:
                s = t_go + phase + i * interval
                i += 1
                if s >= t_end or stopped(s):
                    return
                t0 = monotonic()
                slept = s > t0
                if slept:  # on time: wait for the slot (else the previous reply came late: send at once)
                    await asyncio.sleep(s - t0)
                    t0 = monotonic()
                uid, action, frame = self._frame(c, workload, k)
                p, t1 = await self._request(st, c, uid, action, frame)
                if t1 is None:
                    if c.closed:
                        return
                    continue
                self._after(st, c, workload, action, p, k)
                if t_measure <= t1 < t_end:
                    lat.append(t1 - s)
                    sched.append(s)
                    if slept:  # the load generator's own timer lateness (not caused by the server)
                        late.append(t0 - s)
                        late_sched.append(s)
                elif p is not None:
                    st.ok[action] -= 1

        if mode == "closed":
            await asyncio.gather(*(closed_loop(c) for c in clients))
        elif mode == "paced":
            await asyncio.gather(*(paced_loop(c, j) for j, c in enumerate(clients)))
        else:
            raise ValueError("unknown mode %r" % mode)
        if stopped(monotonic()):  # ended early: the window ends now
            for mark in marks:
                mark.cancel()
            cpu.setdefault("a", time.process_time())
            cpu["b"] = time.process_time()
        await asyncio.gather(*marks, return_exceptions=True)
        # errors/timeouts/bad replies are counted over the whole run (warm-up included): they must show
        st.ok = +st.ok
        return {"stats": st.as_dict(), "cpu": cpu.get("b", 0) - cpu.get("a", 0),
                "open": sum(1 for c in self.clients if not c.closed), "server_calls": dict(self.server_calls),
                "bad_frames": self.bad_frames, "unexpected": self.unexpected,
                "closes_by_server": self.closes_by_server}

    async def cmd_disconnect(self):
        n = 0
        for c in self.clients:
            if not c.closed:
                c.close()
                n += 1
        self.clients = []
        await asyncio.sleep(0.2)
        return {"closed": n}

    async def cmd_info(self):
        return {"open": sum(1 for c in self.clients if not c.closed), "server_calls": dict(self.server_calls),
                "bad_frames": self.bad_frames, "unexpected": self.unexpected,
                "closes_by_server": self.closes_by_server, "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
                "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}


def worker_main(conn, cfg, stop_at=None):
    raise_nofile_limit()
    if cfg.get("nice"):
        try:
            os.nice(cfg["nice"])
        except OSError:
            pass
    cpus = cfg.get("cpus")
    if cpus:
        try:
            os.sched_setaffinity(0, set(cpus))
        except OSError:
            pass
    gc.disable()  # few cycles are created; avoids collector pauses in latency measurements
    asyncio.run(Worker(conn, cfg, stop_at).main())


# --------------------------------------------------------------------------------------------------------
# Parent-side API


class LoadGenError(RuntimeError):
    pass


def _merge_counters(dicts):
    out = Counter()
    for d in dicts:
        out.update(d)
    return dict(out)


def merge_stats(parts: list[dict]) -> dict:
    arrays = {key: array("d") for key in ("lat", "late", "sched", "late_sched")}
    for p in parts:
        for key, a in arrays.items():
            a.frombytes(p.get(key, b""))
    return {key: _merge_counters(p[key] for p in parts)
            for key in ("ok", "callerror", "bad", "timeouts", "closed", "not_accepted")} | arrays


def quantiles(values, qs=(0.5, 0.9, 0.99, 0.999)) -> dict:
    v = sorted(values)
    if not v:
        return {q: None for q in qs} | {"max": None, "mean": None}
    out = {q: v[min(len(v) - 1, int(q * len(v)))] for q in qs}
    out["max"] = v[-1]
    out["mean"] = sum(v) / len(v)
    return out


class LoadGen:
    """A pool of worker processes sharing the chargers of one run against one server."""

    def __init__(self, host: str, port: int, procs: int = 2, cpus: list[int] | None = None,
                 path: str = "/ocpp/", id_prefix: str = "BENCH", timeout: float = 30.0, nice: int = 0):
        ctx = mp.get_context("spawn")
        self.procs = []
        self.pipes = []
        self.id_prefix = id_prefix
        self.next_idx = 0
        self.per_worker = [0] * procs
        self.stop_at = ctx.RawValue("d", 0.0)  # see Worker.stop_at
        cfg = {"host": host, "port": port, "path": path, "timeout": timeout, "cpus": cpus, "nice": nice}
        for _ in range(procs):
            parent, child = ctx.Pipe()
            p = ctx.Process(target=worker_main, args=(child, cfg, self.stop_at), daemon=True)
            p.start()
            child.close()
            self.procs.append(p)
            self.pipes.append(parent)

    # -- plumbing
    def _send(self, cmd, args_per_worker):
        for pipe, args in zip(self.pipes, args_per_worker):
            pipe.send((cmd, args))

    def _recv(self, timeout: float) -> list[dict]:
        out = []
        end = monotonic() + timeout
        for i, pipe in enumerate(self.pipes):
            while not pipe.poll(0.2):
                if not self.procs[i].is_alive():
                    raise LoadGenError("load generator worker %d died (exit code %s)" % (i, self.procs[i].exitcode))
                if monotonic() > end:
                    raise LoadGenError("load generator worker %d did not answer within %.0f s" % (i, timeout))
            res = pipe.recv()
            if isinstance(res, dict) and "error" in res:
                raise LoadGenError("worker %d: %s\n%s" % (i, res["error"], res.get("traceback", "")))
            out.append(res)
        return out

    # -- commands
    def connect(self, n: int, boot: bool = True, concurrency: int = 200, storm: bool = False,
                deadline: float = 180.0, start_at: float | None = None) -> dict:
        """Connect n more chargers, spread over the workers. storm=True: all at once, synchronised start
        (at ``start_at`` in time.monotonic(), default in 0.5 s)."""
        k = len(self.pipes)
        shares = [[] for _ in range(k)]
        for j in range(n):
            idx = self.next_idx + j
            shares[j % k].append((idx, "%s%06d" % (self.id_prefix, idx)))
        self.next_idx += n
        for i in range(k):
            self.per_worker[i] += len(shares[i])
        if storm and start_at is None:
            start_at = monotonic() + 0.5
        elif not storm:
            start_at = None
        conc = 0 if storm else max(1, concurrency // k)
        self._send("connect", [{"ids": s, "boot": boot, "concurrency": conc, "start_at": start_at,
                                "deadline": deadline} for s in shares])
        res = self._recv(deadline + 120)
        done_t = array("d")
        conn_t = array("d")
        for r in res:
            done_t.frombytes(r["done_t"])
            conn_t.frombytes(r["conn_t"])
        return {"requested": n, "done": sum(r["done"] for r in res), "failed": sum(r["failed"] for r in res),
                "exceptions": _merge_counters(r["exceptions"] for r in res),
                "connect_errors": _merge_counters(r["connect_errors"] for r in res),
                "retries": sum(r["retries"] for r in res),
                "boot_status": _merge_counters(r["boot_status"] for r in res),
                "done_t": done_t, "conn_t": conn_t, "stats": merge_stats([r["stats"] for r in res]),
                "client_cpu": sum(r["cpu"] for r in res), "open": sum(r["open"] for r in res)}

    def start_run(self, workload: str, mode: str, warmup: float, duration: float, rate: float = 0.0,
                  k: int = 6, lead: float = 0.3) -> tuple[float, float, float]:
        """Start a load run on all workers; returns (t_go, t_measure, t_end) in time.monotonic()."""
        t_go = monotonic() + lead
        t_measure = t_go + warmup
        t_end = t_measure + duration
        self.stop_at.value = 0.0
        total = sum(self.per_worker)
        offsets = [sum(self.per_worker[:i]) for i in range(len(self.pipes))]
        self._send("run", [{"workload": workload, "mode": mode, "t_go": t_go, "t_measure": t_measure,
                            "t_end": t_end, "rate": rate, "k": k, "total_chargers": total, "offset": off}
                           for off in offsets])
        self._window = (t_go, t_measure, t_end)
        return t_go, t_measure, t_end

    def finish_run(self) -> dict:
        t_go, t_measure, t_end = self._window
        res = self._recv(t_end - monotonic() + 90)
        st = merge_stats([r["stats"] for r in res])
        return {"stats": st, "client_cpu": sum(r["cpu"] for r in res), "window": t_end - t_measure,
                "open": sum(r["open"] for r in res), "server_calls": _merge_counters(r["server_calls"] for r in res),
                "bad_frames": sum(r["bad_frames"] for r in res), "unexpected": sum(r["unexpected"] for r in res),
                "closes_by_server": sum(r["closes_by_server"] for r in res)}

    def stop_run_at(self, t: float):
        """End the current run early: nothing scheduled at or after ``t`` (time.monotonic()) is sent; requests
        in flight still complete and count."""
        self.stop_at.value = t

    def run(self, *a, **kw) -> dict:
        self.start_run(*a, **kw)
        return self.finish_run()

    def disconnect(self) -> int:
        self._send("disconnect", [{}] * len(self.pipes))
        res = self._recv(60)
        self.per_worker = [0] * len(self.pipes)
        return sum(r["closed"] for r in res)

    def info(self) -> list[dict]:
        self._send("info", [{}] * len(self.pipes))
        return self._recv(30)

    def close(self):
        for pipe in self.pipes:
            try:
                pipe.send(("exit", {}))
            except (OSError, BrokenPipeError):
                pass
        for p in self.procs:
            p.join(3)
            if p.is_alive():
                p.terminate()
                p.join(2)
            if p.is_alive():
                p.kill()
        self.procs = []
        self.pipes = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def summarize_run(r: dict) -> dict:
    """Flatten a finish_run() result: replies/s, latency quantiles (ms), error counts."""
    st = r["stats"]
    replies = sum(st["ok"].values())
    q = quantiles(st["lat"])
    errs = sum(st["callerror"].values())
    late = quantiles(st["late"], (0.5, 0.99)) if len(st["late"]) else None
    return {"send_late_p50_ms": late[0.5] * 1000 if late else None,
            "send_late_p99_ms": late[0.99] * 1000 if late else None,"replies": replies, "rate": replies / r["window"] if r["window"] else 0.0,
            "p50_ms": None if q[0.5] is None else q[0.5] * 1000,
            "p90_ms": None if q[0.9] is None else q[0.9] * 1000,
            "p99_ms": None if q[0.99] is None else q[0.99] * 1000,
            "max_ms": None if q["max"] is None else q["max"] * 1000,
            "callerrors": errs, "callerror_detail": st["callerror"],
            "bad": sum(st["bad"].values()), "bad_detail": st["bad"],
            "timeouts": sum(st["timeouts"].values()), "closed": sum(st["closed"].values()),
            "not_accepted": st["not_accepted"], "by_action": st["ok"],
            "client_cpu_share": r["client_cpu"] / r["window"] if r["window"] else 0.0,
            "server_calls": r.get("server_calls", {}), "open": r.get("open")}


# --------------------------------------------------------------------------------------------------------
# Dashboard websocket clients (browser-like: the `websockets` client, permessage-deflate offered)


def dashboard_main(conn, url: str, n: int, cpus, first):
    raise_nofile_limit()
    if cpus:
        try:
            os.sched_setaffinity(0, set(cpus))
        except OSError:
            pass
    asyncio.run(_dashboards(conn, url, n, first or []))


async def _dashboards(conn, url: str, n: int, first: list[str]):
    import websockets

    loop = asyncio.get_running_loop()
    msgs = [0] * n
    nbytes = [0] * n
    errors = Counter()
    connected = [0]

    async def one(i):
        up = False
        try:
            async with websockets.connect(url, open_timeout=30, max_size=None, ping_interval=None) as ws:
                for frame in first:  # e.g. the auth message
                    await ws.send(frame)
                up = True
                connected[0] += 1
                async for m in ws:
                    msgs[i] += 1
                    nbytes[i] += len(m)
                errors["closed by the server: code %s %s" % (ws.close_code, ws.close_reason)] += 1
        except Exception as e:  # reported to the driver
            errors["%s: %s" % (type(e).__name__, str(e)[:200])] += 1
        finally:
            if up:
                connected[0] -= 1

    t0 = monotonic()
    tasks = [asyncio.ensure_future(one(i)) for i in range(n)]
    t_end = t0 + 30
    while connected[0] < n and monotonic() < t_end and not all(t.done() for t in tasks):
        await asyncio.sleep(0.02)
    conn.send({"connected": connected[0], "errors": dict(errors), "connect_s": monotonic() - t0})
    while True:
        cmd = await loop.run_in_executor(None, conn.recv)
        if cmd == "stats":
            conn.send({"connected": connected[0], "msgs": sum(msgs), "bytes": sum(nbytes),
                       "min_msgs": min(msgs), "errors": dict(errors)})
        else:
            break
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class DashboardClients:
    """n dashboard websocket clients in one separate process, counting what they receive."""

    def __init__(self, url: str, n: int = 20, cpus=None, timeout: float = 40, first: list[str] | None = None):
        ctx = mp.get_context("spawn")
        self.pipe, child = ctx.Pipe()
        self.proc = ctx.Process(target=dashboard_main, args=(child, url, n, cpus, first), daemon=True)
        self.proc.start()
        child.close()
        if not self.pipe.poll(timeout):
            self.close()
            raise LoadGenError("dashboard clients did not report within %.0f s" % timeout)
        self.first = self.pipe.recv()

    def stats(self) -> dict:
        self.pipe.send("stats")
        if not self.pipe.poll(30):
            raise LoadGenError("dashboard clients did not answer")
        return self.pipe.recv()

    def close(self):
        try:
            self.pipe.send("exit")
        except (OSError, BrokenPipeError):
            pass
        self.proc.join(5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(2)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --------------------------------------------------------------------------------------------------------
# Stand-alone use


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", default="/ocpp/")
    ap.add_argument("--chargers", type=int, default=100)
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--cpus", default="", help="comma-separated cores for the workers (default: no pinning)")
    ap.add_argument("--workload", choices=("heartbeat", "meter", "session"), default="heartbeat")
    ap.add_argument("--mode", choices=("closed", "paced"), default="closed")
    ap.add_argument("--rate", type=float, default=1000.0, help="total msgs/s in paced mode")
    ap.add_argument("--k", type=int, default=6, help="MeterValues per session")
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--storm", action="store_true", help="connect all chargers at once and time it")
    a = ap.parse_args(argv)
    raise_nofile_limit()
    cpus = [int(x) for x in a.cpus.split(",") if x.strip()] or None
    with LoadGen(a.host, a.port, procs=a.procs, cpus=cpus, path=a.path) as lg:
        c = lg.connect(a.chargers, storm=a.storm)
        q = quantiles(c["done_t"])
        print("connected %d/%d (failed %d, retries %d), all answered after %.2f s (p50 %.2f s)"
              % (c["done"], a.chargers, c["failed"], c["retries"], q["max"] or 0, q[0.5] or 0))
        if c["connect_errors"]:
            print("connect errors:", c["connect_errors"])
        if a.storm:
            return
        s = summarize_run(lg.run(a.workload, a.mode, a.warmup, a.duration, rate=a.rate if a.mode == "paced" else 0,
                                 k=a.k))
        print(json.dumps({k: v for k, v in s.items()}, indent=1, default=str))


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
