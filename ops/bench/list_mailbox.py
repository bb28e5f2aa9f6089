#!/usr/bin/env python3
"""List a 100 000-message Maildir with `duplex fetch` and with `doveadm fetch`, cold and warm.

Both tools read the same Dovecot-written Maildir in the same run, alternating, and the
script prints the medians and the ratio doveadm / duplex (above 1 means duplex is faster).

What is measured (wall time of the whole command, output to /dev/null):
  * duplex:  `duplex fetch MAILROOT INBOX`            (uid, guid, flags, size)
  * doveadm: `doveadm fetch -u USER 'uid guid flags' mailbox INBOX`
  * cold: the page cache is dropped (`echo 3 > /proc/sys/vm/drop_caches`) before each run;
    skipped with a note when that is not allowed.
  * warm: repeated runs with everything cached (Dovecot's index is up to date).

Before timing, both outputs are compared: the same (uid, guid, flags) for every message.

Needs: root (to start a private Dovecot and own files as `vmail`), Dovecot 2.3 (`dovecot`,
`doveadm`), and a release build of duplex (`swift build -c release`).

Usage: sudo python3 ops/bench/list_mailbox.py [--messages 100000] [--runs 5] [--duplex PATH]
"""

import argparse
import grp
import os
import pwd
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

CONF = """\
instance_name = duplex-bench-{tag}
base_dir = {dir}/run
state_dir = {dir}/state
listen = 127.0.0.1
protocols =
ssl = no
log_path = {dir}/dovecot.log
default_login_user = dovenull
default_internal_user = dovecot
mail_location = maildir:~/Maildir
namespace inbox {{
  inbox = yes
  separator = /
}}
passdb {{
  driver = static
  args = nopassword=y
}}
userdb {{
  driver = static
  args = uid=vmail gid=vmail home={dir}/home/%u
}}
"""

KEYWORDS = ["$Label1", "$Label2", "$Label3", "$Forwarded", "$Junk", "$NotJunk"]


def log(message):
    print(message, flush=True)


def ensure_vmail():
    try:
        pwd.getpwnam("vmail")
    except KeyError:
        subprocess.run(["groupadd", "--system", "vmail"], check=False)
        subprocess.run(["useradd", "--system", "-g", "vmail", "-d", "/nonexistent",
                        "-s", "/usr/sbin/nologin", "vmail"], check=True)
    return pwd.getpwnam("vmail").pw_uid, grp.getgrnam("vmail").gr_gid


def generate_maildir(root, count, seed):
    """Writes `count` messages as Dovecot would name them, flags in the names."""
    rng = random.Random(seed)
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    with open(os.path.join(root, "dovecot-keywords"), "w") as fh:
        for index, name in enumerate(KEYWORDS):
            fh.write("%d %s\n" % (index, name))
    start = 1795000000
    for i in range(count):
        body_lines = rng.randint(3, 40)
        body = "".join("line %d of message %d lorem ipsum dolor sit amet\n" % (n, i)
                       for n in range(body_lines))
        msg = ("From: sender%d@example.org\nTo: bench@example.com\n"
               "Subject: message %d\nMessage-ID: <%d@bench>\n\n%s" % (i % 97, i, i, body))
        data = msg.encode()
        size = len(data)
        vsize = size + data.count(b"\n")
        flags = ""
        if rng.random() < 0.03:
            flags += "F"
        if rng.random() < 0.06:
            flags += "R"
        if rng.random() < 0.8:
            flags += "S"
        if rng.random() < 0.12:
            flags += chr(ord("a") + rng.randrange(len(KEYWORDS)))
        base = "%d.M%dP%d.benchhost,S=%d,W=%d" % (start + i // 10, i % 1000000, 4242, size, vsize)
        name = base + ":2," + "".join(sorted(flags))
        with open(os.path.join(root, "cur", name), "wb") as fh:
            fh.write(data)


def chown_tree(path, uid, gid):
    for dirpath, dirnames, filenames in os.walk(path):
        os.chown(dirpath, uid, gid)
        for name in filenames:
            os.chown(os.path.join(dirpath, name), uid, gid)


def drop_caches():
    try:
        subprocess.run(["sync"], check=True)
        with open("/proc/sys/vm/drop_caches", "w") as fh:
            fh.write("3\n")
        return True
    except OSError:
        return False


def timed(cmd):
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(cmd), proc.returncode,
                                                    proc.stderr.decode(errors="replace")))
    return elapsed


def parse_doveadm_fetch(text):
    rows = {}
    current = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        key, _, value = line.partition(": ")
        if key == "uid" and current:
            rows[int(current["uid"])] = current
            current = {}
        current[key] = value
    if current:
        rows[int(current["uid"])] = current
    return {uid: (row.get("guid", ""), " ".join(f for f in row.get("flags", "").split() if f != "\\Recent"))
            for uid, row in rows.items()}


