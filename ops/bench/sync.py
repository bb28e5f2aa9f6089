#!/usr/bin/env python3
"""Time `duplex sync` against `doveadm sync` on the same data, in the same run.

Scenarios (a user with 20 mailboxes):
  initial      10 000 messages (median ~4 KiB, a few of 1-2 MiB) to an empty replica;
               also `cp -a` of the same Maildir as a floor
  incremental  after 100 new messages, 100 flag changes and 50 expunges on side A
               (made with doveadm on both pairs), starting from a settled pair (one
               more sync of each pair first, for both tools)
  no-change    a sync right after a sync (run twice, the second is timed), 10 000 messages,
               and for duplex also a user with 100 000 messages (--big)

Fairness: both tools copy between two Maildirs on the same file system with fsync on
(doveadm: mail_fsync = optimized, maildir_copy_with_hardlinks = no, so it copies bytes
instead of hard-linking); each tool gets its own fresh copy of side A. Runs alternate.
After each sync both replicas are checked: the same (mailbox, GUID, flags) on both sides.

Needs root (a private Dovecot for doveadm's user lookup, files owned by vmail), Dovecot 2.3
and a release build of duplex, as installed: `swift build -c release --static-swift-stdlib
-Xlinker -no-pie` (see the README's Benchmarks).

Usage: sudo python3 ops/bench/sync.py [--messages 10000] [--runs 3] [--big 100000]
"""

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from list_mailbox import CONF, chown_tree, ensure_vmail  # noqa: E402

FOLDERS = ["INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive.2023", "Archive.2024", "Lists.dev",
           "Lists.announce", "Lists.users", "Projects.alpha", "Projects.beta", "Projects.gamma",
           "Family", "Friends", "Receipts", "Travel", "Newsletters", "Work.team", "Work.hr"]
KEYWORDS = ["$Label1", "$Label2", "$Forwarded", "$Junk", "$NotJunk"]


def log(message):
    print(message, flush=True)


def message_size(rng):
    if rng.random() < 0.004:
        return rng.randint(1 << 20, 2 << 20)
    return max(300, int(rng.lognormvariate(8.3, 0.9)))  # median ~4 KiB


