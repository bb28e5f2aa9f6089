#!/usr/bin/env python3
"""IMAP client activity on the two hosts of a pair, and the check that both hosts show
the same mail afterwards. Used by Tests/DuplexCLITests/EndToEndIMAPTests.swift; standard
library only (imaplib, email).

    imap_activity.py seed      --host A=127.0.0.1:PORT --user U --password P --report FILE
    imap_activity.py activity  --host A=... --host B=... --user U --password P --report FILE
    imap_activity.py verify    --host A=... --host B=... --user U --password P --expect FILE...

seed      one host: folders Projects and Lists/dev, a few messages (some with attachments).
activity  every host at once, one thread each, in rounds kept in step by a barrier:
          APPEND (plain, alternative, attachments; some with flags), STORE +FLAGS/-FLAGS
          (system flags and keywords, the same seeded message on both hosts), EXPUNGE
          (a seeded message on A while B flags it), CREATE (a name on each host and one
          name on both), RENAME (Projects on A while B appends into it).
verify    LIST, LSUB, and per selectable folder EXAMINE and UID FETCH 1:* (FLAGS
          RFC822.SIZE BODY.PEEK[]) on every host: the same folders, UIDVALIDITY, UIDs,
          Message-IDs, bodies and flags; every Message-ID appended (per the reports) and not
          expunged is there exactly once, none is duplicated or unknown; the flags each
          host added or removed are as it left them. Prints every difference; exit 1.

Reports are JSON: {"appended": {msgid: folder}, "expunged": [msgid],
"flags_added": {msgid: [flag]}, "flags_removed": {msgid: [flag]}, "failed": [text]}.
Exit status: 0 done (verify: identical), 1 a difference or a failed IMAP command, 2 usage.
"""

import argparse
import email
import email.policy
import hashlib
import imaplib
import json
import random
import re
import sys
import threading
import time
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

# IMAP commands wait at most this long (seconds): an APPEND may wait for the replication
# plugin's synchronous request, a few seconds at most; a hung server fails the run.
COMMAND_TIMEOUT = 60
ROUNDS = 4
DOMAIN = "duplex.test"


class Failure(Exception):
    """An IMAP command that did not do what the scenario needs."""


def parse_hosts(values):
    hosts = {}
    for value in values:
        name, _, address = value.partition("=")
        host, _, port = address.rpartition(":")
        if not name or not host or not port.isdigit():
            raise SystemExit("imap_activity.py: --host must be NAME=HOST:PORT, got %r" % value)
        hosts[name] = (host, int(port))
    return hosts


def connect(address, user, password):
    connection = imaplib.IMAP4(address[0], address[1], timeout=COMMAND_TIMEOUT)
    connection.login(user, password)
    return connection


def quote(mailbox):
    return '"' + mailbox.replace("\\", "\\\\").replace('"', '\\"') + '"'


def unquote(text):
    text = text.strip()
    if text.startswith('"') and text.endswith('"'):
        return re.sub(r'\\(.)', r'\1', text[1:-1])
    return text


# MARK: Messages


class Report:
    """What one host's client did, for the check afterwards."""

    def __init__(self, host):
        self.host = host
        self.appended = {}
        self.expunged = []
        self.flags_added = {}
        self.flags_removed = {}
        self.failed = []

    def as_json(self):
        return {
            "host": self.host,
            "appended": self.appended,
            "expunged": self.expunged,
            "flags_added": self.flags_added,
            "flags_removed": self.flags_removed,
            "failed": self.failed,
        }


