"""Benchmark driver: runs identical OCPP 1.6J loads against floor, library and evedge, side by side.

    python bench/run.py [--servers floor,library,evedge] [--scenarios cpu,throughput,latency,memory,storm,dashboards]
                        [--quick] [--out bench/results/latest.md]

Each (scenario, server) pair gets a fresh server process (fresh data dir) on its own port, pinned to
--server-cpu (default core 0); the load generator processes and this driver are pinned to the other cores.
Scenarios run one after the other, and within a scenario the servers run one after the other, so that the
machine's noise hits them alike. See bench/README.md for what every number means.
"""
from __future__ import annotations

import argparse
import atexit
import datetime as dt
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from loadgen import (DashboardClients, LoadGen, quantiles, raise_nofile_limit,  # noqa: E402
                     summarize_run)

monotonic = time.monotonic
ALL_SERVERS = ("floor", "library", "evedge")
ALL_SCENARIOS = ("cpu", "throughput", "latency", "memory", "storm", "storm-impact", "dashboards", "allocation")
WORKLOADS = ("heartbeat", "meter", "session")
WL_LABEL = {"heartbeat": "Heartbeat", "meter": "MeterValues (4 sampled values)",
            "session": "session mix (Authorize, Start, MeterValues×k, Stop)"}

FULL = dict(
    cpu_chargers=100, cpu_rate=500.0, cpu_warmup=3.0, cpu_window=20.0,
    tp_chargers=100, tp_warmup=3.0, tp_window=10.0,
    lat_chargers=1000, lat_rates=(300.0, 1000.0), lat_warmup=5.0, lat_window=20.0,
    mem_ns=(1000, 10000), mem_settle=4.0,
    storm_ns=(1000, 10000), storm_deadline=240.0,
    impact_n=5000, impact_chargers=200, impact_rate=200.0, impact_warmup=3.0, impact_before=8.0,
    dash_clients=20, dash_rate=300.0, dash_window=15.0,
    session_k=6, alloc_sizes=(20, 200, 2000), alloc_rounds=3,
)
QUICK = dict(
    cpu_chargers=100, cpu_rate=500.0, cpu_warmup=1.0, cpu_window=3.5,
    tp_chargers=100, tp_warmup=1.0, tp_window=2.5,
    lat_chargers=1000, lat_rates=(1000.0,), lat_warmup=2.0, lat_window=4.0,
    mem_ns=(1000, 2000), mem_settle=1.5,
    storm_ns=(1000,), storm_deadline=120.0,
    impact_n=2000, impact_chargers=200, impact_rate=200.0, impact_warmup=2.0, impact_before=4.0,
    dash_clients=20, dash_rate=300.0, dash_window=4.0,
    session_k=6, alloc_sizes=(20, 200, 2000), alloc_rounds=3,
)


def log(msg: str):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------------------
# /proc helpers (no psutil needed)

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    out = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                    out += [int(x) for x in f.read().split()]
            except OSError:
                pass
    except OSError:
        pass
    return out


def process_tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        todo += _children(p)
    return pids


