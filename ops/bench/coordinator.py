#!/usr/bin/env python3
"""The coordinator at fleet size: 1 000 000 users on 200 pairs in PostgreSQL.

One run, on a private PostgreSQL this script starts and a release build of `duplex`:

  assign   200 pairs (capacities summing to 1.25 x the users) and a few tenants made over
           the API, then users assigned with `POST /v1/users` by N concurrent keep-alive HTTPS
           clients (closed loop): assigns per second and their latency. When the HTTP assigns
           have not reached every user within --assign-budget seconds, the rest is loaded in
           bulk with SQL COPY, placed as the coordinator places them (the least loaded pair;
           preferred host from the user's name); the output says how many went which way.
           Then every user gets a status report from each host of its pair, as agents push
           them (a few failed), and the database is vacuumed and analyzed.
  route    `GET /v1/users/{user}/route` of random existing users: the most per second
           (closed loop), then open loop at a fixed --rate (default 10 000/s) for --duration
           seconds, each request due at its time whatever the answers do and its latency
           counted from then (a stall shows in the percentiles). The same lookups straight in
           SQL on the duplex_user_route view, as a Dovecot proxy's passdb makes them (pgbench,
           simple protocol, also at --rate and at most), and EXPLAIN ANALYZE of that query.
  status   `duplex status --json` and `duplex status` (the table), --status-runs times each,
           the median wall time.

The load is made by ops/bench/coordinator_load.c (built here with cc and OpenSSL): one
thread, epoll, TLS checked against the run's CA. The figures are printed as a table and,
with --json FILE, written as JSON. The machine's load (uptime) is printed with each phase;
the benchmark shares the machine's cores with PostgreSQL and the coordinator.

Needs: root (PostgreSQL runs as the postgres account), PostgreSQL's server binaries
(initdb, pg_ctl, pgbench), psql, cc and OpenSSL's headers (libssl-dev), and a release
build of duplex (built when --binary is not given and .build/release/duplex is missing).

Usage: sudo python3 ops/bench/coordinator.py [--users 1000000] [--pairs 200] [--json FILE]
"""

import argparse
import heapq
import http.client
import json
import os
import pwd
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SERVER_NAME = "127.0.0.1"


def log(message):
    print(message, flush=True)


def load_average():
    with open("/proc/loadavg") as fh:
        return " ".join(fh.read().split()[:3])


def user_name(index, tenants):
    """User `index` as coordinator_load.c names it."""
    return "u%07d@t%d.example.com" % (index, index % tenants)


def preferred_side(name):
    """The pair's host a user prefers: HostSide.preferred(for:), FNV-1a of the name's UTF-8."""
    value = 0xCBF29CE484222325
    for byte in name.encode():
        value ^= byte
        value = (value * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return "a" if value & 1 == 0 else "b"


def run(command, **kwargs):
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        sys.exit("%s exited %d:\n%s%s" % (" ".join(command), result.returncode, result.stdout, result.stderr))
    return result.stdout


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100.0 * len(ordered)))] if ordered else 0.0