def parse_duplex_json(text):
    import json
    return {row["uid"]: (row["guid"], " ".join(row["flags"])) for row in json.loads(text)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=100000)
    parser.add_argument("--runs", type=int, default=5, help="timed runs per tool and mode")
    parser.add_argument("--duplex", default=None, help="duplex binary (default: .build/release/duplex)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = parser.parse_args()

    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    duplex = args.duplex or os.path.join(repo, ".build", "release", "duplex")
    if not os.access(duplex, os.X_OK):
        sys.exit("no duplex binary at %s; run `swift build -c release` first" % duplex)
    if os.geteuid() != 0:
        sys.exit("run as root: the benchmark starts a private Dovecot and writes as vmail")
    for tool in ("dovecot", "doveadm"):
        if not shutil.which(tool):
            sys.exit("%s is not installed (apt-get install dovecot-core)" % tool)

    uid, gid = ensure_vmail()
    work = tempfile.mkdtemp(prefix="duplex-bench-")
    os.chmod(work, 0o755)
    for sub in ("run", "state", "home"):
        os.makedirs(os.path.join(work, sub))
    conf = os.path.join(work, "dovecot.conf")
    with open(conf, "w") as fh:
        fh.write(CONF.format(dir=work, tag=os.getpid()))
    user = "bench"
    root = os.path.join(work, "home", user, "Maildir")
    master_pid = None
    try:
        log("generating %d messages in %s ..." % (args.messages, root))
        t0 = time.perf_counter()
        generate_maildir(root, args.messages, args.seed)
        chown_tree(os.path.join(work, "home"), uid, gid)
        log("  generated in %.1f s" % (time.perf_counter() - t0))

        subprocess.run(["dovecot", "-c", conf], check=True)
        pidfile = os.path.join(work, "run", "master.pid")
        for _ in range(200):
            if os.path.exists(pidfile):
                break
            time.sleep(0.05)
        master_pid = int(open(pidfile).read().strip())
        doveadm = ["doveadm", "-c", conf]

        log("letting Dovecot assign UIDs and build its index ...")
        t0 = time.perf_counter()
        subprocess.run(doveadm + ["mailbox", "status", "-u", user, "messages uidnext", "INBOX"], check=True)
        log("  done in %.1f s" % (time.perf_counter() - t0))

        duplex_cmd = [duplex, "fetch", root, "INBOX"]
        doveadm_cmd = doveadm + ["fetch", "-u", user, "uid guid flags", "mailbox", "INBOX"]

        log("checking that both list the same messages ...")
        mine = parse_duplex_json(subprocess.run(duplex_cmd + ["--json"], check=True, capture_output=True).stdout)
        theirs = parse_doveadm_fetch(subprocess.run(doveadm_cmd, check=True, capture_output=True).stdout.decode())
        if mine != theirs:
            diff = [u for u in set(mine) | set(theirs) if mine.get(u) != theirs.get(u)][:5]
            sys.exit("outputs differ (%d vs %d messages), e.g. UIDs %s" % (len(mine), len(theirs), diff))
        log("  identical: %d messages" % len(mine))

        results = {}
        can_drop = drop_caches()
        modes = ["cold", "warm"] if can_drop else ["warm"]
        if not can_drop:
            log("note: cannot drop the page cache here; cold runs skipped")
        for mode in modes:
            for tool, cmd in (("duplex", duplex_cmd), ("doveadm", doveadm_cmd)):
                results[(tool, mode)] = []
            if mode == "warm":
                timed(duplex_cmd)
                timed(doveadm_cmd)
            for run in range(args.runs):
                for tool, cmd in (("duplex", duplex_cmd), ("doveadm", doveadm_cmd)) if run % 2 == 0 else \
                        (("doveadm", doveadm_cmd), ("duplex", duplex_cmd)):
                    if mode == "cold":
                        drop_caches()
                    results[(tool, mode)].append(timed(cmd))

        print()
        print("list %d messages (uid, guid, flags), %d runs each, alternating" % (len(mine), args.runs))
        print("%-6s %12s %12s %10s" % ("mode", "duplex s", "doveadm s", "ratio"))
        for mode in modes:
            d = statistics.median(results[("duplex", mode)])
            v = statistics.median(results[("doveadm", mode)])
            print("%-6s %12.3f %12.3f %9.2fx" % (mode, d, v, v / d))
        print("(ratio = doveadm median / duplex median; above 1 means duplex is faster)")
        for mode in modes:
            for tool in ("duplex", "doveadm"):
                print("  %s %s runs: %s" % (tool, mode, " ".join("%.3f" % t for t in results[(tool, mode)])))
    finally:
        if master_pid:
            try:
                os.kill(master_pid, signal.SIGTERM)
                for _ in range(200):
                    os.kill(master_pid, 0)
                    time.sleep(0.05)
            except ProcessLookupError:
                pass
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log("kept %s" % work)


if __name__ == "__main__":
    main()