def generate(root, count, seed, small=False):
    rng = random.Random(seed)
    dirs = []
    for folder in FOLDERS:
        path = root if folder == "INBOX" else os.path.join(root, "." + folder)
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(path, sub), exist_ok=True)
        if folder != "INBOX":
            open(os.path.join(path, "maildirfolder"), "w").close()
        with open(os.path.join(path, "dovecot-keywords"), "w") as fh:
            for index, name in enumerate(KEYWORDS):
                fh.write("%d %s\n" % (index, name))
        dirs.append(path)
    filler = ("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor\n" * 64)
    for i in range(count):
        path = dirs[min(int(rng.expovariate(0.25)), len(dirs) - 1)]
        size = 200 + rng.randint(0, 300) if small else message_size(rng)
        header = "From: s%d@example.org\nTo: bench@example.com\nSubject: message %d\nMessage-ID: <%d.%d@bench>\n\n" % (
            i % 97, i, seed, i)
        body = (filler * (size // len(filler) + 1))[: max(0, size - len(header))]
        data = (header + body).encode()
        flags = ""
        if rng.random() < 0.8:
            flags += "S"
        if rng.random() < 0.03:
            flags += "F"
        if rng.random() < 0.12:
            flags += chr(ord("a") + rng.randrange(len(KEYWORDS)))
        base = "%d.M%dP%d.benchhost,S=%d,W=%d" % (1790000000 + i, i % 1000000, 7, len(data), len(data) + data.count(b"\n"))
        with open(os.path.join(path, "cur", base + ":2," + "".join(sorted(flags))), "wb") as fh:
            fh.write(data)


class Bench:
    def __init__(self, work, duplex):
        self.work = work
        self.duplex = duplex
        self.conf = os.path.join(work, "dovecot.conf")
        self.pid = None

    def start_dovecot(self):
        for sub in ("run", "state", "home"):
            os.makedirs(os.path.join(self.work, sub), exist_ok=True)
        with open(self.conf, "w") as fh:
            fh.write(CONF.format(dir=self.work, tag=os.getpid()))
            fh.write("mail_fsync = optimized\nmaildir_copy_with_hardlinks = no\n")
        subprocess.run(["dovecot", "-c", self.conf], check=True)
        pidfile = os.path.join(self.work, "run", "master.pid")
        for _ in range(200):
            if os.path.exists(pidfile):
                break
            time.sleep(0.05)
        self.pid = int(open(pidfile).read().strip())

    def stop_dovecot(self):
        if not self.pid:
            return
        try:
            os.kill(self.pid, signal.SIGTERM)
            for _ in range(200):
                os.kill(self.pid, 0)
                time.sleep(0.05)
        except ProcessLookupError:
            pass

    def doveadm(self, root, *args, stdin=None):
        cmd = ["doveadm", "-c", self.conf, "-o", "mail_location=maildir:" + root] + list(args)
        proc = subprocess.run(cmd, input=stdin, capture_output=True)
        if proc.returncode not in (0, 2):
            raise RuntimeError("%s failed (%d): %s" % (" ".join(cmd), proc.returncode, proc.stderr.decode()))
        return proc.stdout.decode()

    def doveadm_sync(self, a, b):
        t0 = time.perf_counter()
        self.doveadm(a, "sync", "-u", "bench", "maildir:" + b)
        return time.perf_counter() - t0

    def duplex_sync(self, a, b, state):
        t0 = time.perf_counter()
        proc = subprocess.run([self.duplex, "sync", "-u", "bench", "--state-dir", state, a, b], capture_output=True)
        elapsed = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError("duplex sync failed (%d): %s %s" % (proc.returncode, proc.stdout.decode(), proc.stderr.decode()))
        return elapsed

    def content(self, root):
        """(mailbox, guid, flags) of every message, via duplex fetch --json."""
        out = subprocess.run([self.duplex, "mailbox", "list", root, "--json"], check=True, capture_output=True).stdout
        result = set()
        for box in json.loads(out):
            rows = subprocess.run([self.duplex, "fetch", root, box["name"], "--json"], check=True, capture_output=True).stdout
            for row in json.loads(rows):
                result.add((box["name"], row["guid"], " ".join(sorted(row["flags"]))))
        return result

    def fresh_pair(self, source, name, make_b=True):
        a = os.path.join(self.work, "home", name + "-A")
        b = os.path.join(self.work, "home", name + "-B")
        for path in (a, b):
            shutil.rmtree(path, ignore_errors=True)
        subprocess.run(["cp", "-a", source, a], check=True)
        if not make_b:
            subprocess.run(["sync"], check=True)
            return a, b
        os.makedirs(os.path.join(b, "cur"))
        os.makedirs(os.path.join(b, "new"))
        os.makedirs(os.path.join(b, "tmp"))
        uid, gid = ensure_vmail()
        chown_tree(b, uid, gid)
        subprocess.run(["sync"], check=True)
        return a, b

    def changes(self, root, rng_seed):
        """100 new, 100 flag changes, 50 expunges in side A, made with doveadm."""
        rng = random.Random(rng_seed)
        for i in range(100):
            box = ["INBOX", "Lists/dev", "Sent"][0 if i < 70 else 1 if i < 90 else 2]
            msg = "From: new@example.org\nSubject: new %d\nMessage-ID: <new.%d.%d@bench>\n\nnew body %d\n" % (i, rng_seed, i, i)
            self.doveadm(root, "save", "-u", "bench", "-m", box, stdin=msg.encode())
        uids = [int(line.split()[1]) for line in self.doveadm(root, "fetch", "-u", "bench", "uid", "mailbox", "INBOX").splitlines()
                if line.startswith("uid:")]
        picked = rng.sample(uids[:-100], 150)
        for uid in picked[:60]:
            self.doveadm(root, "flags", "add", "-u", "bench", "\\Seen", "mailbox", "INBOX", "uid", str(uid))
        for uid in picked[60:90]:
            self.doveadm(root, "flags", "add", "-u", "bench", "\\Flagged", "mailbox", "INBOX", "uid", str(uid))
        for uid in picked[90:100]:
            self.doveadm(root, "flags", "add", "-u", "bench", "$Label1", "mailbox", "INBOX", "uid", str(uid))
        for uid in picked[100:150]:
            self.doveadm(root, "expunge", "-u", "bench", "mailbox", "INBOX", "uid", str(uid))


def median(values):
    return statistics.median(values) if values else float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=10000)
    parser.add_argument("--big", type=int, default=100000, help="messages of the no-change user (0 to skip)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duplex", default=None)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    duplex = args.duplex or os.path.join(repo, ".build", "release", "duplex")
    if not os.access(duplex, os.X_OK):
        sys.exit("no duplex binary at %s; run `swift build -c release` first" % duplex)
    if os.geteuid() != 0:
        sys.exit("run as root")
    uid, gid = ensure_vmail()
    work = tempfile.mkdtemp(prefix="duplex-syncbench-")
    os.chmod(work, 0o755)
    bench = Bench(work, duplex)
    results = {}
    try:
        bench.start_dovecot()
        source = os.path.join(work, "home", "source")
        log("generating %d messages in 20 mailboxes ..." % args.messages)
        generate(source, args.messages, 42)
        chown_tree(os.path.join(work, "home"), uid, gid)
        bench.doveadm(source, "mailbox", "status", "-u", "bench", "messages", "*")  # Dovecot assigns UIDs
        size = int(subprocess.run(["du", "-sm", source], capture_output=True).stdout.split()[0])
        log("  %d MiB" % size)

        for run in range(args.runs):
            order = [("doveadm", "duplex"), ("duplex", "doveadm")][run % 2]
            for tool in order:
                # doveadm creates the new replica itself; duplex wants an (empty) Maildir.
                a, b = bench.fresh_pair(source, tool, make_b=tool == "duplex")
                if tool == "doveadm":
                    elapsed = bench.doveadm_sync(a, b)
                else:
                    state = os.path.join(work, "state-%d" % run)
                    shutil.rmtree(state, ignore_errors=True)
                    elapsed = bench.duplex_sync(a, b, state)
                results.setdefault(("initial", tool), []).append(elapsed)
                if bench.content(a) != bench.content(b):
                    sys.exit("%s: replicas differ after the initial sync" % tool)
                log("  initial %-7s run %d: %.2f s" % (tool, run + 1, elapsed))
            t0 = time.perf_counter()
            target = os.path.join(work, "home", "cp-copy")
            shutil.rmtree(target, ignore_errors=True)
            subprocess.run(["cp", "-a", source, target], check=True)
            subprocess.run(["sync"], check=True)
            results.setdefault(("initial", "cp -a"), []).append(time.perf_counter() - t0)

        # Incremental and no-change, on the pairs of the last initial run.
        states = os.path.join(work, "state-%d" % (args.runs - 1))
        for run in range(args.runs):
            for tool in ("doveadm", "duplex"):
                a = os.path.join(work, "home", tool + "-A")
                b = os.path.join(work, "home", tool + "-B")
                sync = (lambda: bench.doveadm_sync(a, b)) if tool == "doveadm" else (lambda: bench.duplex_sync(a, b, states))
                # Steady state first: a replica is synced again after the sync that filled
                # it (duplex re-reads mailboxes whose stamps were taken within 100 ms of a
                # change; doveadm is run the same way).
                time.sleep(0.3)
                sync()
                bench.changes(a, 1000 + run)
                elapsed = sync()
                results.setdefault(("incremental", tool), []).append(elapsed)
                if bench.content(a) != bench.content(b):
                    sys.exit("%s: replicas differ after the incremental sync" % tool)
                sync()
                time.sleep(0.3)
                results.setdefault(("no-change", tool), []).append(sync())
            log("  incremental/no-change run %d done" % (run + 1))

        if args.big:
            log("generating the %d-message user ..." % args.big)
            big = os.path.join(work, "home", "big")
            generate(big, args.big, 7, small=True)
            chown_tree(big, uid, gid)
            bench.doveadm(big, "mailbox", "status", "-u", "bench", "messages", "*")
            a, b = bench.fresh_pair(big, "bigpair")
            state = os.path.join(work, "state-big")
            log("  initial duplex sync of the big user: %.1f s" % bench.duplex_sync(a, b, state))
            bench.duplex_sync(a, b, state)
            time.sleep(0.3)
            bench.duplex_sync(a, b, state)
            for _ in range(max(args.runs, 5)):
                t0 = time.perf_counter()
                out = subprocess.run([duplex, "sync", "-u", "bench", "--state-dir", state, "--json", a, b],
                                     check=True, capture_output=True).stdout
                wall = time.perf_counter() - t0
                report = json.loads(out)
                results.setdefault(("no-change %dk" % (args.big // 1000), "duplex (in process)"), []).append(report["seconds"])
                results.setdefault(("no-change %dk" % (args.big // 1000), "duplex (whole command)"), []).append(wall)

        print()
        print("%-16s %-24s %10s" % ("scenario", "tool", "median s"))
        for (scenario, tool), values in results.items():
            print("%-16s %-24s %10.3f   (%s)" % (scenario, tool, median(values), " ".join("%.3f" % v for v in values)))
        print()
        for scenario in ("initial", "incremental", "no-change"):
            d = median(results.get((scenario, "duplex"), []))
            v = median(results.get((scenario, "doveadm"), []))
            print("%-12s doveadm/duplex = %.2fx" % (scenario, v / d))
        d = median(results[("initial", "duplex")])
        print("initial      duplex/cp -a   = %.2fx" % (d / median(results[("initial", "cp -a")])))
    finally:
        bench.stop_dovecot()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log("kept %s" % work)


if __name__ == "__main__":
    main()