def cpu_seconds(pid: int) -> float:
    """user+sys (+ waited-for children) of a process and its live descendants, from /proc/<pid>/stat."""
    total = 0
    for p in process_tree(pid):
        try:
            with open("/proc/%d/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # fields[0] is field 3 (state): utime=14, stime=15, cutime=16, cstime=17
        total += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
    return total / CLK_TCK


def rss_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) in kB, summed over the process tree."""
    rss = hwm = 0
    for p in process_tree(pid):
        try:
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss += int(line.split()[1])
                    elif line.startswith("VmHWM:"):
                        hwm += int(line.split()[1])
        except OSError:
            pass
    return rss, hwm


def tcp_ext() -> dict:
    """Selected TcpExt counters (listen queue overflows, SYN retransmits) from /proc/net/netstat."""
    try:
        lines = open("/proc/net/netstat").read().splitlines()
    except OSError:
        return {}
    out = {}
    for i in range(0, len(lines) - 1, 2):
        keys, vals = lines[i].split(), lines[i + 1].split()
        if keys and keys[0] == "TcpExt:":
            d = dict(zip(keys[1:], vals[1:]))
            for k in ("ListenOverflows", "ListenDrops", "TCPSynRetrans"):
                if k in d:
                    out[k] = int(d[k])
    return out


def core_times() -> dict:
    """Per-core jiffies from /proc/stat: {cpu: (busy, idle, steal, total)}."""
    out = {}
    try:
        with open("/proc/stat") as f:
            for line in f:
                if line.startswith("cpu") and line[3].isdigit():
                    p = line.split()
                    v = [int(x) for x in p[1:9]] + [0] * max(0, 8 - len(p[1:9]))
                    user, nice, system, idle, iowait, irq, softirq, steal = v[:8]
                    out[int(p[0][3:])] = (user + nice + system + irq + softirq, idle + iowait, steal,
                                          user + nice + system + idle + iowait + irq + softirq + steal)
    except OSError:
        pass
    return out


def core_shares(a: dict, b: dict, cores) -> dict:
    """Busy/idle/steal shares of the given cores between two core_times() samples."""
    busy = idle = steal = total = 0
    for c in cores or []:
        if c in a and c in b:
            busy += b[c][0] - a[c][0]
            idle += b[c][1] - a[c][1]
            steal += b[c][2] - a[c][2]
            total += b[c][3] - a[c][3]
    if not total:
        return {}
    return {"busy": busy / total, "idle": idle / total, "steal": steal / total}


def sleep_until(t: float):
    d = t - monotonic()
    if d > 0:
        time.sleep(d)


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------------------------------------
# Servers under test


def server_base(spec: str) -> str:
    """'evedge:max_opening_connections=0' -> 'evedge' (a server name with evedge settings for a variant)."""
    return spec.split(":", 1)[0]


def server_settings(spec: str) -> dict[str, str]:
    """'evedge:a=1:b=x' -> {'a': '1', 'b': 'x'}: evedge settings of a variant, passed as EVEDGE_* variables."""
    out = {}
    for part in spec.split(":")[1:]:
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ValueError("bad server variant %r: expected name:setting=value[:setting=value]" % spec)
        out[key.strip()] = value.strip()
    return out


LIVE: set["ServerProc"] = set()


class ServerStartError(RuntimeError):
    pass


class ServerProc:
    """One server under test: subprocess in its own session, pinned, fresh data dir, log file."""

    def __init__(self, name: str, opts):
        self.name = name
        self.opts = opts
        self.host = opts.host
        self.port = free_port(opts.host)
        self.datadir = tempfile.mkdtemp(prefix="evedge-bench-%s-" % name)
        self.logpath = Path(opts.logdir) / ("%s-%d.log" % ("".join(c if c.isalnum() or c in "-_" else "_"
                                                                   for c in name), self.port))
        py = opts.python
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        cwd = str(BENCH_DIR)
        base = server_base(name)
        if base == "floor":
            cmd = [py, str(BENCH_DIR / "servers" / "floor.py"), "--host", self.host, "--port", str(self.port)]
        elif base == "library":
            cmd = [py, str(BENCH_DIR / "servers" / "library.py"), "--host", self.host, "--port", str(self.port)]
        elif base == "evedge":
            cmd = [opts.evedge_python, "-m", "evedge", "serve", "--host", self.host, "--port", str(self.port),
                   "--data-dir", self.datadir]
            cwd = str(opts.evedge_root)
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(opts.evedge_root), env.get("PYTHONPATH")]))
            env.setdefault("EVEDGE_LOG_LEVEL", "warning")
            env.setdefault("EVEDGE_UNKNOWN_ID_TAGS", "accept")
            # The throughput scenarios saturate the server with a few connections, each far
            # above a real charger's rate: lift the per-charger pacing (web/backpressure.py),
            # which is measured on its own in tests/test_charger_security.py.
            env.setdefault("EVEDGE_CHARGER_MESSAGE_RATE", "1000000")
            env.setdefault("EVEDGE_CHARGER_MESSAGE_BURST", "1000000")
            for key, value in server_settings(name).items():
                env["EVEDGE_" + key.upper()] = value
        else:
            raise ValueError(name)
        self.cmd = cmd
        self.env = env
        self.cwd = cwd
        self.proc = None
        self._log = None

    def start(self, timeout: float = 60.0) -> "ServerProc":
        self._log = open(self.logpath, "wb")
        cpu = self.opts.server_cpu
        if server_base(self.name) == "evedge":
            self._create_dashboard_user()

        def pre():
            if cpu is not None:
                os.sched_setaffinity(0, {cpu})

        self.proc = subprocess.Popen(self.cmd, cwd=self.cwd, env=self.env, stdout=self._log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True, preexec_fn=pre)
        LIVE.add(self)
        self._wait_ready(timeout)
        return self

    def _create_dashboard_user(self):
        """evedge has no self-registration by default and makes its first admin with
        `evedge createuser` (or a setup code): the account dashboard_connect_info() logs in with."""
        cmd = [self.opts.evedge_python, "-m", "evedge", "createuser", "--data-dir", self.datadir,
               "--username", BENCH_USER[0], "--password", BENCH_USER[1]]
        subprocess.run(cmd, cwd=self.cwd, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
                       stdin=subprocess.DEVNULL, check=True, timeout=60)

    def _wait_ready(self, timeout: float):
        """Poll the port until an HTTP request to it gets any HTTP answer."""
        end = monotonic() + timeout
        last = None
        while monotonic() < end:
            if self.proc.poll() is not None:
                raise ServerStartError("%s exited with code %s before it was ready; log %s:\n%s"
                                       % (self.name, self.proc.returncode, self.logpath, self.log_tail()))
            try:
                with socket.create_connection((self.host, self.port), timeout=2) as s:
                    s.sendall(b"GET / HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n\r\n"
                              % (self.host.encode(), self.port))
                    data = s.recv(64)
                    if data.startswith(b"HTTP/1."):
                        return
                    last = "unexpected answer %r" % data[:40]
            except OSError as e:
                last = repr(e)
            time.sleep(0.1)
        raise ServerStartError("%s not ready on port %d after %.0f s (last: %s); log %s:\n%s"
                               % (self.name, self.port, timeout, last, self.logpath, self.log_tail()))

    def log_tail(self, n: int = 25) -> str:
        try:
            lines = self.logpath.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join("    " + x for x in lines[-n:])

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)

    def rss(self) -> tuple[int, int]:
        return rss_kb(self.proc.pid)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
                try:
                    os.killpg(self.proc.pid, sig)  # its own session: the group id is its pid
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if self._log is not None:
            self._log.close()
            self._log = None
        shutil.rmtree(self.datadir, ignore_errors=True)
        LIVE.discard(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def _cleanup():
    for s in list(LIVE):
        try:
            s.stop()
        except Exception:
            pass


atexit.register(_cleanup)


def _on_signal(signum, frame):
    raise KeyboardInterrupt("signal %d" % signum)  # same path as Ctrl-C: stop, clean up, write partial results


# --------------------------------------------------------------------------------------------------------
# Dashboard auth (evedge only). The exact auth may still change: adapt it here.


BENCH_USER = ("bench", "bench-password-1")


def dashboard_connect_info(host: str, port: int) -> tuple[str, list[str]]:
    """Log in on a fresh evedge; return (dashboard websocket URL, frames to send first).

    Current evedge protocol (evedge/web/dashboard_socket.py): the access token from
    /api/auth/login/ (the account ServerProc made with `evedge createuser`; an older evedge took
    POST /api/auth/register/ too) travels in the first frame, {"type": "auth", "token": ...},
    not in the URL; the server then sends a snapshot and batched {"events": [...]} frames."""
    creds = json.dumps({"username": BENCH_USER[0], "password": BENCH_USER[1]}).encode()
    base = "http://%s:%d" % (host, port)
    access = None
    errors = []
    for path in ("/api/auth/register/", "/api/auth/login/"):
        req = urllib.request.Request(base + path, data=creds, method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                access = json.load(r).get("access")
        except (urllib.error.URLError, ValueError) as e:
            errors.append("%s: %s" % (path, e))
        if access:
            break
    if not access:
        raise RuntimeError("could not get a dashboard access token (%s)" % "; ".join(errors))
    return "ws://%s:%d/ws/dashboard" % (host, port), [json.dumps({"type": "auth", "token": access})]


# --------------------------------------------------------------------------------------------------------
# Scenarios. Each returns a JSON-able dict for one server.


class Ctx:
    def __init__(self, opts, cfg):
        self.opts = opts
        self.cfg = cfg

    def server(self, name) -> ServerProc:
        return ServerProc(name, self.opts).start(self.opts.start_timeout)

    def loadgen(self, srv: ServerProc, procs: int | None = None, prefix: str = "CP", nice: int = 0) -> LoadGen:
        return LoadGen(srv.host, srv.port, procs=procs or self.opts.procs, cpus=self.opts.client_cpus,
                       id_prefix="%s-%s-" % (prefix, server_base(srv.name)[:3].upper()),
                       timeout=self.opts.request_timeout, nice=nice)


def _check_connect(c: dict, n: int, what: str):
    if c["done"] < n:
        raise RuntimeError("%s: only %d of %d chargers connected and booted (connect errors %s, exceptions %s, "
                           "callerrors %s, timeouts %s)" % (what, c["done"], n, c["connect_errors"], c["exceptions"],
                                                          c["stats"]["callerror"], c["stats"]["timeouts"]))


def _measured_run(srv: ServerProc, lg: LoadGen, workload, mode, warmup, window, rate=0.0, k=6) -> dict:
    _, t_m, t_e = lg.start_run(workload, mode, warmup, window, rate=rate, k=k)
    sleep_until(t_m)
    c0, k0 = srv.cpu(), core_times()
    sleep_until(t_e)
    c1, k1 = srv.cpu(), core_times()
    r = summarize_run(lg.finish_run())
    opts = srv.opts
    r["server_core"] = core_shares(k0, k1, [opts.server_cpu] if opts.server_cpu is not None else None)
    r["client_cores"] = core_shares(k0, k1, opts.client_cpus)
    cpu = c1 - c0
    r["server_cpu_s"] = cpu
    r["server_core_share"] = cpu / window
    if r["server_core"]:
        # core time not spent idle and not by the server process: kernel softirq (partly the server's own
        # network work), hypervisor steal, other processes on that core
        r["server_core"]["other"] = max(0.0, 1.0 - r["server_core"]["idle"] - r["server_core_share"])
    r["cpu_us_per_msg"] = cpu / r["replies"] * 1e6 if r["replies"] else None
    r["window_s"] = window
    if rate:
        r["target_rate"] = rate
    if not srv.alive():
        raise RuntimeError("%s died during the run; log:\n%s" % (srv.name, srv.log_tail()))
    return r


def scen_cpu(ctx: Ctx, name: str) -> dict:
    cfg = ctx.cfg
    out = {"rate": cfg["cpu_rate"], "chargers": cfg["cpu_chargers"]}
    with ctx.server(name) as srv, ctx.loadgen(srv) as lg:
        _check_connect(lg.connect(cfg["cpu_chargers"]), cfg["cpu_chargers"], "connect")
        for wl in WORKLOADS:
            out[wl] = _measured_run(srv, lg, wl, "paced", cfg["cpu_warmup"], cfg["cpu_window"],
                                    rate=cfg["cpu_rate"], k=cfg["session_k"])
            log("  cpu %-9s %-8s %8.1f µs/msg at %.0f msgs/s (errors %d)" % (
                name, wl, out[wl]["cpu_us_per_msg"] or -1, out[wl]["rate"], _errcount(out[wl])))
    return out


def scen_throughput(ctx: Ctx, name: str) -> dict:
    cfg = ctx.cfg
    out = {"chargers": cfg["tp_chargers"]}
    with ctx.server(name) as srv, ctx.loadgen(srv) as lg:
        _check_connect(lg.connect(cfg["tp_chargers"]), cfg["tp_chargers"], "connect")
        for wl in WORKLOADS:
            out[wl] = _measured_run(srv, lg, wl, "closed", cfg["tp_warmup"], cfg["tp_window"], k=cfg["session_k"])
            log("  throughput %-9s %-8s %8.0f msgs/s (server core %.0f%%, client core %.0f%%, errors %d)" % (
                name, wl, out[wl]["rate"], 100 * out[wl]["server_core_share"],
                100 * out[wl]["client_cpu_share"], _errcount(out[wl])))
    return out


def scen_latency(ctx: Ctx, name: str) -> dict:
    cfg = ctx.cfg
    n = cfg["lat_chargers"]
    out = {"chargers": n}
    with ctx.server(name) as srv, ctx.loadgen(srv) as lg:
        _check_connect(lg.connect(n), n, "connect")
        for rate in cfg["lat_rates"]:
            r = _measured_run(srv, lg, "session", "paced", cfg["lat_warmup"], cfg["lat_window"],
                              rate=rate, k=cfg["session_k"])
            out["%g" % rate] = r
            log("  latency %-9s p50 %.2f ms p99 %.2f ms at %.0f msgs/s (target %.0f, errors %d)" % (
                name, r["p50_ms"] or -1, r["p99_ms"] or -1, r["rate"], rate, _errcount(r)))
    return out


def scen_memory(ctx: Ctx, name: str) -> dict:
    cfg = ctx.cfg
    ns = sorted(cfg["mem_ns"])
    settle = cfg["mem_settle"]
    out = {"points": []}
    with ctx.server(name) as srv:
        time.sleep(settle)
        rss, hwm = srv.rss()
        out["idle_kb"] = rss
        out["points"].append({"n": 0, "rss_kb": rss, "hwm_kb": hwm})
        procs = max(ctx.opts.procs, (ns[-1] + 4999) // 5000)
        with ctx.loadgen(srv, procs=procs) as lg:
            have = 0
            for n in ns:
                c = lg.connect(n - have, concurrency=ctx.opts.connect_concurrency, deadline=cfg["storm_deadline"])
                _check_connect(c, n - have, "connect")
                have = n
                time.sleep(settle)
                rss, hwm = srv.rss()
                open_now = sum(i["open"] for i in lg.info())
                out["points"].append({"n": n, "rss_kb": rss, "hwm_kb": hwm, "open": open_now,
                                      "kb_per_charger": (rss - out["idle_kb"]) / n})
                log("  memory %-9s %6d chargers: RSS %.1f MB (%.1f kB/charger), %d open" % (
                    name, n, rss / 1024, (rss - out["idle_kb"]) / n, open_now))
                if open_now < n:
                    out.setdefault("problems", []).append("only %d of %d connections still open" % (open_now, n))
    return out


def scen_storm(ctx: Ctx, name: str) -> dict:
    cfg = ctx.cfg
    out = {}
    for n in cfg["storm_ns"]:
        with ctx.server(name) as srv:
            procs = max(ctx.opts.procs, (n + 4999) // 5000)
            with ctx.loadgen(srv, procs=procs) as lg:
                time.sleep(1.0)  # let the worker processes finish importing
                net0, c0 = tcp_ext(), srv.cpu()
                c = lg.connect(n, storm=True, deadline=cfg["storm_deadline"])
                net1, c1 = tcp_ext(), srv.cpu()
                q = quantiles(c["done_t"])
                qc = quantiles(c["conn_t"])
                st = c["stats"]
                r = {"n": n, "answered": c["done"], "failed": c["failed"],
                     "all_answered_s": q["max"] if c["done"] == n else None,
                     "last_answered_s": q["max"], "p50_s": q[0.5], "p99_s": q[0.99],
                     "connect_p50_s": qc[0.5], "connect_max_s": qc["max"],
                     "retries": c["retries"], "connect_errors": c["connect_errors"],
                     "boot_status": c["boot_status"], "callerrors": sum(st["callerror"].values()),
                     "callerror_detail": st["callerror"], "timeouts": sum(st["timeouts"].values()),
                     "bad": sum(st["bad"].values()), "server_cpu_s": c1 - c0, "client_cpu_s": c["client_cpu"],
                     "rss_kb_after": srv.rss()[0],
                     "tcp": {k: net1.get(k, 0) - net0.get(k, 0) for k in net1}}
                out[str(n)] = r
                log("  storm %-9s N=%d: %s answered, last after %.2f s (p50 %.2f s), retries %d, tcp %s" % (
                    name, n, c["done"], q["max"] or -1, q[0.5] or -1, c["retries"], r["tcp"]))
    return out


def _window_summary(st: dict, t0: float, t1: float) -> dict:
    """Latency quantiles (ms) of the samples whose scheduled send time is in [t0, t1), and the load generator's
    own timer lateness for those sends."""
    lat = [x for x, t in zip(st["lat"], st["sched"]) if t0 <= t < t1]
    late = [x for x, t in zip(st["late"], st["late_sched"]) if t0 <= t < t1]
    q = quantiles(lat)
    ql = quantiles(late, (0.5, 0.99))

    def ms(v):
        return None if v is None else v * 1000

    return {"window_s": t1 - t0, "samples": len(lat), "rate": len(lat) / (t1 - t0) if t1 > t0 else None,
            "p50_ms": ms(q[0.5]), "p90_ms": ms(q[0.9]), "p99_ms": ms(q[0.99]), "max_ms": ms(q["max"]),
            "send_late_p99_ms": ms(ql[0.99]), "send_late_max_ms": ms(ql["max"])}


def scen_storm_impact(ctx: Ctx, name: str) -> dict:
    """Chargers already connected keep sending the session mix at a fixed rate while a boot storm of N new
    chargers hits the server: their latency before vs during the storm, and the storm's completion time."""
    cfg = ctx.cfg
    n, m, rate = cfg["impact_n"], cfg["impact_chargers"], cfg["impact_rate"]
    storm_procs = max(ctx.opts.procs, (n + 4999) // 5000)
    # The storm's load generators run at a lower priority than the one measuring the connected chargers, so
    # that a busy client core delays the measured sends as little as possible (send lateness is reported).
    with ctx.server(name) as srv, ctx.loadgen(srv, procs=1) as lg, \
            ctx.loadgen(srv, procs=storm_procs, prefix="ST", nice=5) as storm:
        _check_connect(lg.connect(m), m, "connect")
        time.sleep(1.0)  # let the storm's worker processes finish importing
        # duration: long enough for any storm; the run is ended when the storm is over (stop_run_at)
        _, t_measure, _ = lg.start_run("session", "paced", cfg["impact_warmup"],
                                       cfg["impact_before"] + cfg["storm_deadline"] + 60, rate=rate,
                                       k=cfg["session_k"])
        t_storm = t_measure + cfg["impact_before"]
        sleep_until(t_storm - 0.2)
        net0, c0 = tcp_ext(), srv.cpu()
        c = storm.connect(n, storm=True, start_at=t_storm, deadline=cfg["storm_deadline"])
        net1, c1 = tcp_ext(), srv.cpu()
        q = quantiles(c["done_t"])
        t_done = t_storm + (q["max"] or 0.0)
        lg.stop_run_at(monotonic())
        run = lg.finish_run()
        if not srv.alive():
            raise RuntimeError("%s died during the run; log:\n%s" % (srv.name, srv.log_tail()))
    st = run["stats"]
    summary = summarize_run(dict(run, window=monotonic() - t_measure))
    for k in ("rate", "p50_ms", "p90_ms", "p99_ms", "max_ms", "send_late_p50_ms", "send_late_p99_ms"):
        summary.pop(k, None)  # whole-run figures mix both windows: only the windows below are reported
    storm_st = c["stats"]
    out = {"chargers": m, "target_rate": rate, "n": n,
           "before": _window_summary(st, t_measure, t_storm),
           "during": _window_summary(st, t_storm, t_done),
           "run": summary,
           "storm": {"n": n, "answered": c["done"], "failed": c["failed"],
                     "all_answered_s": q["max"] if c["done"] == n else None, "last_answered_s": q["max"],
                     "p50_s": q[0.5], "retries": c["retries"], "connect_errors": c["connect_errors"],
                     "boot_status": c["boot_status"], "callerrors": sum(storm_st["callerror"].values()),
                     "callerror_detail": storm_st["callerror"], "timeouts": sum(storm_st["timeouts"].values()),
                     "bad": sum(storm_st["bad"].values()), "server_cpu_s": c1 - c0,
                     "client_cpu_s": c["client_cpu"], "tcp": {k: net1.get(k, 0) - net0.get(k, 0) for k in net1}}}
    b, d = out["before"], out["during"]
    log("  storm-impact %-9s N=%d: connected chargers p99 %.1f ms before, %.1f ms during (max %.0f ms); storm "
        "%d/%d answered after %.2f s" % (name, n, b["p99_ms"] or -1, d["p99_ms"] or -1, d["max_ms"] or -1,
                                          c["done"], n, q["max"] or -1))
    return out


def scen_dashboards(ctx: Ctx, name: str) -> dict:
    cfg = ctx.cfg
    if server_base(name) != "evedge":
        return {"skipped": "dashboards are an evedge feature"}
    n = cfg["lat_chargers"]
    out = {"chargers": n, "target_rate": cfg["dash_rate"], "dashboards": cfg["dash_clients"]}
    with ctx.server(name) as srv:
        url, first_frames = dashboard_connect_info(srv.host, srv.port)
        with ctx.loadgen(srv) as lg:
            _check_connect(lg.connect(n), n, "connect")
            out["without"] = _measured_run(srv, lg, "session", "paced", cfg["lat_warmup"], cfg["dash_window"],
                                           rate=cfg["dash_rate"], k=cfg["session_k"])
            with DashboardClients(url, cfg["dash_clients"], cpus=ctx.opts.client_cpus, first=first_frames) as dash:
                if dash.first["connected"] < cfg["dash_clients"]:
                    raise RuntimeError("only %d of %d dashboard clients connected to %s: %s (the dashboard auth "
                                       "is in dashboard_connect_info() in bench/run.py)"
                                       % (dash.first["connected"], cfg["dash_clients"], url,
                                          dash.first["errors"]))
                # wait until every dashboard has its first frame (the snapshot), so that the measured window
                # shows the steady state with 20 dashboards, not their connect burst (reported separately)
                t0 = monotonic()
                d0 = dash.stats()
                while d0["min_msgs"] < 1 and monotonic() - t0 < 120:
                    time.sleep(0.2)
                    d0 = dash.stats()
                out["dashboard_first_frame_s"] = monotonic() - t0 + dash.first.get("connect_s", 0)
                out["dashboard_first_frame_bytes"] = d0["bytes"]
                if d0["min_msgs"] < 1:
                    raise RuntimeError("some dashboard clients got no first frame within 120 s: %s" % d0)
                out["with"] = _measured_run(srv, lg, "session", "paced", cfg["lat_warmup"], cfg["dash_window"],
                                            rate=cfg["dash_rate"], k=cfg["session_k"])
                d1 = dash.stats()
            out["dashboard_msgs"] = d1["msgs"] - d0["msgs"]
            out["dashboard_bytes"] = d1["bytes"] - d0["bytes"]
            out["dashboard_msgs_per_client_s"] = out["dashboard_msgs"] / cfg["dash_clients"] / (
                cfg["lat_warmup"] + cfg["dash_window"])
            out["dashboard_connected_at_end"] = d1["connected"]
            out["dashboard_errors"] = d1["errors"]
            if d1["connected"] < cfg["dash_clients"]:
                raise RuntimeError("only %d of %d dashboard clients still connected at the end: %s (the dashboard "
                                   "auth is in dashboard_connect_info() in bench/run.py)"
                                   % (d1["connected"], cfg["dash_clients"], d1["errors"]))
    log("  dashboards %s: p99 %.2f ms without, %.2f ms with %d dashboards (%d dashboard msgs)" % (
        name, out["without"]["p99_ms"] or -1, out["with"]["p99_ms"] or -1, cfg["dash_clients"],
        out["dashboard_msgs"]))
    return out


def scen_allocation(ctx: Ctx, name: str) -> dict:
    """Load management: from a StartTransaction's answer to every SetChargingProfile it causes
    (bench/allocation_latency.py), for each size on a fresh server."""
    if server_base(name) != "evedge":
        return {"skipped": "load management is an evedge feature"}
    import asyncio
    from allocation_latency import measure
    out = {}
    for n in ctx.cfg["alloc_sizes"]:
        # nothing waits for a car or a rate limit: the machinery alone is measured
        variant = name + (":load_reaction_time=0:load_increase_interval=0:command_timeout=60"
                          ":max_json_body_bytes=1048576")  # a 2,000-charger model is ~200 KB
        with ServerProc(variant, ctx.opts).start() as srv:
            out[str(n)] = asyncio.run(measure(srv.host, srv.port, *BENCH_USER, n,
                                              ctx.cfg["alloc_rounds"]))
            out[str(n)]["server_cpu_s"] = srv.cpu()
        log("  allocation %s: %d sessions, last profile after %.0f ms (median of %d)" % (
            name, n, out[str(n)]["last_ms"], ctx.cfg["alloc_rounds"]))
    return out


SCENARIOS = {"cpu": scen_cpu, "throughput": scen_throughput, "latency": scen_latency, "memory": scen_memory,
             "storm": scen_storm, "storm-impact": scen_storm_impact, "dashboards": scen_dashboards,
             "allocation": scen_allocation}


def _errcount(r: dict) -> int:
    return (r.get("callerrors", 0) or 0) + (r.get("bad", 0) or 0) + (r.get("timeouts", 0) or 0) + (
        r.get("closed", 0) or 0)


# --------------------------------------------------------------------------------------------------------
# Report


def fmt_num(v, unit=""):
    if v is None:
        return "–"
    if isinstance(v, str):
        return v
    if isinstance(v, int):
        return "{:,}".format(v) + unit
    a = abs(v)
    if a >= 1000:
        s = "{:,.0f}".format(v)
    elif a >= 100:
        s = "%.0f" % v
    elif a >= 10:
        s = "%.1f" % v
    else:
        s = "%.2f" % v
    return s + unit


def ratio_pairs(servers: list[str]) -> list[tuple[str, str]]:
    pairs = []
    for s in servers:
        if s != "floor" and "floor" in servers:
            pairs.append((s, "floor"))
    for s in servers:
        if s not in ("floor", "library") and "library" in servers:
            pairs.append((s, "library"))
    return pairs


def md_table(title: str, note: str, rows: list[tuple[str, dict]], servers: list[str], unit="", ratios=True):
    pairs = ratio_pairs(servers) if ratios else []
    head = ["", *servers] + ["%s ÷ %s" % p for p in pairs]
    lines = ["### " + title, ""]
    if note:
        lines += [note, ""]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "|".join(["---"] + ["--:"] * (len(head) - 1)) + "|")
    for label, vals in rows:
        cells = [label]
        for s in servers:
            v = vals.get(s)
            cells.append(fmt_num(v, unit) if not isinstance(v, str) else v)
        for a, b in pairs:
            va, vb = vals.get(a), vals.get(b)
            if isinstance(va, (int, float)) and isinstance(vb, (int, float)) and vb:
                cells.append("%.2f" % (va / vb))
            else:
                cells.append("–")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _cell(res: dict, scen: str, server: str):
    r = res.get(scen, {}).get(server)
    if r is None:
        return None
    if "error" in r:
        return "error"
    if "skipped" in r:
        return "skipped"
    return r


