#!/usr/bin/env python3
"""Daemon figures for the issue, measured on the release binary with the bundled demo.

    cargo build --release
    python3 benches/daemon_figures.py [--bin PATH] [--seconds 60] [--ready-runs 7]

1. READY: wall time from exec to the `READY` log line and the daemon's own `ready_ms`, page
   cache warm (median of --ready-runs) and once cold (every file it opens evicted first with
   posix_fadvise(DONTNEED); drop_caches is tried as well and reported if refused).
2. CPU and memory at real time: `hark run` on the demo at realtime=true with MQTT off for
   --seconds; CPU % of one core from /proc/PID/stat utime+stime (after the first 5 s, so
   loading is excluded; the whole run is reported too) and from the threads' schedstat run
   times (nanoseconds, not tick-sampled), per-thread CPU, context switches, VmRSS sampled every
   0.5 s, VmHWM, RssAnon/RssFile, and the size of the GloVe mapping and how much of it is
   resident (from /proc/PID/smaps).
   GloVe store open alone, cold and warm, from the store's own debug line (`micros`).
3. Track end to PUBACK on loopback: mosquitto on a free 127.0.0.1 port, the whole demo at
   real time with MQTT on and debug logs for hark::mqtt, plus a raw-socket MQTT subscriber
   on {prefix}/{device}/track. For each track: the session's own publish->PUBACK round trip
   (`rtt_us` of the `PUBACK` debug line), track message handed to the publisher ("track
   stored in outbox") -> PUBACK, the track's audio end (its `ended_at`, wall clock) ->
   PUBACK, and -> subscriber receipt.
Targets (issue): < 1 % of one core at real time; RSS < 40 MB with the full GloVe pack mapped;
READY < 0.5 s.
"""
import argparse
import datetime as dt
import json
import os
import re
import select
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
DEMO = ROOT / "models/demo/demo.ogg"
OPENED_FILES = [
    ROOT / "models/default/audio.onnx",
    ROOT / "models/default/word.onnx",
    ROOT / "models/default/model.toml",
    ROOT / "models/glove/glove-6b-50d.hgv",
    ROOT / "models/vocabulary.txt",
    DEMO,
]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def default_bin():
    target = os.environ.get("CARGO_TARGET_DIR", str(ROOT / "target"))
    return str(Path(target) / "release/hark")


def write_config(path, state_dir, realtime=True, repeat=False, mqtt_port=None, device="figures",
                 extra=""):
    lines = [
        "[source]",
        'kind = "file"',
        f'file = "{DEMO}"',
        f"realtime = {'true' if realtime else 'false'}",
        f"repeat = {'true' if repeat else 'false'}",
        "[model]",
        "watch_vocabulary = true",
        "[daemon]",
        f'state_dir = "{state_dir}"',
        "print_tracks = true",
        "exit_at_end = true",
        "[mqtt]",
        f'device = "{device}"',
    ]
    if mqtt_port:
        lines += ['host = "127.0.0.1"', f"port = {mqtt_port}"]
    Path(path).write_text("\n".join(lines) + "\n" + extra)


# The realtime figures run twice in one go, so the cost of the history writer and the web
# server shows as a difference measured on the same machine at the same time.
VARIANTS = {
    "history_and_web_off": "[history]\nenabled = false\n",
    "history_and_web_on": "[history]\nenabled = true\n[web]\nenabled = true\nlisten = \"127.0.0.1:{port}\"\n",
}


def env_for(log):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARK_")}
    env["RUST_LOG"] = log
    return env


def proc_cpu_s(pid):
    """utime + stime of the whole process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # fields[0] is state (field 3); utime is field 14, stime 15 (1-based) -> 11, 12 here.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def thread_cpu(pid):
    """Per thread: seconds on CPU from schedstat (nanosecond run time, not tick-sampled)."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            out[f"{name}[{task.name}]"] = int((task / "schedstat").read_text().split()[0]) / 1e9
        except OSError:
            pass
    return out