def make_message(rng, host, label, shape):
    """A realistic message: plain (UTF-8, quoted-printable), alternative, or mixed with
    attachments. Returns (Message-ID, bytes with CRLF line ends)."""
    message = EmailMessage()
    msgid = make_msgid(idstring="%s.%s" % (host.lower(), label), domain=DOMAIN)
    message["Message-ID"] = msgid
    message["Date"] = format_datetime(email.utils.localtime())
    message["From"] = "Zoë Dupont <zoe@%s>" % DOMAIN
    message["To"] = "alice@example.com"
    message["Subject"] = "Réunion %s — %s" % (label, shape)
    message["Received"] = "from mx.%s (mx.%s [192.0.2.7]) by host-%s.test; %s" % (
        DOMAIN, DOMAIN, host.lower(), message["Date"])
    text = "Bonjour,\n\n%s\n\nÀ bientôt,\nZoë\n" % " ".join(
        rng.choice(["ordre du jour", "budget", "planning", "café", "naïve", "deadline"]) for _ in range(40))
    message.set_content(text, cte="quoted-printable")
    if shape in ("alternative", "mixed"):
        message.add_alternative("<html><body><p>%s</p></body></html>" % text.replace("\n", "<br>"), subtype="html")
    if shape == "mixed":
        pdf = b"%PDF-1.4\n" + bytes(rng.getrandbits(8) for _ in range(rng.randint(2000, 9000))) + b"\n%%EOF\n"
        message.add_attachment(pdf, maintype="application", subtype="pdf", filename="compte-rendu-%s.pdf" % label)
        message.add_attachment("BEGIN:VCALENDAR\nVERSION:2.0\nEND:VCALENDAR\n", subtype="calendar", filename="invite.ics")
    return msgid, message.as_bytes(policy=email.policy.SMTP)


def append(connection, report, rng, folder, label, shape, flags=()):
    msgid, data = make_message(rng, report.host, label, shape)
    flag_list = "(" + " ".join(flags) + ")" if flags else None
    typ, answer = connection.append(quote(folder), flag_list, None, data)
    if typ != "OK":
        # The folder went away under this client (renamed on the other host and already
        # synced here): the message was not saved, so it is not expected anywhere.
        report.failed.append("APPEND %s into %s: %s %s" % (msgid, folder, typ, answer))
        return None
    report.appended[msgid] = folder
    if flags:
        report.flags_added.setdefault(msgid, []).extend(flags)
    return msgid


def uids_of(connection, msgid):
    typ, data = connection.uid("SEARCH", "HEADER", "Message-ID", quote(msgid))
    if typ != "OK":
        raise Failure("UID SEARCH %s: %s %s" % (msgid, typ, data))
    return data[0].decode().split() if data and data[0] else []


def store(connection, report, folder, msgid, sign, flags):
    """STORE +FLAGS or -FLAGS on the message `msgid` in `folder`; False when it is not there."""
    if not select(connection, report, folder):
        return False
    uids = uids_of(connection, msgid)
    if not uids:
        report.failed.append("STORE %s%s: %s not in %s" % (sign, flags, msgid, folder))
        return False
    typ, data = connection.uid("STORE", ",".join(uids), sign + "FLAGS.SILENT", "(" + " ".join(flags) + ")")
    if typ != "OK":
        raise Failure("UID STORE %s %s in %s: %s %s" % (msgid, flags, folder, typ, data))
    target = report.flags_added if sign == "+" else report.flags_removed
    target.setdefault(msgid, []).extend(flags)
    return True


def expunge(connection, report, folder, msgid):
    if not select(connection, report, folder):
        return False
    uids = uids_of(connection, msgid)
    if not uids:
        report.failed.append("EXPUNGE: %s not in %s" % (msgid, folder))
        return False
    uid_set = ",".join(uids)
    for command in (("STORE", uid_set, "+FLAGS.SILENT", r"(\Deleted)"), ("EXPUNGE", uid_set)):
        typ, data = connection.uid(*command)
        if typ != "OK":
            raise Failure("UID %s of %s in %s: %s %s" % (command[0], msgid, folder, typ, data))
    report.expunged.append(msgid)
    return True


def select(connection, report, folder):
    typ, data = connection.select(quote(folder))
    if typ != "OK":
        report.failed.append("SELECT %s: %s %s" % (folder, typ, data))
        return False
    return True