def build_report(res: dict, servers: list[str], opts, cfg, problems: list[str]) -> str:
    L = []
    L.append("# evedge benchmark — %s" % res["meta"]["date"])
    m = res["meta"]
    L.append("")
    if m.get("repeat", 1) > 1:
        L.append("Every number is the median of %d rounds (servers interleaved in each round); the JSON has every "
                 "round.\n" % m["repeat"])
    L.append("%s run, %s; %d cores (%s), kernel %s, Python %s. Server pinned to core %s, load generators "
             "(%d processes) and driver to core(s) %s. Ratios are column ÷ column of the same row (CPU, latency, "
             "memory, time: higher = worse; msgs/s: lower = worse). Machine is shared and noisy: compare "
             "ratios, repeated runs drift ±30 %%." % (
                 "Quick" if opts.quick else "Full", m["servers_note"], m["ncpu"], m["cpu_model"], m["kernel"],
                 m["python"], opts.server_cpu, opts.procs, ",".join(map(str, opts.client_cpus or []))))
    L.append("")

    def val(scen, s, fn):
        r = _cell(res, scen, s)
        if not isinstance(r, dict):
            return r
        try:
            return fn(r)
        except (KeyError, TypeError):
            return None

    if "cpu" in res:
        rows = [(WL_LABEL[wl], {s: val("cpu", s, lambda r, wl=wl: r[wl]["cpu_us_per_msg"]) for s in servers})
                for wl in WORKLOADS]
        rows.append(("achieved msgs/s (target %.0f)" % cfg["cpu_rate"],
                     {s: val("cpu", s, lambda r: r["heartbeat"]["rate"]) for s in servers}))
        L.append(md_table("Server CPU time per message (µs, user+sys)",
                          "Fixed rate %.0f msgs/s from %d chargers, %g s window after %g s warm-up. "
                          "session k = %d MeterValues." % (cfg["cpu_rate"], cfg["cpu_chargers"], cfg["cpu_window"],
                                                          cfg["cpu_warmup"], cfg["session_k"]),
                          rows, servers))
    if "throughput" in res:
        rows = [(WL_LABEL[wl] + " msgs/s", {s: val("throughput", s, lambda r, wl=wl: r[wl]["rate"]) for s in servers})
                for wl in WORKLOADS]
        rows += [("%s: CPU µs/msg at saturation" % wl,
                  {s: val("throughput", s, lambda r, wl=wl: r[wl]["cpu_us_per_msg"]) for s in servers})
                 for wl in WORKLOADS]
        rows += [("%s: server core busy %%" % wl,
                  {s: val("throughput", s, lambda r, wl=wl: 100 * r[wl]["server_core_share"]) for s in servers})
                 for wl in WORKLOADS]
        rows += [("%s: server core idle %%" % wl,
                  {s: val("throughput", s, lambda r, wl=wl: 100 * r[wl]["server_core"]["idle"]) for s in servers})
                 for wl in WORKLOADS]
        rows += [("%s: server core other %%" % wl,
                  {s: val("throughput", s, lambda r, wl=wl: 100 * r[wl]["server_core"]["other"]) for s in servers})
                 for wl in WORKLOADS]
        rows += [("%s: load-generator core busy %%" % wl,
                  {s: val("throughput", s, lambda r, wl=wl: 100 * r[wl]["client_cpu_share"]) for s in servers})
                 for wl in WORKLOADS]
        L.append(md_table("Sustained throughput, server on one core (saturation)",
                          "%d chargers, each sends its next request when the previous reply arrives; %g s window "
                          "after %.0f s warm-up. \"server core busy\" is the server process's CPU time ÷ window; the "
                          "rest of its core goes to kernel network softirq work, hypervisor steal and idle. A server "
                          "core idle well above a few %% means the server was not the limit; \"other\" (softirq, steal, other "
                          "processes on that core) above ~20 %% means the box was disturbed." % (
                              cfg["tp_chargers"], cfg["tp_window"], cfg["tp_warmup"]),
                          rows, servers))
    if "latency" in res:
        rows = []
        for rate in cfg["lat_rates"]:
            rk = "%g" % rate
            rows += [("%.0f/s: %s" % (rate, lbl), {s: val("latency", s, lambda r, k=k, rk=rk: r[rk][k]) for s in servers})
                     for lbl, k in (("p50 ms", "p50_ms"), ("p90 ms", "p90_ms"), ("p99 ms", "p99_ms"),
                                    ("max ms", "max_ms"), ("achieved msgs/s", "rate"),
                                    ("server CPU µs/msg", "cpu_us_per_msg"),
                                    ("load-generator send lateness p99 ms", "send_late_p99_ms"))]
            rows.append(("%.0f/s: server core busy %%" % rate,
                         {s: val("latency", s, lambda r, rk=rk: 100 * r[rk]["server_core_share"]) for s in servers}))
        L.append(md_table("Latency at a fixed rate (session mix)",
                          "%d connected chargers; total rate as given (each charger on its own schedule, phases "
                          "spread); latency measured from the scheduled send time to the reply (no coordinated "
                          "omission: a server that falls behind shows it); %g s window after %g s warm-up. A "
                          "server that cannot reach the rate has latencies that grow with the window: compare "
                          "those only as 'saturated'." % (cfg["lat_chargers"], cfg["lat_window"], cfg["lat_warmup"]),
                          rows, servers))
    if "memory" in res:
        rows = [("idle MB", {s: val("memory", s, lambda r: r["idle_kb"] / 1024) for s in servers})]
        for n in sorted(cfg["mem_ns"]):
            rows.append(("%s chargers MB" % "{:,}".format(n),
                         {s: val("memory", s, lambda r, n=n: next(p for p in r["points"] if p["n"] == n)["rss_kb"]
                                 / 1024) for s in servers}))
        n = max(cfg["mem_ns"])
        rows.append(("KiB per charger (at %s)" % "{:,}".format(n),
                     {s: val("memory", s, lambda r: next(p for p in r["points"] if p["n"] == n)["kb_per_charger"])
                      for s in servers}))
        L.append(md_table("Resident memory (RSS)",
                          "Idle after start; then with idle chargers connected (each sent BootNotification + "
                          "StatusNotification), %.0f s after the last one connected." % cfg["mem_settle"],
                          rows, servers))
    if "storm" in res:
        rows = []
        for n in cfg["storm_ns"]:
            k = str(n)
            nn = "{:,}".format(n)
            rows.append(("N=%s: all answered after s" % nn,
                         {s: val("storm", s, lambda r, k=k: r[k]["all_answered_s"] if r[k]["all_answered_s"] is not None
                                 else "%d/%d" % (r[k]["answered"], r[k]["n"])) for s in servers}))
            rows.append(("N=%s: p50 charger done s" % nn, {s: val("storm", s, lambda r, k=k: r[k]["p50_s"])
                                                          for s in servers}))
            rows.append(("N=%s: server CPU s" % nn, {s: val("storm", s, lambda r, k=k: r[k]["server_cpu_s"])
                                                    for s in servers}))
            rows.append(("N=%s: load-generator CPU s" % nn, {s: val("storm", s, lambda r, k=k: r[k]["client_cpu_s"])
                                                             for s in servers}))
            rows.append(("N=%s: client retries" % nn, {s: val("storm", s, lambda r, k=k: r[k]["retries"])
                                                      for s in servers}))
            rows.append(("N=%s: listen-queue overflows" % nn,
                         {s: val("storm", s, lambda r, k=k: r[k]["tcp"].get("ListenOverflows", 0)) for s in servers}))
        L.append(md_table("Boot storm",
                          "N chargers connect at the same instant and each sends BootNotification then "
                          "StatusNotification; time from the start until the last StatusNotification reply. Listen-"
                          "queue overflows (TcpExt ListenOverflows) show an accept backlog that was too short (the "
                          "client's kernel retries the SYN after 1 s, 3 s, ...).", rows, servers))
    if "storm-impact" in res:
        rows = []
        for w, wl in (("before", "before the storm"), ("during", "during the storm")):
            rows += [("%s: %s" % (wl, lbl), {s: val("storm-impact", s, lambda r, w=w, k=k: r[w][k]) for s in servers})
                     for lbl, k in (("p50 ms", "p50_ms"), ("p99 ms", "p99_ms"), ("max ms", "max_ms"),
                                    ("msgs/s", "rate"), ("load-generator send lateness p99 ms", "send_late_p99_ms"))]
        rows.append(("p99 during ÷ p99 before", {s: val("storm-impact", s, lambda r: r["during"]["p99_ms"]
                                                        / r["before"]["p99_ms"]) for s in servers}))
        nn = "{:,}".format(cfg["impact_n"])
        rows.append(("storm N=%s: all answered after s" % nn,
                     {s: val("storm-impact", s, lambda r: r["storm"]["all_answered_s"]
                             if r["storm"]["all_answered_s"] is not None
                             else "%d/%d" % (r["storm"]["answered"], r["storm"]["n"])) for s in servers}))
        rows += [("storm N=%s: %s" % (nn, lbl), {s: val("storm-impact", s, fn) for s in servers})
                 for lbl, fn in (("p50 charger done s", lambda r: r["storm"]["p50_s"]),
                                 ("server CPU s", lambda r: r["storm"]["server_cpu_s"]),
                                 ("listen-queue overflows", lambda r: r["storm"]["tcp"].get("ListenOverflows", 0)))]
        L.append(md_table("Connected chargers during a boot storm (storm-impact)",
                          "%d chargers already connected send the session mix at %.0f msgs/s in total (paced as in "
                          "the latency scenario: latency from the scheduled send time, no coordinated omission). "
                          "After %g s warm-up, a %g s window before the storm; then %s new chargers connect at once "
                          "and each sends BootNotification + StatusNotification; \"during\" = sends scheduled from "
                          "the storm's start until its last StatusNotification reply. The storm's load generators "
                          "run at nice 5 on the same core as the measuring one." % (
                              cfg["impact_chargers"], cfg["impact_rate"], cfg["impact_warmup"],
                              cfg["impact_before"], nn), rows, servers))
    if "dashboards" in res and "evedge" in servers:
        r = _cell(res, "dashboards", "evedge")
        L.append("### OCPP latency with %d dashboard clients (evedge only)\n" % cfg["dash_clients"])
        if isinstance(r, dict):
            L.append("%d chargers, %.0f msgs/s session mix, %g s windows on the same server, without then with "
                     "the dashboard websockets connected.\n" % (r["chargers"], r["target_rate"], cfg["dash_window"]))
            L.append("| | without | with | with ÷ without |\n|---|--:|--:|--:|")
            for lbl, k in (("p50 ms", "p50_ms"), ("p99 ms", "p99_ms"), ("max ms", "max_ms"), ("msgs/s", "rate"),
                           ("server CPU µs/msg", "cpu_us_per_msg")):
                a, b = r["without"][k], r["with"][k]
                L.append("| %s | %s | %s | %s |" % (lbl, fmt_num(a), fmt_num(b),
                                                    "%.2f" % (b / a) if a and b is not None else "–"))
            L.append("\nConnecting the dashboards (with no OCPP load running): {:.2f} s until every one had its "
                     "first frame, {:,} bytes in those first frames. During the measured run they received {:,} "
                     "messages ({:.1f} per client per second), {:,} bytes.\n"
                     .format(r["dashboard_first_frame_s"], r["dashboard_first_frame_bytes"], r["dashboard_msgs"],
                             r["dashboard_msgs_per_client_s"], r["dashboard_bytes"]))
        else:
            L.append("%s\n" % (res["dashboards"].get("evedge", {}).get("error")
                               or res["dashboards"].get("evedge", {}).get("skipped") or "not run"))
    if "allocation" in res and "evedge" in servers:
        r = _cell(res, "allocation", "evedge")
        L.append("### Load management: allocation latency (evedge only)\n")
        if isinstance(r, dict):
            L.append("One circuit of 16 A x (N - 1); N - 1 sessions at 16 A; one more StartTransaction makes "
                     "every share fall, so every charger gets a TxProfile and a ChargePointMaxProfile. From the "
                     "StartTransaction's answer to the first and the last SetChargingProfile received "
                     "(load_reaction_time 0, load_increase_interval 0), median of the rounds.\n")
            L.append("| sessions | profiles per round | first profile ms | last profile ms | worst round ms |"
                     "\n|--:|--:|--:|--:|--:|")
            for n, cell in r.items():
                L.append("| {:,} | {:,.0f} | {:.0f} | {:.0f} | {:.0f} |".format(
                    int(n), cell["profiles"], cell["first_ms"], cell["last_ms"], cell["last_ms_max"]))
            L.append("")
        else:
            L.append("%s\n" % (res["allocation"].get("evedge", {}).get("error") or "not run"))
    L.append("### Problems and notes\n")
    L += ["- " + p for p in problems] if problems else ["- none: every request got a valid CALLRESULT."]
    L.append("")
    return "\n".join(L)