def wakeups(pid):
    """Voluntary + involuntary context switches of all threads."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            for line in (task / "status").read_text().splitlines():
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def status_kb(pid):
    vals = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem", "VmSize", "Threads"):
            vals[key] = int(rest.split()[0])
    return vals


def glove_mapping(pid):
    """(size kB, Rss kB) of the GloVe pack's mapping, from smaps."""
    size = rss = 0
    inside = False
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
            inside = line.endswith(".hgv")
        elif inside and line.startswith("Size:"):
            size += int(line.split()[1])
        elif inside and line.startswith("Rss:"):
            rss += int(line.split()[1])
    return size, rss


class LineReader(threading.Thread):
    """Collects a pipe's lines with their arrival time (monotonic and wall clock)."""

    def __init__(self, stream, watch=None):
        super().__init__(daemon=True)
        self.stream = stream
        self.lines = []
        self.watch = watch
        self.seen = threading.Event()
        self.seen_at = None

    def run(self):
        for raw in self.stream:
            line = ANSI.sub("", raw.decode("utf-8", "replace").rstrip("\n"))
            now = time.monotonic()
            self.lines.append((now, time.time(), line))
            if self.watch and not self.seen.is_set() and self.watch in line:
                self.seen_at = now
                self.seen.set()


DROP_CACHES = False


def evict(paths):
    """Drops the files' pages from the page cache; returns what was done. System-wide
    drop_caches only with --drop-caches (it slows everything else on a shared machine)."""
    done = []
    if DROP_CACHES:
        try:
            subprocess.run(["sync"], check=False)
            Path("/proc/sys/vm/drop_caches").write_text("3\n")
            done.append("drop_caches=3")
        except OSError as e:
            done.append(f"drop_caches refused ({e.strerror})")
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    done.append("posix_fadvise(DONTNEED) on model, GloVe, vocabulary and demo files")
    return done


def resident_fraction(path):
    """Fraction of a file's pages in the page cache (mincore through mmap via ctypes)."""
    import ctypes
    import mmap

    size = os.path.getsize(path)
    if size == 0:
        return 1.0
    libc = ctypes.CDLL(None, use_errno=True)
    page = mmap.PAGESIZE
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
    fd = os.open(path, os.O_RDONLY)
    try:
        addr = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        pages = (size + page - 1) // page
        vec = ctypes.create_string_buffer(pages)
        if libc.mincore(ctypes.c_void_p(addr), size, vec) != 0:
            return float("nan")
        resident = sum(b & 1 for b in vec.raw)
        libc.munmap(ctypes.c_void_p(addr), size)
        return resident / pages
    finally:
        os.close(fd)


def ready_once(binary, cfg, cold):
    evicted = None
    if cold:
        evicted = evict(OPENED_FILES)
        cached = {p.name: round(resident_fraction(p), 3) for p in OPENED_FILES}
    t0 = time.monotonic()
    p = subprocess.Popen([binary, "run", "--config", cfg], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, env=env_for("info"))
    reader = LineReader(p.stderr, watch=" READY")
    reader.start()
    ok = reader.seen.wait(30)
    wall_ms = (reader.seen_at - t0) * 1e3 if ok else float("nan")
    p.send_signal(signal.SIGTERM)
    p.wait(30)
    reader.join(5)
    ready_ms = load_ms = float("nan")
    for _, _, line in reader.lines:
        m = re.search(r"ready_ms=(\d+)", line)
        if m:
            ready_ms = float(m.group(1))
        m = re.search(r"load_ms=(\d+)", line)
        if m:
            load_ms = float(m.group(1))
    result = {"exec_to_READY_ms": round(wall_ms, 1), "ready_ms": ready_ms, "load_ms": load_ms}
    if cold:
        result["eviction"] = evicted
        result["page_cache_fraction_before_start"] = cached
    return result