class Postgres:
    """A private PostgreSQL server: initdb into a temporary directory, Unix socket only."""

    def __init__(self, directory, shared_buffers, reuse=False):
        self.directory = directory
        self.data = os.path.join(directory, "data")
        self.bin = self.find_binaries()
        self.account = pwd.getpwnam("postgres")
        if not reuse:
            os.makedirs(directory, mode=0o700)
            os.chown(directory, self.account.pw_uid, self.account.pw_gid)
            self.as_postgres([self.bin + "/initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "-E", "UTF8",
                              "--no-instructions"])
        # Durability as in production (fsync and synchronous commit on); memory modest.
        options = " ".join([
            "-c listen_addresses=''", "-k %s" % directory, "-c max_connections=200",
            "-c shared_buffers=%s" % shared_buffers, "-c effective_cache_size=1GB", "-c work_mem=16MB",
            "-c maintenance_work_mem=256MB", "-c max_wal_size=4GB", "-c checkpoint_timeout=15min",
        ])
        self.as_postgres([self.bin + "/pg_ctl", "-D", self.data, "-o", options, "-l", directory + "/server.log",
                          "-w", "-t", "120", "start"])
        self.running = True
        if not reuse:
            self.as_postgres([self.bin + "/createuser", "-h", directory, "-U", "postgres", "duplex"])
            self.as_postgres([self.bin + "/createdb", "-h", directory, "-U", "postgres", "-O", "duplex", "duplex"])

    @staticmethod
    def find_binaries():
        root = "/usr/lib/postgresql"
        versions = sorted((v for v in os.listdir(root) if v.isdigit()), key=int, reverse=True) if os.path.isdir(root) else []
        for version in versions:
            path = os.path.join(root, version, "bin")
            if os.access(path + "/initdb", os.X_OK) and os.access(path + "/pgbench", os.X_OK):
                return path
        sys.exit("PostgreSQL's initdb and pgbench were not found under /usr/lib/postgresql/*/bin")

    def as_postgres(self, command, **kwargs):
        return run(["runuser", "-u", "postgres", "--"] + command, cwd=self.directory, **kwargs)

    def psql(self, sql, stdin=None, single_transaction=True):
        command = ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", self.directory, "-U", "duplex", "-d",
                   "duplex"]
        if single_transaction:
            command.append("-1")
        path = os.path.join(self.directory, "script.sql")
        with open(path, "w") as fh:
            fh.write(sql)
        command += ["-f", path]
        result = subprocess.run(command, input=stdin, capture_output=True, text=True)
        if result.returncode != 0:
            sys.exit("psql failed:\n%s" % result.stderr)
        return result.stdout

    def stop(self):
        if self.running:
            self.as_postgres([self.bin + "/pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop"])
            self.running = False


class Coordinator:
    """`duplex coordinator serve` on 127.0.0.1 (a free port) over the private PostgreSQL."""

    def __init__(self, binary, directory, postgres, pool_size, log_level):
        self.binary = binary
        self.directory = directory
        tls = os.path.join(directory, "tls")
        if not os.path.exists(os.path.join(tls, "ca.pem")):
            run([binary, "tls", "init", "--out", tls, "--hosts", SERVER_NAME])
        self.ca = os.path.join(tls, "ca.pem")
        self.config = os.path.join(directory, "coordinator.yaml")
        with open(self.config, "w") as fh:
            fh.write("coordinator:\n  listen: 127.0.0.1:0\n  tls:\n    certificate: %s\n    key: %s\n"
                     "database:\n  url: postgres:///duplex?host=%s\n  pool_size: %d\n"
                     % (os.path.join(tls, SERVER_NAME + ".pem"), os.path.join(tls, SERVER_NAME + ".key"),
                        postgres.directory, pool_size))
        run([binary, "coordinator", "migrate", "--config", self.config])
        created = json.loads(run([binary, "coordinator", "token", "create", "--config", self.config, "--role", "admin",
                                  "--label", "benchmark", "--json"]))
        self.token_file = os.path.join(directory, "admin.token")
        with open(self.token_file, "w") as fh:
            fh.write(created["secret"] + "\n")
        os.chmod(self.token_file, 0o600)
        self.secret = created["secret"]
        environment = dict(os.environ, DUPLEX_LOG_LEVEL=log_level)
        self.log = open(os.path.join(directory, "coordinator.log"), "w")
        self.process = subprocess.Popen([binary, "coordinator", "serve", "--config", self.config], stdout=subprocess.PIPE,
                                        stderr=self.log, text=True, env=environment)
        line = self.process.stdout.readline()
        if not line.startswith("listening on "):
            self.stop()
            sys.exit("the coordinator did not start: %r (log in %s)" % (line, self.log.name))
        self.port = int(line.strip().rsplit(":", 1)[1])
        # Keep reading its standard output so it never blocks on a full pipe.
        threading.Thread(target=self.process.stdout.read, daemon=True).start()
        self.context = ssl.create_default_context(cafile=self.ca)
        self.connection = http.client.HTTPSConnection(SERVER_NAME, self.port, context=self.context, timeout=120)

    def request(self, method, path, body=None):
        headers = {"Authorization": "Bearer " + self.secret}
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        self.connection.request(method, path, body=data, headers=headers)
        response = self.connection.getresponse()
        text = response.read().decode()
        if response.status >= 300:
            sys.exit("%s %s answered %d: %s" % (method, path, response.status, text))
        return json.loads(text) if text else None

    def client_environment(self):
        return dict(os.environ, DUPLEX_COORDINATOR_URL="https://%s:%d" % (SERVER_NAME, self.port),
                    DUPLEX_TOKEN_FILE=self.token_file, DUPLEX_COORDINATOR_CA=self.ca)

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