def collect_problems(res: dict, servers) -> list[str]:
    out = []
    noise = {}
    for scen, per in res.items():
        if scen == "meta":
            continue
        for s, r in per.items():
            if not isinstance(r, dict):
                continue
            if "error" in r:
                lines = [x.strip() for x in r["error"].splitlines() if x.strip() and x.strip().strip("^~ ")]
                shown = lines if len(lines) <= 6 else lines[:1] + ["…"] + lines[-4:]  # the exception is at the end
                out.append("%s / %s: ERROR %s" % (scen, s, " | ".join(shown)[:1500]))
                continue
            if "skipped" in r:
                if server_base(s) == "evedge" or scen != "dashboards":
                    out.append("%s / %s: skipped (%s)" % (scen, s, r["skipped"]))
                continue
            subs = []
            if scen in ("cpu", "throughput"):
                subs = [(wl, r[wl]) for wl in WORKLOADS if wl in r]
            elif scen == "latency":
                subs = [("%s/s" % k, v) for k, v in r.items() if isinstance(v, dict)]
            elif scen == "dashboards":
                subs = [("without", r.get("without", {})), ("with", r.get("with", {}))]
            elif scen == "storm":
                for n, x in r.items():
                    if x["failed"] or x["callerrors"] or x["timeouts"] or x["bad"]:
                        out.append("storm / %s / N=%s: %d failed, %d CALLERRORs %s, %d timeouts, %d bad replies, "
                                   "connect errors %s" % (s, n, x["failed"], x["callerrors"], x["callerror_detail"],
                                                         x["timeouts"], x["bad"], x["connect_errors"]))
                    if x["boot_status"] and set(x["boot_status"]) != {"Accepted"}:
                        out.append("storm / %s / N=%s: BootNotification status %s" % (s, n, x["boot_status"]))
            elif scen == "storm-impact":
                x = r["storm"]
                if x["failed"] or x["callerrors"] or x["timeouts"] or x["bad"]:
                    out.append("storm-impact / %s: storm: %d failed, %d CALLERRORs %s, %d timeouts, %d bad replies, "
                               "connect errors %s" % (s, x["failed"], x["callerrors"], x["callerror_detail"],
                                                     x["timeouts"], x["bad"], x["connect_errors"]))
                subs = [("connected chargers", r["run"])]
                for w in ("before", "during"):
                    if (r[w].get("send_late_p99_ms") or 0) > 5.0:
                        out.append("storm-impact / %s / %s: load-generator timer lateness p99 %.1f ms (part of the "
                                   "latency is the client's)" % (s, w, r[w]["send_late_p99_ms"]))
            elif scen == "memory":
                for p in r.get("problems", []):
                    out.append("memory / %s: %s" % (s, p))
            if scen == "dashboards" and r.get("dashboard_msgs") == 0:
                out.append("dashboards / %s: the %s dashboard clients received no messages at all during the run "
                           "(is the dashboard feed implemented, or does it need a subscribe message?)"
                           % (s, r.get("dashboards")))
            for lbl, x in subs:
                if not x:
                    continue
                where = "/".join(filter(None, [scen, s, lbl]))
                if x.get("callerrors"):
                    out.append("%s: %d CALLERRORs %s" % (where, x["callerrors"], x["callerror_detail"]))
                if x.get("bad"):
                    out.append("%s: %d bad replies %s" % (where, x["bad"], x["bad_detail"]))
                if x.get("timeouts"):
                    out.append("%s: %d request timeouts" % (where, x["timeouts"]))
                if x.get("closed"):
                    out.append("%s: %d requests hit a closed connection" % (where, x["closed"]))
                if x.get("not_accepted"):
                    out.append("%s: not Accepted: %s" % (where, x["not_accepted"]))
                if x.get("server_calls"):
                    out.append("%s: the server sent CALLs to chargers: %s" % (where, x["server_calls"]))
                if x.get("client_cpu_share", 0) >= 0.9:
                    out.append("%s: load generator core %.0f%% busy: the load generator may be the limit"
                               % (where, 100 * x["client_cpu_share"]))
                sc = x.get("server_core") or {}
                if scen == "throughput" and sc.get("idle", 0) > 0.1:
                    out.append("%s: server core %.0f%% idle at saturation (the load generator or scheduling was "
                               "the limit)" % (where, 100 * sc["idle"]))
                nk = "%s/%s" % (scen, s)
                n = noise.setdefault(nk, {})
                for key, v in (("steal on server core", sc.get("steal", 0)),
                               ("steal on load-generator core", (x.get("client_cores") or {}).get("steal", 0)),
                               ("other work on server core", sc.get("other", 0))):
                    n[key] = max(n.get(key, 0), v)
                n["load-generator timer lateness p99 ms"] = max(n.get("load-generator timer lateness p99 ms", 0),
                                                                x.get("send_late_p99_ms") or 0)
                if x.get("target_rate") and x.get("rate", 0) < 0.95 * x["target_rate"]:
                    out.append("%s: achieved only %.0f of the target %.0f msgs/s: the server is saturated (latency "
                               "then grows with the window; CPU/msg is then the saturation figure)"
                               % (where, x["rate"], x["target_rate"]))
    limits = {"steal on server core": 0.10, "steal on load-generator core": 0.15, "other work on server core": 0.25,
              "load-generator timer lateness p99 ms": 5.0}
    for nk, n in noise.items():
        bad = ["%s %s" % (k, ("%.0f%%" % (100 * v)) if not k.endswith("ms") else "%.1f" % v)
               for k, v in n.items() if v > limits[k]]
        if bad:
            out.append("noise in %s (worst window): %s" % (nk, ", ".join(bad)))
    return out