def figures_ready(binary, runs, work):
    cfg = work / "ready.toml"
    write_config(cfg, work / "state-ready", realtime=True)
    cold = ready_once(binary, str(cfg), cold=True)
    warm = [ready_once(binary, str(cfg), cold=False) for _ in range(runs)]
    return {
        "cold_once": cold,
        "warm_runs": runs,
        "warm_median_exec_to_READY_ms": statistics.median(r["exec_to_READY_ms"] for r in warm),
        "warm_median_ready_ms": statistics.median(r["ready_ms"] for r in warm),
        "warm_median_load_ms": statistics.median(r["load_ms"] for r in warm),
        "warm_all_exec_to_READY_ms": [r["exec_to_READY_ms"] for r in warm],
    }


def figures_glove_open(binary, runs, work):
    """GloVe store open, cold (pack evicted with posix_fadvise) and warm: the `micros` of the
    store's own "opened GloVe store" debug line, from `hark vocab check` on a one-word file."""
    glove = ROOT / "models/glove/glove-6b-50d.hgv"
    vocab = work / "one.txt"
    vocab.write_text("jazz\n")
    result = {}
    for kind in ("cold", "warm"):
        micros = []
        for _ in range(runs):
            if kind == "cold":
                evict([glove])
            out = subprocess.run([binary, "vocab", "check", str(vocab), "--glove", str(glove)],
                                 capture_output=True, env=env_for("warn,hark::vocab=debug"))
            text = ANSI.sub("", out.stderr.decode("utf-8", "replace"))
            m = re.search(r"opened GloVe store.*?micros=(\d+)|micros=(\d+).*?opened GloVe store", text)
            if not m:
                sys.exit("no `opened GloVe store` debug line:\n" + text)
            micros.append(int(m.group(1) or m.group(2)))
        result[f"{kind}_median_ms"] = statistics.median(micros) / 1e3
        result[f"{kind}_all_ms"] = [x / 1e3 for x in micros]
    result["eviction"] = "posix_fadvise(DONTNEED) on the pack before each cold run" + (
        " and drop_caches=3" if DROP_CACHES else "")
    return result