def command(connection, name, *arguments):
    typ, data = getattr(connection, name)(*[quote(a) for a in arguments])
    if typ != "OK":
        raise Failure("%s %s: %s %s" % (name.upper(), " ".join(arguments), typ, data))


# MARK: Scenario


SEEDED_INBOX = ["seed-%d" % n for n in range(1, 7)]
SHAPES = ["plain", "alternative", "mixed"]


def seed(address, user, password, report, rng):
    """The mail both hosts start from: made on one host, then replicated."""
    connection = connect(address, user, password)
    try:
        for folder in ("Projects", "Lists/dev"):
            command(connection, "create", folder)
            command(connection, "subscribe", folder)
        for index, label in enumerate(SEEDED_INBOX):
            append(connection, report, rng, "INBOX", label, SHAPES[index % 3], (r"\Seen",) if index % 2 else ())
        for index in range(3):
            append(connection, report, rng, "Projects", "projects-%d" % index, SHAPES[index])
        append(connection, report, rng, "Lists/dev", "dev-1", "plain", ("$Label2",))
    finally:
        connection.logout()


def seeded(seed_report, label):
    """The Message-ID of the seeded message `label`."""
    for msgid in seed_report["appended"]:
        if ".%s@" % label in msgid:
            return msgid
    raise Failure("no seeded message %s in the seed report" % label)


def host_activity(name, address, user, password, report, barrier, seed_report, rng):
    """One host's client: ROUNDS rounds, each started together with the other host."""
    connection = connect(address, user, password)
    first = name == "A"
    try:
        for round_number in range(1, ROUNDS + 1):
            barrier.wait()
            label = "r%d" % round_number
            # Deliveries into INBOX on both hosts at once: the same UIDs are given to
            # different messages on each side (a UID conflict for the replicator).
            for index in range(3):
                append(connection, report, rng, "INBOX", "%s-%d" % (label, index), SHAPES[(index + round_number) % 3],
                       (r"\Seen",) if index == 0 and first else ())
            if round_number == 1:
                # Both hosts flag the same seeded messages, each its own flags.
                for seed_label in SEEDED_INBOX[:4]:
                    flags = [r"\Seen", "$Work"] if first else [r"\Flagged", "$Label1"]
                    store(connection, report, "INBOX", seeded(seed_report, seed_label), "+", flags)
                command(connection, "create", "Travel" if first else "Receipts")
                # The same name on both hosts: two mailboxes (two GUIDs) with one name. When
                # the other host's CREATE has already been replicated here, it exists.
                typ, data = connection.create(quote("Reports"))
                if typ != "OK" and b"ALREADYEXISTS" not in b" ".join(data):
                    raise Failure("CREATE Reports: %s %s" % (typ, data))
                append(connection, report, rng, "Reports", "%s-report" % label, "mixed")
            elif round_number == 2:
                if first:
                    # A renames Projects while B appends into it.
                    command(connection, "rename", "Projects", "Archive/Projects-2024")
                    append(connection, report, rng, "Travel", "%s-travel" % label, "mixed", ("$Booking",))
                else:
                    for index in range(3):
                        append(connection, report, rng, "Projects", "%s-project-%d" % (label, index), SHAPES[index])
                    append(connection, report, rng, "Receipts", "%s-receipt" % label, "mixed", (r"\Seen",))
            elif round_number == 3:
                if first:
                    # A expunges two seeded messages that B flags at the same time.
                    for seed_label in SEEDED_INBOX[4:6]:
                        expunge(connection, report, "INBOX", seeded(seed_report, seed_label))
                    # A takes \Seen off its own first message of round 1 (only A flagged it).
                    own = next(m for m, f in report.appended.items() if f == "INBOX" and ".a.r1-0@" in m)
                    store(connection, report, "INBOX", own, "-", [r"\Seen"])
                else:
                    for seed_label in SEEDED_INBOX[4:6]:
                        store(connection, report, "INBOX", seeded(seed_report, seed_label), "+", [r"\Answered"])
                    own = next(m for m, f in report.appended.items() if f == "INBOX" and ".b.r1-1@" in m)
                    expunge(connection, report, "INBOX", own)
            elif round_number == 4:
                folder = "Lists/dev"
                append(connection, report, rng, folder, "%s-dev" % label, "plain", ("$Label3",) if first else ())
                if not first:
                    command(connection, "rename", "Receipts", "Archive/Receipts")
        barrier.wait()
    except BaseException:
        barrier.abort()
        raise
    finally:
        try:
            connection.logout()
        except (imaplib.IMAP4.error, OSError):
            pass