class LoadGenerator:
    """ops/bench/coordinator_load.c, built once into the run's directory."""

    def __init__(self, directory, coordinator, tenants):
        self.path = os.path.join(directory, "coordinator_load")
        run(["cc", "-O2", "-Wall", "-o", self.path, os.path.join(HERE, "coordinator_load.c"), "-lssl", "-lcrypto"])
        self.common = ["--port", str(coordinator.port), "--ca", coordinator.ca, "--server-name", SERVER_NAME,
                       "--token-file", coordinator.token_file, "--tenants", str(tenants)]

    def run(self, mode, **options):
        command = [self.path, mode] + self.common
        for key, value in options.items():
            command += ["--" + key.replace("_", "-"), str(value)]
        result = json.loads(run(command))
        if result["first_error"]:
            log("  first error: %s" % result["first_error"])
        return result


def make_fleet(coordinator, args):
    capacity = -(-args.users * 5 // 4 // args.pairs)
    for index in range(args.tenants):
        coordinator.request("POST", "/v1/tenants", {"name": "t%d" % index})
    for index in range(args.pairs):
        hosts = {}
        for side in ("a", "b"):
            name = "mail%03d%s.example.net" % (index, side)
            hosts["host_" + side] = {"name": name, "dsync": "tls://%s:7445" % name, "admin": "http://%s:7446" % name}
        coordinator.request("POST", "/v1/pairs", dict(name="p%03d" % index, capacity=capacity, **hosts))
    return capacity


def bulk_load(postgres, first, users, tenants):
    """Users first..users-1 placed as the coordinator would, loaded with COPY in one transaction."""
    rows = postgres.psql("SELECT id, user_count, change_version FROM duplex_pairs ORDER BY id", single_transaction=False)
    pairs = [tuple(int(v) for v in line.split("|")) for line in rows.split()]
    tenant_ids = dict(
        (name, int(tid)) for tid, name in
        (line.split("|") for line in postgres.psql("SELECT id, name FROM duplex_tenants", single_transaction=False).split()))
    # Equal capacities and weights: the least loaded pair is the one with the fewest users.
    heap = [(count, pid) for pid, count, _ in pairs]
    heapq.heapify(heap)
    versions = dict((pid, version) for pid, _, version in pairs)
    lines = []
    for index in range(first, users):
        count, pid = heapq.heappop(heap)
        heapq.heappush(heap, (count + 1, pid))
        versions[pid] += 1
        name = user_name(index, tenants)
        lines.append("%s\t%d\t%d\t%s\t%d\n" % (name, tenant_ids["t%d" % (index % tenants)], pid, preferred_side(name),
                                                versions[pid]))
    postgres.psql(
        """
        CREATE TEMP TABLE staging (name text, tenant_id bigint, pair_id bigint, preferred_host text, version bigint);
        \\copy staging FROM pstdin
        INSERT INTO duplex_users (name, tenant_id, pair_id, preferred_host, state, epoch, version, created_at, updated_at)
            SELECT name, tenant_id, pair_id, preferred_host, 'active', 1, version, now(), now() FROM staging;
        INSERT INTO duplex_user_changes (pair_id, version, user_id)
            SELECT s.pair_id, s.version, u.id FROM staging s JOIN duplex_users u ON u.name = s.name AND u.state <> 'removed';
        UPDATE duplex_pairs p SET user_count = c.n, change_version = c.v
            FROM (SELECT pair_id, count(*) AS n, max(version) AS v FROM duplex_users WHERE state <> 'removed'
                  GROUP BY pair_id) c
            WHERE c.pair_id = p.id;
        """, stdin="".join(lines))


def load_reports(postgres, failed):
    """One report per user and host of its pair, as agents push them: most idle and synced
    minutes ago, some queued, `failed` users failed on one host."""
    postgres.psql(
        """
        INSERT INTO duplex_user_status (user_id, host, pair_id, queued_priority, last_fast_sync, last_full_sync,
            last_success, failed, held, last_error, reported_at)
        SELECT u.id, h.name, u.pair_id,
            CASE WHEN r < 0.97 THEN NULL WHEN r < 0.99 THEN 'low' WHEN r < 0.999 THEN 'high' ELSE 'none' END,
            now() - (r * interval '30 minutes'), now() - (r * interval '24 hours'), now() - (r * interval '30 minutes'),
            false, false, NULL, now()
        FROM (SELECT id, pair_id, random() AS r FROM duplex_users WHERE state <> 'removed') u
        JOIN duplex_hosts h ON h.pair_id = u.pair_id;
        UPDATE duplex_user_status SET failed = true, last_error = 'dsync: the peer cannot be reached'
        WHERE (user_id, host) IN (
            SELECT s.user_id, min(s.host) FROM duplex_user_status s
            WHERE s.user_id IN (SELECT id FROM duplex_users ORDER BY random() LIMIT %d) GROUP BY s.user_id);
        """ % failed)


def sql_lookups(postgres, users, tenants, rate, duration, clients, directory):
    """The proxy's query through pgbench (simple protocol); rate 0 for the most per second."""
    script = os.path.join(directory, "route.sql")
    with open(script, "w") as fh:
        # The query of ops/dovecot/dovecot-sql-duplex.conf.ext, for a random existing user.
        fh.write("\\set i random(0, %d)\n" % (users - 1))
        fh.write("SELECT user_name AS user, host_address AS host, 'Y' AS proxy, NULL AS password, 'Y' AS nopassword "
                 "FROM duplex_user_route WHERE user_name = 'u' || lpad(:i::text, 7, '0') || '@t' || (:i %% %d)::text "
                 "|| '.example.com';\n" % tenants)
    os.chmod(script, 0o644)
    logs = os.path.join(directory, "pgbench-%d" % rate)
    shutil.rmtree(logs, ignore_errors=True)  # a kept run's logs are not this run's
    os.makedirs(logs)
    os.chown(logs, postgres.account.pw_uid, postgres.account.pw_gid)
    command = [postgres.bin + "/pgbench", "-n", "-M", "simple", "-h", postgres.directory, "-U", "duplex", "-c",
               str(clients), "-j", "2", "-T", str(duration), "-f", script, "-l", "--log-prefix", logs + "/tx", "duplex"]
    if rate:
        command += ["-R", str(rate)]
    output = postgres.as_postgres(command)
    latencies = []
    failed = 0
    for name in os.listdir(logs):
        with open(os.path.join(logs, name)) as fh:
            for line in fh:
                fields = line.split()
                # client tx time script epoch us [lag]: time is from the actual start, lag is
                # how late that start was; together, from when the query was due.
                if fields[2] == "failed" or fields[2] == "skipped":
                    failed += 1
                    continue
                latency = int(fields[2]) + (int(fields[6]) if len(fields) > 6 else 0)
                latencies.append(latency / 1000.0)
    achieved = 0.0
    for line in output.splitlines():
        if line.startswith("tps = "):
            achieved = float(line.split()[2])
    return {"per_second": achieved, "counted": len(latencies), "errors": failed,
            "ms": {"mean": statistics.fmean(latencies) if latencies else 0, "p50": percentile(latencies, 50),
                   "p90": percentile(latencies, 90), "p99": percentile(latencies, 99),
                   "p999": percentile(latencies, 99.9), "max": max(latencies, default=0)}}


def time_command(command, environment, runs):
    """The median wall time of `runs` runs; a failed run (a timeout) ends the timing, recorded."""
    times = []
    size = 0
    failure = None
    for _ in range(runs):
        start = time.perf_counter()
        result = subprocess.run(command, capture_output=True, env=environment)
        elapsed = time.perf_counter() - start
        if result.returncode != 0:
            failure = "exit %d after %.1f s: %s" % (result.returncode, elapsed, result.stderr.decode().strip())
            log("  %s: %s" % (" ".join(command[1:]), failure))
            break
        times.append(elapsed)
        size = len(result.stdout)
        log("  %s: %.3f s" % (" ".join(command[1:]), elapsed))
    return {"median_s": statistics.median(times) if times else None, "min_s": min(times, default=None),
            "max_s": max(times, default=None), "runs": len(times), "output_bytes": size, "failure": failure}


def summary(result):
    """One line of a lookup run's figures."""
    return "%.0f/s, p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms%s" % (
        result["per_second"], result["ms"]["p50"], result["ms"]["p99"], result["ms"]["p999"],
        ", %d never sent" % result["unsent"] if result.get("unsent") else "")


def find_binary(path):
    if path:
        return os.path.abspath(path)
    built = os.path.join(ROOT, ".build", "release", "duplex")
    if not os.access(built, os.X_OK):
        log("building duplex (release)...")
        subprocess.run(["swift", "build", "-c", "release", "--product", "duplex"], cwd=ROOT, check=True)
    return built


def print_table(figures, args):
    rows = []
    a = figures.get("assign")
    if a:
        rows.append(("assign over HTTP", "%d users, %d clients" % (a["http_users"], args.assign_conns),
                     "%.0f /s" % a["per_second"], a["ms"]))
    if a and a["bulk_users"]:
        rows.append(("assign by SQL COPY", "%d users" % a["bulk_users"], "%.1f s" % a["bulk_seconds"], None))
    r = figures["route"]
    rows.append(("route HTTP, most", "%d clients, closed loop" % args.route_conns, "%.0f /s" % r["max"]["per_second"],
                 r["max"]["ms"]))
    rows.append(("route HTTP, fixed rate", "%d/s asked, %d s%s" % (
        args.rate, args.duration, ", %d never sent" % r["rate"]["unsent"] if r["rate"]["unsent"] else ""),
                 "%.0f /s" % r["rate"]["per_second"], r["rate"]["ms"]))
    if "low_rate" in r:
        rows.append(("route HTTP, fixed rate", "%d/s asked, %d s" % (args.low_rate, args.duration),
                     "%.0f /s" % r["low_rate"]["per_second"], r["low_rate"]["ms"]))
    s = figures["sql"]
    rows.append(("route SQL view, most", "%d clients, pgbench" % args.sql_clients, "%.0f /s" % s["max"]["per_second"],
                 s["max"]["ms"]))
    rows.append(("route SQL view, fixed rate", "%d/s asked, %d s" % (args.rate, args.duration),
                 "%.0f /s" % s["rate"]["per_second"], s["rate"]["ms"]))
    for key, label in (("json", "duplex status --json"), ("table", "duplex status")):
        t = figures["status"][key]
        figure = "%.3f s" % t["median_s"] if t["median_s"] is not None else "failed"
        rows.append((label, "median of %d%s" % (t["runs"], ", then " + t["failure"][:40] if t["failure"] else ""),
                     figure, None))
    header = ("what", "how", "figure", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms")
    table = [header] + [
        (what, how, figure) + (tuple("%.2f" % ms[k] for k in ("p50", "p90", "p99", "p999", "max")) if ms else ("",) * 5)
        for what, how, figure, ms in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        log("  ".join(cell.ljust(widths[i]) if i < 2 else cell.rjust(widths[i]) for i, cell in enumerate(row)))
    target = r["rate"]["ms"]["p99"] < 5.0 and r["rate"]["per_second"] >= 0.98 * args.rate
    log("target (p99 < 5 ms at %d lookups/s over HTTP): %s" % (args.rate, "met" if target else "MISSED"))


def assign_users(postgres, coordinator, load, figures, args):
    """The fleet made over the API, users assigned over HTTP, the rest by COPY, reports added."""
    capacity = make_fleet(coordinator, args)
    log("%d pairs of capacity %d, %d tenants; coordinator on 127.0.0.1:%d (pool %d, log %s)"
        % (args.pairs, capacity, args.tenants, coordinator.port, args.pool_size, args.log_level))
    figures["load"]["assign"] = load_average()
    log("assigning over HTTP (%d clients, at most %.0f s; load %s)..." % (args.assign_conns, args.assign_budget,
                                                                          figures["load"]["assign"]))
    assign = load.run("assign", first=0, count=args.users, conns=args.assign_conns, budget=args.assign_budget)
    if assign["errors"] or assign["created"] != assign["next"]:
        sys.exit("assigns failed: %s" % json.dumps(assign))
    http_users = assign["next"]
    log("  %d users in %.1f s: %.0f/s, p50 %.2f ms, p99 %.2f ms"
        % (http_users, assign["seconds"], assign["per_second"], assign["ms"]["p50"], assign["ms"]["p99"]))
    bulk_seconds = 0.0
    if http_users < args.users:
        log("loading the other %d users with SQL COPY (the HTTP budget ran out)..." % (args.users - http_users))
        start = time.perf_counter()
        bulk_load(postgres, http_users, args.users, args.tenants)
        bulk_seconds = time.perf_counter() - start
    figures["assign"] = dict(assign, http_users=http_users, bulk_users=args.users - http_users,
                             bulk_seconds=bulk_seconds)
    log("status reports from both hosts of every user (%d failed), then VACUUM ANALYZE..." % args.failed_users)
    load_reports(postgres, args.failed_users)
    postgres.psql("VACUUM ANALYZE", single_transaction=False)


def fleet_from_database(postgres, args):
    """The users, pairs and tenants of a kept run's database."""
    users, pairs, tenants = postgres.psql(
        "SELECT (SELECT count(*) FROM duplex_users WHERE state <> 'removed'), (SELECT count(*) FROM duplex_pairs), "
        "(SELECT count(*) FROM duplex_tenants)", single_transaction=False).strip().split("|")
    args.users, args.pairs, args.tenants = int(users), int(pairs), int(tenants)
    log("reusing %d users on %d pairs, %d tenants" % (args.users, args.pairs, args.tenants))


def check_database(postgres, figures, args):
    """Every user is in the store once, counted on its pair, no pair over its capacity."""
    counts = postgres.psql(
        "SELECT count(*), (SELECT sum(user_count) FROM duplex_pairs), (SELECT count(*) FROM duplex_pairs "
        "WHERE user_count > capacity), (SELECT max(user_count) FROM duplex_pairs), "
        "(SELECT count(*) FROM duplex_user_status) FROM duplex_users WHERE state <> 'removed'",
        single_transaction=False).strip().split("|")
    users, counted, over, fullest, reports = (int(v) for v in counts)
    figures["database"] = {"users": users, "pair_user_counts": counted, "fullest_pair": fullest,
                           "status_reports": reports}
    if users != args.users or counted != args.users or over:
        sys.exit("the store does not hold %d users within capacity: %s" % (args.users, counts))
    log("  %d users, %d reports, fullest pair %d, none over capacity" % (users, reports, fullest))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--tenants", type=int, default=5)
    parser.add_argument("--binary", help="the duplex to run (default .build/release/duplex, built if missing)")
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument("--assign-conns", type=int, default=32, help="concurrent HTTPS clients assigning")
    parser.add_argument("--assign-budget", type=float, default=600,
                        help="seconds of HTTP assigns at most; the users left are loaded with COPY")
    parser.add_argument("--route-conns", type=int, default=64, help="keep-alive HTTPS connections for lookups")
    parser.add_argument("--rate", type=int, default=10_000, help="lookups per second of the fixed-rate runs")
    parser.add_argument("--low-rate", type=int, default=500,
                        help="lookups per second of one more HTTP run, below the most (0: none)")
    parser.add_argument("--duration", type=int, default=30, help="seconds of each fixed-rate run")
    parser.add_argument("--warmup", type=int, default=5, help="seconds of lookups not counted before each run")
    parser.add_argument("--sql-clients", type=int, default=8, help="connections of the SQL lookups (a proxy's pool)")
    parser.add_argument("--failed-users", type=int, default=50, help="users whose last sync failed on one host")
    parser.add_argument("--status-runs", type=int, default=5)
    parser.add_argument("--pool-size", type=int, default=20, help="the coordinator's database.pool_size")
    parser.add_argument("--shared-buffers", default="512MB")
    parser.add_argument("--log-level", default="warning", help="the coordinator's DUPLEX_LOG_LEVEL")
    parser.add_argument("--keep", action="store_true", help="keep the run's directory (database, logs)")
    parser.add_argument("--reuse", metavar="DIR",
                        help="a directory kept by --keep: measure lookups and status again on its database "
                             "(with this --binary, after its migrations) without loading users")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: PostgreSQL is started as the postgres account")
    if args.users < 1 or args.pairs < 1 or args.tenants < 1 or args.users >= 10_000_000:
        sys.exit("--users must be 1-9999999, --pairs and --tenants at least 1")

    binary = find_binary(args.binary)
    if args.reuse:
        directory = os.path.abspath(args.reuse)
        args.keep = True
    else:
        directory = tempfile.mkdtemp(prefix="duplex-coordinator-bench.")
        os.chmod(directory, 0o755)
    figures = {"users": args.users, "pairs": args.pairs, "tenants": args.tenants, "machine": {"cpus": os.cpu_count()},
               "settings": {"pool_size": args.pool_size, "shared_buffers": args.shared_buffers,
                            "log_level": args.log_level}, "load": {}}
    postgres = coordinator = None
    try:
        log("PostgreSQL in %s (shared_buffers %s, fsync and synchronous_commit on)" % (directory, args.shared_buffers))
        postgres = Postgres(os.path.join(directory, "pg"), args.shared_buffers, reuse=bool(args.reuse))
        figures["postgresql"] = postgres.psql("SHOW server_version", single_transaction=False).strip()
        coordinator = Coordinator(binary, directory, postgres, args.pool_size, args.log_level)
        if args.reuse:
            fleet_from_database(postgres, args)
        load = LoadGenerator(directory, coordinator, args.tenants)
        if not args.reuse:
            assign_users(postgres, coordinator, load, figures, args)
        check_database(postgres, figures, args)

        figures["load"]["route"] = load_average()
        log("route lookups over HTTP (load %s)..." % figures["load"]["route"])
        route_max = load.run("route", users=args.users, conns=args.route_conns, duration=max(10, args.duration // 2),
                             warmup=args.warmup)
        route_rate = load.run("route", users=args.users, conns=args.route_conns, duration=args.duration,
                              warmup=args.warmup, rate=args.rate)
        runs = [("most", route_max), ("at %d/s" % args.rate, route_rate)]
        figures["route"] = {"max": route_max, "rate": route_rate}
        if args.low_rate:
            # The latency when the coordinator keeps up, beside the one at the target rate.
            figures["route"]["low_rate"] = load.run("route", users=args.users, conns=args.route_conns,
                                                    duration=args.duration, warmup=args.warmup, rate=args.low_rate)
            runs.append(("at %d/s" % args.low_rate, figures["route"]["low_rate"]))
        for label, result in runs:
            if result["errors"]:
                sys.exit("route lookups failed: %s" % json.dumps(result))
            log("  %s: %s" % (label, summary(result)))

        figures["load"]["sql"] = load_average()
        log("route lookups in SQL (load %s)..." % figures["load"]["sql"])
        name = user_name(args.users // 2, args.tenants)
        plan = postgres.psql("EXPLAIN (ANALYZE, BUFFERS) SELECT user_name AS user, host_address AS host FROM "
                             "duplex_user_route WHERE user_name = '%s'" % name, single_transaction=False)
        figures["sql_plan"] = plan.strip().splitlines()
        figures["sql"] = {
            "max": sql_lookups(postgres, args.users, args.tenants, 0, max(10, args.duration // 2), args.sql_clients,
                               directory),
            "rate": sql_lookups(postgres, args.users, args.tenants, args.rate, args.duration, args.sql_clients,
                                directory)}
        for label, result in (("most", figures["sql"]["max"]), ("at %d/s" % args.rate, figures["sql"]["rate"])):
            log("  %s: %s" % (label, summary(result)))

        figures["load"]["status"] = load_average()
        log("duplex status (load %s)..." % figures["load"]["status"])
        environment = coordinator.client_environment()
        status_json = time_command([binary, "status", "--json", "--timeout", "600"], environment, args.status_runs)
        if status_json["runs"]:
            status_table = time_command([binary, "status", "--timeout", "600"], environment, args.status_runs)
        else:
            status_table = dict(status_json, failure="not run: --json failed")
        figures["status"] = {"json": status_json, "table": status_table}
        figures["load"]["end"] = load_average()

        log("")
        log("coordinator on PostgreSQL %s, %d users, %d pairs, %d CPUs; load average (1/5/15 min) at assign %s, "
            "route %s, SQL %s, status %s"
            % (figures["postgresql"], args.users, args.pairs, os.cpu_count(), figures["load"].get("assign", "-"),
               figures["load"]["route"], figures["load"]["sql"], figures["load"]["status"]))
        print_table(figures, args)
        log("route query plan: " + " | ".join(line.strip() for line in figures["sql_plan"]
                                               if "Execution Time" in line or "Planning Time" in line))
        if args.json:
            with open(args.json, "w") as fh:
                json.dump(figures, fh, indent=2)
                fh.write("\n")
    finally:
        if coordinator:
            coordinator.stop()
        if postgres:
            postgres.stop()
        if args.keep:
            log("kept %s" % directory)
        else:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