def figures_realtime(binary, seconds, work, extra=""):
    cfg = work / "realtime.toml"
    write_config(cfg, work / "state-rt", realtime=True, repeat=True, extra=extra)
    t0 = time.monotonic()
    p = subprocess.Popen([binary, "run", "--config", str(cfg)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env_for("info"))
    err = LineReader(p.stderr, watch=" READY")
    out = LineReader(p.stdout)
    err.start()
    out.start()
    if not err.seen.wait(30):
        p.kill()
        sys.exit("daemon never logged READY:\n" + "\n".join(l for _, _, l in err.lines))
    warmup = 5.0
    time.sleep(warmup)
    c0, w0 = proc_cpu_s(p.pid), time.monotonic()
    th0 = thread_cpu(p.pid)
    cs0 = wakeups(p.pid)
    rss = []
    end = w0 + seconds
    while time.monotonic() < end:
        s = status_kb(p.pid)
        rss.append(s["VmRSS"])
        time.sleep(0.5)
    c1, w1 = proc_cpu_s(p.pid), time.monotonic()
    th1 = thread_cpu(p.pid)
    cs1 = wakeups(p.pid)
    final = status_kb(p.pid)
    gsize, grss = glove_mapping(p.pid)
    p.send_signal(signal.SIGTERM)
    p.wait(30)
    err.join(5)
    out.join(5)
    per_thread = {k: round((th1.get(k, 0) - th0.get(k, 0)) / (w1 - w0) * 100, 3) for k in th1}
    return {
        "measured_s": round(w1 - w0, 1),
        "cpu_percent_of_one_core": round((c1 - c0) / (w1 - w0) * 100, 3),
        "cpu_s_in_window": round(c1 - c0, 2),
        "clock_tick_s": 1 / CLK_TCK,
        "cpu_percent_whole_run_incl_load": round(c1 / (w1 - t0) * 100, 3),
        "cpu_percent_of_one_core_schedstat": round(
            (sum(th1.values()) - sum(th0.get(k, 0) for k in th1)) / (w1 - w0) * 100, 3),
        "per_thread_cpu_percent_schedstat": per_thread,
        "context_switches_per_s": round((cs1 - cs0) / (w1 - w0), 1),
        "VmRSS_kB_median": statistics.median(rss),
        "VmRSS_kB_max": max(rss),
        "VmHWM_kB": final["VmHWM"],
        "RssAnon_kB": final["RssAnon"],
        "RssFile_kB": final["RssFile"],
        "VmSize_kB": final["VmSize"],
        "threads": final["Threads"],
        "glove_mapping_kB": gsize,
        "glove_mapping_resident_kB": grss,
        "tracks_printed": sum(1 for _, _, l in out.lines if l.startswith("{")),
    }


# --- a minimal MQTT 3.1.1 subscriber (QoS 0), enough to timestamp deliveries -------------

def mqtt_str(s):
    b = s.encode()
    return struct.pack(">H", len(b)) + b


def mqtt_packet(kind, body):
    out = bytes([kind])
    n = len(body)
    while True:
        byte = n % 128
        n //= 128
        out += bytes([byte | (0x80 if n else 0)])
        if not n:
            break
    return out + body


class Subscriber(threading.Thread):
    def __init__(self, port, topic):
        super().__init__(daemon=True)
        self.sock = socket.create_connection(("127.0.0.1", port))
        # Keep-alive 0: this subscriber never pings, and the broker must not drop it.
        connect = mqtt_str("MQTT") + bytes([4, 0x02]) + struct.pack(">H", 0) + mqtt_str("figures-sub")
        self.sock.sendall(mqtt_packet(0x10, connect))
        self.sock.sendall(mqtt_packet(0x82, struct.pack(">H", 1) + mqtt_str(topic) + bytes([0])))
        self.received = []
        self.stop = False

    def read_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    def run(self):
        try:
            while not self.stop:
                r, _, _ = select.select([self.sock], [], [], 0.5)
                if not r:
                    continue
                head = self.read_exact(1)[0]
                mult, length = 1, 0
                while True:
                    b = self.read_exact(1)[0]
                    length += (b & 0x7F) * mult
                    mult *= 128
                    if not b & 0x80:
                        break
                body = self.read_exact(length)
                if head >> 4 == 3:
                    now = time.time()
                    tlen = struct.unpack(">H", body[:2])[0]
                    payload = body[2 + tlen + (2 if (head >> 1) & 3 else 0):]
                    self.received.append((now, json.loads(payload)))
        except (EOFError, OSError):
            pass


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def log_time(line):
    m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z", line)
    if not m:
        return None
    stamp = m.group(1)
    whole, frac = stamp.split(".")
    t = dt.datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.timezone.utc)
    return t.timestamp() + float("0." + frac)