def median_merge(items: list):
    """Element-wise median of several results of the same shape (numbers: median; dicts: recurse)."""
    first = items[0]
    if isinstance(first, bool) or first is None:
        return first
    if all(isinstance(x, int) and not isinstance(x, bool) for x in items):
        return statistics.median_low(items)  # counts stay integers
    if isinstance(first, (int, float)) and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in items):
        return statistics.median(items)
    if isinstance(first, dict) and all(isinstance(x, dict) for x in items):
        return {k: median_merge([x[k] for x in items if k in x]) for k in first}
    return first


def aggregate(results: list[dict]) -> dict:
    good = [r for r in results if isinstance(r, dict) and "error" not in r and "skipped" not in r]
    if not good:
        return results[0]
    return median_merge(good) if len(good) > 1 else good[0]


def _jsonable(o):
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in o.items() if k != "lat"}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v) for v in o]
    if hasattr(o, "tolist"):
        return None
    return o


# --------------------------------------------------------------------------------------------------------


def evedge_available(root: Path) -> tuple[bool, str]:
    main = root / "evedge" / "__main__.py"
    if not main.exists():
        return False, "%s does not exist (evedge not written yet)" % main
    return True, ""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--servers", default="floor,library,evedge")
    ap.add_argument("--scenarios", default=",".join(ALL_SCENARIOS))
    ap.add_argument("--quick", action="store_true", help="reduced run (~2 min): smaller N, shorter windows")
    ap.add_argument("--out", default=str(BENCH_DIR / "results" / "latest.md"))
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--python", default=sys.executable, help="interpreter for the servers (default: this one)")
    ap.add_argument("--evedge-root", default=str(BENCH_DIR.parent), help="directory containing the evedge package")
    ap.add_argument("--evedge-python", default="",
                    help="interpreter for evedge (default: <evedge-root>/.venv/bin/python if it exists, else --python)")
    ap.add_argument("--server-cpu", type=int, default=0, help="core for the server (-1: no pinning)")
    ap.add_argument("--client-cpus", default="", help="cores for load generators (default: all but the server's)")
    ap.add_argument("--procs", type=int, default=2, help="load-generator processes (more for >5000 chargers)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run every scenario N times (servers interleaved in each round) and report the median")
    ap.add_argument("--connect-concurrency", type=int, default=200)
    ap.add_argument("--request-timeout", type=float, default=30.0)
    ap.add_argument("--start-timeout", type=float, default=60.0)
    ap.add_argument("--storm-ns", default="", help="override storm sizes, e.g. 1000,10000")
    ap.add_argument("--mem-ns", default="", help="override memory sizes, e.g. 1000,10000")
    ap.add_argument("--lat-rates", default="", help="override latency rates (msgs/s), e.g. 300,1000")
    ap.add_argument("--session-k", type=int, default=0, help="MeterValues per session (default 6)")
    opts = ap.parse_args(argv)

    servers = [s.strip() for s in opts.servers.split(",") if s.strip()]
    scenarios = [s.strip() for s in opts.scenarios.split(",") if s.strip()]
    for s in servers:
        if server_base(s) not in ALL_SERVERS:
            ap.error("unknown server %r (choose from %s)" % (s, ",".join(ALL_SERVERS)))
        try:
            server_settings(s)
        except ValueError as e:
            ap.error(str(e))
    for s in scenarios:
        if s not in ALL_SCENARIOS:
            ap.error("unknown scenario %r (choose from %s)" % (s, ",".join(ALL_SCENARIOS)))
    cfg = dict(QUICK if opts.quick else FULL)
    if opts.storm_ns:
        cfg["storm_ns"] = tuple(int(x) for x in opts.storm_ns.split(","))
    if opts.mem_ns:
        cfg["mem_ns"] = tuple(int(x) for x in opts.mem_ns.split(","))
    if opts.lat_rates:
        cfg["lat_rates"] = tuple(float(x) for x in opts.lat_rates.split(","))
    if opts.session_k:
        cfg["session_k"] = opts.session_k

    ncpu = os.cpu_count() or 1
    if opts.server_cpu < 0 or ncpu < 2:
        opts.server_cpu = None
        opts.client_cpus = None
    else:
        cc = [int(x) for x in opts.client_cpus.split(",") if x.strip()]
        opts.client_cpus = cc or [c for c in sorted(os.sched_getaffinity(0)) if c != opts.server_cpu] or None
        os.sched_setaffinity(0, set(opts.client_cpus))
    opts.evedge_root = Path(opts.evedge_root).resolve()
    if not opts.evedge_python:
        venv_py = opts.evedge_root / ".venv" / "bin" / "python"
        opts.evedge_python = str(venv_py) if venv_py.exists() else opts.python
    nofile = raise_nofile_limit()
    need = max(list(cfg["storm_ns"]) + list(cfg["mem_ns"]) + [cfg["impact_n"]]) + 400
    if nofile < need:
        log("WARNING: open-file limit %d < %d needed for the largest run; raise the hard limit (ulimit -Hn)"
            % (nofile, need))
    out_md = Path(opts.out)
    out_md.parent.mkdir(parents=True, exist_ok=True)
    opts.logdir = tempfile.mkdtemp(prefix="evedge-bench-logs-")
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)

    skipped = {}
    if any(server_base(s) == "evedge" for s in servers):
        ok, why = evedge_available(opts.evedge_root)
        if not ok:
            log("evedge: SKIPPED: " + why)
            skipped.update({s: why for s in servers if server_base(s) == "evedge"})
    active = [s for s in servers if s not in skipped]
    if not active:
        log("nothing to run")
        return 2

    import tornado
    import websockets
    cpu_model = ""
    try:
        cpu_model = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        from importlib.metadata import version
        ocpp_v = version("ocpp")
    except Exception:
        ocpp_v = "?"
    res = {"meta": {"date": dt.datetime.now().strftime("%Y-%m-%d %H:%M"), "quick": opts.quick, "cfg": cfg,
                    "servers": servers, "scenarios": scenarios, "ncpu": ncpu, "cpu_model": cpu_model,
                    "kernel": platform.release(), "python": platform.python_version(),
                    "versions": {"tornado": tornado.version, "ocpp": ocpp_v, "websockets": websockets.__version__},
                    "evedge_python": opts.evedge_python, "server_cpu": opts.server_cpu, "client_cpus": opts.client_cpus, "procs": opts.procs,
                    "servers_note": "servers " + ", ".join(active) + (
                        " (skipped: %s)" % ", ".join(skipped) if skipped else ""),
                    "logdir": opts.logdir}}
    log("servers %s, scenarios %s, %s mode; server logs in %s" % (",".join(active), ",".join(scenarios),
                                                                   "quick" if opts.quick else "full", opts.logdir))
    ctx = Ctx(opts, cfg)
    broken = dict(skipped)
    t_start = monotonic()
    nrep = max(1, opts.repeat)
    runs = [{} for _ in range(nrep)]
    try:
        for scen in scenarios:
            for rep in range(nrep):
                run = runs[rep].setdefault(scen, {})
                log("scenario %s%s" % (scen, " (round %d of %d)" % (rep + 1, nrep) if nrep > 1 else ""))
                for s in servers:
                    if s in broken:
                        run[s] = {"skipped": broken[s]}
                        continue
                    if scen == "dashboards" and server_base(s) != "evedge":
                        run[s] = {"skipped": "dashboards are an evedge feature"}
                        continue
                    try:
                        run[s] = SCENARIOS[scen](ctx, s)
                    except ServerStartError as e:
                        log("%s: server failed to start: %s" % (s, e))
                        run[s] = {"error": "server failed to start: %s" % e}
                        broken[s] = "failed to start earlier in this run"
                    except Exception as e:
                        log("%s/%s failed: %s\n%s" % (scen, s, e, traceback.format_exc()))
                        run[s] = {"error": "%s: %s" % (type(e).__name__, e)}
                    finally:
                        _cleanup()
    except KeyboardInterrupt:
        log("interrupted: writing partial results")
    finally:
        _cleanup()
    for scen in scenarios:
        per = [r[scen] for r in runs if scen in r]
        if per:
            res[scen] = {s: aggregate([p[s] for p in per if s in p]) for s in servers if any(s in p for p in per)}
    res["meta"]["elapsed_s"] = monotonic() - t_start
    res["meta"]["repeat"] = nrep
    if nrep > 1:
        res["runs"] = runs
        problems = []
        for i, r in enumerate(runs):
            problems += ["[round %d/%d] %s" % (i + 1, nrep, p) for p in collect_problems(r, servers)]
    else:
        problems = collect_problems(res, servers)
    report = build_report(res, [s for s in servers], opts, cfg, problems)
    report += "\n_Total run time %.0f s. Server logs: %s_\n" % (res["meta"]["elapsed_s"], opts.logdir)
    print(report)
    out_md.write_text(report)
    out_json = out_md.with_suffix(".json")
    out_json.write_text(json.dumps(_jsonable(res), indent=1, default=str))
    log("wrote %s and %s" % (out_md, out_json))
    return 0


if __name__ == "__main__":
    sys.exit(main())