def activity(hosts, user, password, seed_report, reports, seed_value):
    barrier = threading.Barrier(len(hosts), timeout=COMMAND_TIMEOUT * 3)
    errors = []

    def run(name):
        try:
            host_activity(name, hosts[name], user, password, reports[name], barrier, seed_report,
                          random.Random("%s-%s" % (seed_value, name)))
        except threading.BrokenBarrierError:
            errors.append("%s: stopped because the other host's client failed" % name)
        except Exception as error:  # reported with the host's name, then the run fails
            errors.append("%s: %s: %s" % (name, type(error).__name__, error))

    threads = [threading.Thread(target=run, args=(name,), name="imap-%s" % name) for name in sorted(hosts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


# MARK: Verification


LIST_LINE = re.compile(rb'^\((?P<flags>[^)]*)\) (?P<separator>"(?:[^"\\]|\\.)*"|NIL) (?P<name>.+)$')
LOCAL_ATTRIBUTES = (r"\HasChildren", r"\HasNoChildren", r"\Marked", r"\Unmarked")


def listing(connection, command_name):
    typ, data = getattr(connection, command_name)()
    if typ != "OK":
        raise Failure("%s: %s %s" % (command_name.upper(), typ, data))
    folders = {}
    for line in data:
        if line is None:
            continue
        if isinstance(line, tuple):  # a name sent as a literal
            line = line[0].rsplit(b"{", 1)[0] + b'"' + line[1] + b'"'
        match = LIST_LINE.match(line)
        if not match:
            raise Failure("%s: cannot read %r" % (command_name.upper(), line))
        # Children and "new mail here since it was last selected" (\Marked) are each
        # server's own view, not replicated state.
        flags = sorted(f for f in match.group("flags").decode().split() if f not in LOCAL_ATTRIBUTES)
        folders[unquote(match.group("name").decode("utf-8", "replace"))] = flags
    return folders


def message_id(body):
    headers = email.message_from_bytes(body.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n", policy=email.policy.compat32)
    value = headers.get("Message-ID")
    return value.strip() if value else None


def folder_contents(connection, folder):
    """EXAMINE `folder` and return (UIDVALIDITY, {uid: (msgid, flags, size, sha256)})."""
    typ, data = connection.select(quote(folder), readonly=True)
    if typ != "OK":
        raise Failure("EXAMINE %s: %s %s" % (folder, typ, data))
    uidvalidity = int(connection.response("UIDVALIDITY")[1][0])
    typ, data = connection.uid("FETCH", "1:*", "(FLAGS RFC822.SIZE BODY.PEEK[])")
    if typ != "OK":
        raise Failure("UID FETCH 1:* in %s: %s %s" % (folder, typ, data))
    messages = {}
    for item in data:
        if not isinstance(item, tuple):
            continue
        header, body = item
        uid = re.search(rb"\bUID (\d+)", header)
        flags = re.search(rb"\bFLAGS \(([^)]*)\)", header)
        size = re.search(rb"\bRFC822\.SIZE (\d+)", header)
        if not (uid and flags and size):
            raise Failure("UID FETCH in %s: cannot read %r" % (folder, header))
        flag_set = sorted(f for f in flags.group(1).decode().split() if f != r"\Recent")
        messages[int(uid.group(1))] = (message_id(body), flag_set, int(size.group(1)), hashlib.sha256(body).hexdigest())
    return uidvalidity, messages


def snapshot(address, user, password):
    connection = connect(address, user, password)
    try:
        folders = listing(connection, "list")
        subscribed = sorted(listing(connection, "lsub"))
        contents = {}
        for folder, flags in sorted(folders.items()):
            if r"\Noselect" in flags or r"\NonExistent" in flags:
                continue
            contents[folder] = folder_contents(connection, folder)
        return {"folders": folders, "subscribed": subscribed, "contents": contents}
    finally:
        connection.logout()


def compare(snapshots, reports):
    """Every difference between the hosts and from what the clients did, as text lines."""
    problems = []
    names = sorted(snapshots)
    first = names[0]
    for other in names[1:]:
        a, b = snapshots[first], snapshots[other]
        if a["folders"] != b["folders"]:
            problems.append("LIST differs: only on %s: %s; only on %s: %s; attributes differ: %s" % (
                first, sorted(set(a["folders"]) - set(b["folders"])), other, sorted(set(b["folders"]) - set(a["folders"])),
                sorted(f for f in set(a["folders"]) & set(b["folders"]) if a["folders"][f] != b["folders"][f])))
        if a["subscribed"] != b["subscribed"]:
            problems.append("LSUB differs: %s %s, %s %s" % (first, a["subscribed"], other, b["subscribed"]))
        for folder in sorted(set(a["contents"]) & set(b["contents"])):
            validity_a, messages_a = a["contents"][folder]
            validity_b, messages_b = b["contents"][folder]
            if validity_a != validity_b:
                problems.append("%s: UIDVALIDITY %d on %s, %d on %s" % (folder, validity_a, first, validity_b, other))
            for uid in sorted(set(messages_a) | set(messages_b)):
                left, right = messages_a.get(uid), messages_b.get(uid)
                if left != right:
                    problems.append("%s UID %d: %s %s, %s %s" % (
                        folder, uid, first, describe(left), other, describe(right)))

    expected = set()
    for report in reports:
        expected |= set(report["appended"])
    expunged = set()
    for report in reports:
        expunged |= set(report["expunged"])
    for name in names:
        where = {}
        for folder, (_, messages) in snapshots[name]["contents"].items():
            for uid, (msgid, flags, _, _) in messages.items():
                where.setdefault(msgid, []).append("%s UID %d" % (folder, uid))
        for msgid, places in sorted(where.items(), key=lambda item: str(item[0])):
            if len(places) > 1:
                problems.append("%s: %s is there %d times: %s" % (name, msgid, len(places), ", ".join(places)))
            if msgid not in expected:
                problems.append("%s: %s at %s was never appended" % (name, msgid, ", ".join(places)))
            elif msgid in expunged:
                problems.append("%s: %s was expunged but is at %s" % (name, msgid, ", ".join(places)))
        for msgid in sorted(expected - expunged - set(where)):
            problems.append("%s: %s was appended and never expunged, but is lost" % (name, msgid))
        problems += flag_problems(name, snapshots[name], reports)
    return problems


def flag_problems(name, snapshot_, reports):
    flags_of = {}
    for _, messages in snapshot_["contents"].values():
        for msgid, flags, _, _ in messages.values():
            flags_of[msgid] = set(flags)
    problems = []
    removed = {}
    for report in reports:
        for msgid, flags in report["flags_removed"].items():
            removed.setdefault(msgid, set()).update(flags)
    for report in reports:
        for msgid, flags in report["flags_added"].items():
            if msgid not in flags_of:
                continue
            missing = set(flags) - removed.get(msgid, set()) - flags_of[msgid]
            if missing:
                problems.append("%s: %s lacks %s that %s added" % (name, msgid, sorted(missing), report["host"]))
    for msgid, flags in removed.items():
        kept = flags & flags_of.get(msgid, set())
        if kept:
            problems.append("%s: %s still has %s that was removed" % (name, msgid, sorted(kept)))
    return problems


def describe(message):
    if message is None:
        return "nothing"
    msgid, flags, size, digest = message
    return "%s flags (%s) size %d body %s" % (msgid, " ".join(flags), size, digest[:12])


def summary(snapshots):
    result = {}
    for name, snap in snapshots.items():
        result[name] = {
            "folders": sorted(snap["folders"]),
            "subscribed": snap["subscribed"],
            "messages": {folder: len(messages) for folder, (_, messages) in snap["contents"].items()},
            "uidvalidity": {folder: validity for folder, (validity, _) in snap["contents"].items()},
        }
    return result


# MARK: Main


def main():
    parser = argparse.ArgumentParser(description="IMAP activity on two hosts and the check that they agree.")
    parser.add_argument("mode", choices=["seed", "activity", "verify"])
    parser.add_argument("--host", action="append", required=True, help="NAME=HOST:PORT (repeat)")
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--report", help="seed, activity: where to write what the clients did (JSON)")
    parser.add_argument("--seed-report", help="activity: the report of seed")
    parser.add_argument("--expect", action="append", default=[], help="verify: reports of seed and activity")
    parser.add_argument("--summary", help="verify: where to write the folders and counts per host (JSON)")
    parser.add_argument("--seed", default="duplex", help="seed of the random message contents")
    arguments = parser.parse_args()
    hosts = parse_hosts(arguments.host)

    try:
        if arguments.mode == "seed":
            if len(hosts) != 1 or not arguments.report:
                parser.error("seed takes one --host and --report")
            (name, address), = hosts.items()
            report = Report(name)
            seed(address, arguments.user, arguments.password, report, random.Random(arguments.seed))
            write_json(arguments.report, {name: report.as_json()})
        elif arguments.mode == "activity":
            if len(hosts) != 2 or not arguments.report or not arguments.seed_report:
                parser.error("activity takes two --host, --report and --seed-report")
            seed_report = next(iter(read_json(arguments.seed_report).values()))
            reports = {name: Report(name) for name in hosts}
            started = time.monotonic()
            errors = activity(hosts, arguments.user, arguments.password, seed_report, reports, arguments.seed)
            write_json(arguments.report, {name: report.as_json() for name, report in reports.items()})
            for name, report in sorted(reports.items()):
                print("%s: %d appended, %d expunged, %d not done: %s" % (
                    name, len(report.appended), len(report.expunged), len(report.failed), "; ".join(report.failed)))
            print("activity took %.1f s" % (time.monotonic() - started))
            if errors:
                print("\n".join(errors), file=sys.stderr)
                return 1
        else:
            if len(hosts) < 2 or not arguments.expect:
                parser.error("verify takes two --host and at least one --expect")
            reports = [report for path in arguments.expect for report in read_json(path).values()]
            snapshots = {name: snapshot(address, arguments.user, arguments.password) for name, address in hosts.items()}
            if arguments.summary:
                write_json(arguments.summary, summary(snapshots))
            problems = compare(snapshots, reports)
            total = {name: sum(len(m) for _, m in snap["contents"].values()) for name, snap in snapshots.items()}
            if problems:
                print("the hosts differ (%d problems):" % len(problems))
                print("\n".join("  " + problem for problem in problems))
                return 1
            print("identical: %s" % ", ".join("%s %d folders, %d messages" % (
                name, len(snapshots[name]["contents"]), total[name]) for name in sorted(snapshots)))
    except (Failure, imaplib.IMAP4.error, OSError) as error:
        print("imap_activity.py %s: %s: %s" % (arguments.mode, type(error).__name__, error), file=sys.stderr)
        return 1
    return 0


def read_json(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def write_json(path, value):
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(value, handle, indent=1, sort_keys=True)


if __name__ == "__main__":
    sys.exit(main())