def iso_time(s):
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def figures_puback(binary, work):
    port = free_port()
    broker_dir = work / "broker"
    broker_dir.mkdir(exist_ok=True)
    conf = broker_dir / "mosquitto.conf"
    conf.write_text(
        f"per_listener_settings false\nuser root\nallow_anonymous true\n"
        f"log_dest file {broker_dir / 'mosquitto.log'}\nlistener {port} 127.0.0.1\n"
    )
    broker = subprocess.Popen(["/usr/sbin/mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    sys.exit("mosquitto did not start")
                time.sleep(0.05)
        sub = Subscriber(port, "hark/figures/track")
        sub.start()
        cfg = work / "puback.toml"
        write_config(cfg, work / "state-mqtt", realtime=True, mqtt_port=port)
        p = subprocess.Popen([binary, "run", "--config", str(cfg)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env_for("info,hark::mqtt=debug"))
        err = LineReader(p.stderr)
        out = LineReader(p.stdout)
        err.start()
        out.start()
        p.wait(400)
        err.join(5)
        out.join(5)
        time.sleep(0.5)
        sub.stop = True
        sub.join(2)
    finally:
        broker.terminate()
        broker.wait(10)

    tracks = {}
    for _, wall, line in out.lines:
        if line.startswith("{"):
            msg = json.loads(line)
            tracks[msg["id"]] = {"ended_at": iso_time(msg["ended_at"]), "printed_at": wall,
                                 "boundary": msg["boundary"], "stream_end_s": msg["stream_end_s"]}
    for _, _, line in err.lines:
        m = re.search(r"id=\"?([0-9a-f-]{36})", line)
        if not m or m.group(1) not in tracks:
            continue
        t = tracks[m.group(1)]
        if "track stored in outbox" in line:
            t["stored_at"] = log_time(line)
        elif "PUBACK" in line:
            t["puback_at"] = log_time(line)
            rtt = re.search(r"rtt_us=(\d+)", line)
            t["rtt_us"] = int(rtt.group(1)) if rtt else None
    for when, msg in sub.received:
        if msg.get("id") in tracks:
            tracks[msg["id"]]["subscriber_at"] = when
    rows = []
    for tid, t in tracks.items():
        row = {"boundary": t["boundary"], "stream_end_s": t["stream_end_s"]}
        if "puback_at" in t:
            row["publish_to_puback_ms (rtt_us)"] = t["rtt_us"] / 1e3 if t["rtt_us"] else None
            if "stored_at" in t:
                row["stored_to_puback_ms"] = round((t["puback_at"] - t["stored_at"]) * 1e3, 3)
            row["audio_end_to_puback_ms"] = round((t["puback_at"] - t["ended_at"]) * 1e3, 1)
        if "subscriber_at" in t:
            row["audio_end_to_subscriber_ms"] = round((t["subscriber_at"] - t["ended_at"]) * 1e3, 1)
        rows.append(row)
    return {"broker_port": port, "daemon_exit": p.returncode, "tracks": rows,
            "subscriber_messages": len(sub.received)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=default_bin())
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--ready-runs", type=int, default=7)
    ap.add_argument("--skip", default="", help="comma list of ready,glove,realtime,puback")
    ap.add_argument("--drop-caches", action="store_true",
                    help="also write 3 to /proc/sys/vm/drop_caches before the cold start")
    args = ap.parse_args()
    global DROP_CACHES
    DROP_CACHES = args.drop_caches
    if not os.access(args.bin, os.X_OK):
        sys.exit(f"{args.bin}: no release binary; run `cargo build --release` first")
    skip = set(filter(None, args.skip.split(",")))
    report = {"binary": args.bin, "loadavg_at_start": Path("/proc/loadavg").read_text().split()[:3],
              "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="hark-figures-") as tmp:
        work = Path(tmp)
        if "ready" not in skip:
            report["ready"] = figures_ready(args.bin, args.ready_runs, work)
            print(json.dumps({"ready": report["ready"]}, indent=1), flush=True)
        if "glove" not in skip:
            report["glove_open"] = figures_glove_open(args.bin, 5, work)
            print(json.dumps({"glove_open": report["glove_open"]}, indent=1), flush=True)
        if "realtime" not in skip:
            for name, extra in VARIANTS.items():
                extra = extra.replace("{port}", str(free_port()))
                report[f"realtime_{name}"] = figures_realtime(args.bin, args.seconds, work, extra)
                print(json.dumps({f"realtime_{name}": report[f"realtime_{name}"]}, indent=1),
                      flush=True)
        if "puback" not in skip:
            report["puback"] = figures_puback(args.bin, work)
            print(json.dumps({"puback": report["puback"]}, indent=1), flush=True)
    report["loadavg_at_end"] = Path("/proc/loadavg").read_text().split()[:3]
    print(json.dumps({"loadavg": [report["loadavg_at_start"], report["loadavg_at_end"]]}))


if __name__ == "__main__":
    main()
