"""Benchmark: several `mailbridge run` daemons on one database sharing N mailboxes (issue 18); prints messages/s.

Generates the mail of bench/ingest.py (multipart, attachments of 2 KB to 100 KB, eight languages, 20% replies) and
spreads `--messages` over `--mailboxes` Dovecot users before anything starts (each user's Maildir written, then
indexed by a first SELECT). Then, for each count of `--daemons`, on a fresh database (a new PostgreSQL database on the
throwaway server of tests/servers/postgres.py, or a new SQLite file) with the schema created beforehand, it starts
that many real `mailbridge run` processes at once and polls the database every 0.25 s until every message is stored.
It prints the time from the start of the processes and from the first stored message, messages/s, each daemon's
peak RSS (VmHWM, its parse workers' added) and CPU seconds (the fleet's CPU per message holds steady on a busy
machine, the rate does not), the messages each daemon stored (attributed to the mailbox's lease holder at each
sample: the `mailboxlease` table), the batches rolled back and polls fenced (from the daemons' logs), the leases
taken and released, duplicates (stored rows against distinct Message-IDs), the load average, and where the machine's CPU
went meanwhile (busy and idle from /proc/stat; PostgreSQL's and Dovecot's process trees; this process, which runs the
sink).
Receipts go to the tests' SMTP sink in this process, as a daemon sends them. Two figures: the storing (until every
message is stored), and all the work (until also every mail queued meanwhile, the receipts, is accepted by the sink):
one daemon storing four mailboxes sends fewer receipts meanwhile than two daemons do, so the first figure
compares unequal work. SQLite allows one daemon per file, so with --db sqlite only one daemon runs (a second is refused).
The daemons run a copy of this tree's mailbridge/ taken at the start (edits made meanwhile change no run); with
`--base REV` the same runs are made with REV's tree too (its own migrations create its schema), the two sides in turn
within each round, on the same mail, Dovecot and PostgreSQL: an A/B on a shared, noisy machine.

    ./dev.sh bench fleet --daemons 1 2 --db postgresql --mailboxes 4 --messages 2000
    ./dev.sh bench fleet --daemons 1 2 4 --mailboxes 8 --messages 10000 [--parse-processes 0] [--lease-seconds 60]
    ./dev.sh bench fleet --daemons 1 2 --messages 10000 --rounds 2 --base main
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.ingest import (  # noqa: E402
    Side,
    chown_tree,
    load_average,
    machine,
    prepare_sides,
    side_env,
    status_mb,
    write_maildir,
)

SAMPLE_SECONDS = 0.25
ROLLED_BACK = re.compile(r"batch of \d+ rolled back \((\w+)")
FENCED = re.compile(r"poll stopped mailbox=\S+: lease of mailbox")


def user(k: int) -> str:
    return f"support{k}@bench.example"


def load_mailboxes(dovecot, messages: int, mailboxes: int, seed: int) -> int:
    """Write the messages into the users' Maildirs (as even as can be), let Dovecot index them; return the largest."""
    from tests.servers.dovecot import MAIL_UID

    largest = 0
    for k in range(mailboxes):
        count = messages // mailboxes + (1 if k < messages % mailboxes else 0)
        largest = max(largest, write_maildir(dovecot.base_dir / "mail" / user(k) / "Maildir", count, seed + k))
    chown_tree(dovecot.base_dir / "mail", MAIL_UID)
    for k in range(mailboxes):
        dovecot.add_user(user(k))
        with dovecot.client(user(k)) as client:
            client.select_folder("INBOX", readonly=True)  # Dovecot indexes the Maildir now, not during a run
    return largest


def config_text(db_url: str, dovecot, sink_port: int, args) -> str:
    text = f"""
[database]
url = "{db_url}"

[support]
from_address = "support@bench.example"

[smtp]
host = "127.0.0.1"
port = {sink_port}
security = "plain"

[daemon]
lease_seconds = {args.lease_seconds}

[ingest]
parse_processes = {args.parse_processes}
"""
    for k in range(args.mailboxes):
        text += f"""
[[mailboxes]]
name = "box{k}"
host = "127.0.0.1"
port = {dovecot.imaps_port}
security = "ssl"
ca_file = "{dovecot.ca_file}"
username = "{user(k)}"
password_env = "BENCH_IMAP_PASSWORD"
initial_sync = "import"
timeout_seconds = 60
"""
    return text


@dataclass
class Run:
    """What one fleet run measured."""

    daemons: int
    side: str = "new"  # "base" for a run of --base REV's tree
    round: int = 1
    seconds: float = 0.0  # from starting the processes to every message stored
    from_first: float = 0.0  # from the first sample with a stored message to every message stored
    stored: int = 0
    distinct: int = 0
    peak_rss_mb: dict[int, float] = field(default_factory=dict)  # pid -> daemon + its parse workers
    cpu: dict[int, float] = field(default_factory=dict)  # pid -> CPU seconds until every message was stored
    stored_by: Counter = field(default_factory=Counter)  # pid (0: the holder changed within a sample) -> messages
    log_counts: dict[int, Counter] = field(default_factory=dict)
    rollback_causes: Counter = field(default_factory=Counter)  # exception type -> batches rolled back
    receipts: int = 0
    load_start: str = ""
    load_end: str = ""
    # CPU seconds spent from the start of the processes until every message was stored: the machine as a whole
    # (busy and idle, from /proc/stat), and the other parts on it (see `other_cpu`).
    machine_busy: float = 0.0  # steal time included
    steal: float = 0.0
    machine_idle: float = 0.0
    others: dict[str, float] = field(default_factory=dict)
    # The same until all the work was done: every message stored and every mail the daemons queued meanwhile (the
    # receipts) accepted by the sink; one daemon sends fewer receipts while it stores than two do.
    seconds_all: float = 0.0
    cpu_all: dict[int, float] = field(default_factory=dict)
    machine_busy_all: float = 0.0
    machine_idle_all: float = 0.0
    others_all: dict[str, float] = field(default_factory=dict)
    queued_mail: int = 0  # outbox rows when all the work was done
    accepted_all: int = 0  # mails the sink accepted by then

    @property
    def rate(self) -> float:
        return self.stored / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms(self) -> float:
        return 1000 * sum(self.cpu.values()) / max(self.stored, 1)

    @property
    def rate_from_first(self) -> float:
        return self.stored / self.from_first if self.from_first else 0.0

    @property
    def rate_all(self) -> float:
        return self.stored / self.seconds_all if self.seconds_all else 0.0


def cpu_seconds(pid: int) -> float:
    """User and system CPU of a process and of its children that ended (the parse workers), in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # Fields 14-17 of proc(5): utime, stime, cutime, cstime; here counted from field 3 (the state) on.
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def children_of(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(child) for child in (task / "children").read_text().split()]
    return found


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and all its descendants (children that ended included, through their parent)."""
    total, todo, seen = 0.0, [pid], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        total += cpu_seconds(current)
        todo += children_of(current)
    return total


def steal_seconds() -> float:
    """CPU seconds the hypervisor gave to other guests while this machine wanted them, since boot (/proc/stat)."""
    return int(Path("/proc/stat").read_text().splitlines()[0].split()[8]) / os.sysconf("SC_CLK_TCK")


def machine_cpu() -> tuple[float, float]:
    """(busy, idle) CPU seconds of the whole machine since boot, from /proc/stat (idle includes iowait)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK"), idle / os.sysconf("SC_CLK_TCK")


def other_cpu(servers: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of the servers (name -> master pid, with their children) and of this process (the SMTP
    sink's thread, the sampling)."""
    found = {name: tree_cpu(pid) for name, pid in servers.items()}
    times = os.times()
    found["this process (SMTP sink, sampling)"] = times.user + times.system
    return found


def daemons_cpu(processes: list[subprocess.Popen]) -> dict[int, float]:
    """Each daemon's CPU seconds so far, its parse workers' added."""
    return {p.pid: cpu_seconds(p.pid) + sum(cpu_seconds(c) for c in children_of(p.pid)) for p in processes}


def stop_processes(processes: list[subprocess.Popen]) -> None:
    """SIGTERM each daemon still running (it finishes the batch in hand), then wait; SIGKILL after 60 s."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def sample(engine) -> tuple[dict[str, int], dict[str, int]]:
    """Messages stored per mailbox, and the pid of each mailbox's lease holder."""
    from sqlalchemy import text

    with engine.connect() as connection:
        counts = dict(
            connection.execute(
                text("SELECT mailbox, count(*) FROM message WHERE direction = 'in' GROUP BY mailbox")
            ).all()
        )
        holders = dict(
            connection.execute(
                text("SELECT l.mailbox, d.pid FROM mailboxlease l JOIN daemon d ON d.instance = l.holder")
            ).all()
        )
    return counts, holders


def wait_for_outbox(engine, sink, processes: list[subprocess.Popen], started: float, max_seconds: float) -> None:
    """Wait until no outbox mail is queued or being sent and the sink has accepted every mail marked sent."""
    from sqlalchemy import text

    while True:
        with engine.connect() as connection:
            unsent, sent = connection.execute(
                text(
                    "SELECT count(*) FILTER (WHERE status IN ('queued', 'sending')), "
                    "count(*) FILTER (WHERE status = 'sent') FROM outboxmail"
                )
            ).one()
        if not unsent and len(sink.messages) >= sent:
            return
        if any(process.poll() is not None for process in processes):
            sys.exit("bench: a daemon exited while the outbox was being sent")
        if time.monotonic() - started > max_seconds:
            sys.exit(f"bench: {unsent} outbox mails still unsent after {max_seconds} s")
        time.sleep(SAMPLE_SECONDS)


def run_fleet(
    count: int, round_: int, db_url: str, side: Side, folder: Path, dovecot, sink, args, servers: dict[str, int]
) -> Run:
    """Start `count` daemons on a fresh database and wait until every message is stored."""
    from sqlalchemy import create_engine, text

    folder.mkdir()
    config = folder / "mailbridge.toml"
    config.write_text(config_text(db_url, dovecot, sink.port, args), encoding="utf-8")
    env = side_env(side, dovecot.password)
    command = [sys.executable, "-m", "mailbridge", "--config", str(config)]
    subprocess.run([*command, "db", "upgrade"], env=env, cwd=folder, check=True, capture_output=True)
    for k in range(args.mailboxes):
        with dovecot.client(user(k)) as client:
            client.select_folder("INBOX")
            client.set_flags(client.search("ALL"), [], silent=True)
    engine = create_engine(db_url)
    sink.messages.clear()
    result = Run(count, side=side.label, round=round_, load_start=load_average())
    logs = [folder / f"daemon{n}.log" for n in range(count)]
    others_before, machine_before, steal_before = other_cpu(servers), machine_cpu(), steal_seconds()
    started = time.monotonic()
    processes = [
        subprocess.Popen([*command, "run"], env=env, cwd=folder, stdout=log.open("wb"), stderr=subprocess.STDOUT)
        for log in logs
    ]
    try:
        last_counts: dict[str, int] = {}
        last_holders: dict[str, int] = {}
        first_at = None
        while True:
            time.sleep(SAMPLE_SECONDS)
            for process in processes:
                if process.poll() is not None:
                    sys.exit(f"bench: daemon {process.pid} exited {process.returncode}:\n{logs[0].read_text()[-3000:]}")
                peak = status_mb(process.pid, "VmHWM") + sum(status_mb(c, "VmHWM") for c in children_of(process.pid))
                result.peak_rss_mb[process.pid] = max(result.peak_rss_mb.get(process.pid, 0.0), peak)
            counts, holders = sample(engine)
            now = time.monotonic()
            for mailbox, stored in counts.items():
                holder = holders.get(mailbox, 0)
                same = holder == last_holders.get(mailbox, holder)
                result.stored_by[holder if same else 0] += stored - last_counts.get(mailbox, 0)
            last_counts, last_holders = counts, holders
            total = sum(counts.values())
            if total and first_at is None:
                first_at = now
            if total >= args.messages:
                result.cpu.update(daemons_cpu(processes))
                others_after, (busy, idle) = other_cpu(servers), machine_cpu()
                result.others = {name: others_after[name] - others_before[name] for name in others_after}
                result.machine_busy, result.machine_idle = busy - machine_before[0], idle - machine_before[1]
                result.steal = steal_seconds() - steal_before
                result.seconds, result.from_first = now - started, now - (first_at or started)
                break
            if now - started > args.max_seconds:
                sys.exit(f"bench: {total} of {args.messages} stored after {args.max_seconds} s")
        result.receipts = len(sink.messages)
        wait_for_outbox(engine, sink, processes, started, args.max_seconds)
        result.seconds_all, result.accepted_all = time.monotonic() - started, len(sink.messages)
        result.cpu_all.update(daemons_cpu(processes))
        others_after, (busy, idle) = other_cpu(servers), machine_cpu()
        result.others_all = {name: others_after[name] - others_before[name] for name in others_after}
        result.machine_busy_all, result.machine_idle_all = busy - machine_before[0], idle - machine_before[1]
        result.load_end = load_average()
        with engine.connect() as connection:
            result.stored, result.distinct = connection.execute(
                text("SELECT count(*), count(DISTINCT message_id) FROM message WHERE direction = 'in'")
            ).one()
            result.queued_mail = connection.execute(text("SELECT count(*) FROM outboxmail")).scalar_one()
    finally:
        stop_processes(processes)
        engine.dispose()
    for process, log in zip(processes, logs, strict=True):
        lines = log.read_text(errors="replace")
        result.rollback_causes.update(ROLLED_BACK.findall(lines))
        result.log_counts[process.pid] = Counter(
            {
                "rolled back": len(ROLLED_BACK.findall(lines)),
                "fenced": len(FENCED.findall(lines)),
                "taken": lines.count("lease taken mailbox="),
                "released": lines.count("lease released mailbox="),
            }
        )
    return result


def print_run(run: Run) -> None:
    print(
        f"\n{run.side}, {run.daemons} {'daemon' if run.daemons == 1 else 'daemons'}: {run.stored} stored "
        f"({run.distinct} distinct Message-IDs) in {run.seconds:.1f} s from the start of the processes = "
        f"{run.rate:.0f} messages/s; {run.from_first:.1f} s from the first stored message = "
        f"{run.rate_from_first:.0f} messages/s"
    )
    print(
        f"  CPU of all daemons: {sum(run.cpu.values()):.1f} s, {run.cpu_ms:.1f} ms per message "
        "(user + system, parse workers included; the database, Dovecot and the sink not counted)"
    )
    for pid, peak in run.peak_rss_mb.items():
        counts = run.log_counts.get(pid, Counter())
        print(
            f"  daemon pid {pid}: peak RSS {peak:.1f} MB, CPU {run.cpu.get(pid, 0.0):.1f} s, "
            f"stored {run.stored_by.get(pid, 0)}, "
            f"leases taken {counts['taken']} released {counts['released']}, "
            f"batches rolled back {counts['rolled back']}, polls fenced {counts['fenced']}"
        )
    if run.rollback_causes:
        causes = ", ".join(f"{name} {count}" for name, count in run.rollback_causes.most_common())
        print(f"  batches rolled back by cause (each then stored one message per transaction): {causes}")
    if run.stored_by.get(0):
        print(f"  stored while the holder changed within a sample (not attributed): {run.stored_by[0]}")
    print(f"  receipts accepted by the sink by then: {run.receipts}")
    if run.machine_busy:
        cores = (run.machine_busy + run.machine_idle) / run.seconds if run.seconds else 0.0
        daemons = sum(run.cpu.values())
        parts = ", ".join(
            f"{name} {cpu:.1f} s ({1000 * cpu / max(run.stored, 1):.1f} ms/msg)" for name, cpu in run.others.items()
        )
        rest = run.machine_busy - daemons - sum(run.others.values())
        print(
            f"  machine CPU until every message was stored: busy {run.machine_busy:.1f} s, idle {run.machine_idle:.1f} s "
            f"({100 * run.machine_busy / (run.machine_busy + run.machine_idle):.0f}% of {cores:.0f} cores); "
            f"daemons {daemons:.1f} s, {parts}, everything else {rest:.1f} s (of which stolen by the hypervisor "
            f"{run.steal:.1f} s)"
        )
    if run.seconds_all:
        busy, idle = run.machine_busy_all, run.machine_idle_all
        database = run.others_all.get("PostgreSQL", 0.0)
        print(
            f"  all the work done (every message stored, and the {run.queued_mail} mails queued accepted by the sink: "
            f"{run.accepted_all}) after {run.seconds_all:.1f} s = {run.rate_all:.0f} "
            f"messages/s; daemons' CPU {sum(run.cpu_all.values()):.1f} s "
            f"({1000 * sum(run.cpu_all.values()) / max(run.stored, 1):.1f} ms/msg), PostgreSQL {database:.1f} s "
            f"({1000 * database / max(run.stored, 1):.1f} ms/msg), machine {100 * busy / max(busy + idle, 1e-9):.0f}% busy"
        )
    print(f"  load average (1 / 5 / 15 min): {run.load_start} at start, {run.load_end} at end", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--daemons", type=int, nargs="+", default=[1, 2], help="daemon counts to run (default 1 2)")
    parser.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--mailboxes", type=int, default=4, help="Dovecot users, one [[mailboxes]] each (default 4)")
    parser.add_argument("--messages", type=int, default=10000, help="messages in all (default 10000)")
    parser.add_argument("--parse-processes", type=int, default=0, help="[ingest] parse_processes (default 0)")
    parser.add_argument("--lease-seconds", type=float, default=60, help="[daemon] lease_seconds (default 60)")
    parser.add_argument("--rounds", type=int, default=1, help="runs per daemon count, in turn (default 1)")
    parser.add_argument("--base", metavar="REV", help="also run REV's tree (a git worktree), in turn with this one")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-seconds", type=float, default=1800, help="give up after this long per run")
    args = parser.parse_args()
    counts = list(args.daemons)
    if args.db == "sqlite" and any(n > 1 for n in counts):
        print("sqlite: one daemon per SQLite file (a second `mailbridge run` is refused); only 1 daemon runs")
        counts = [1]
    from tests.servers.dovecot import start_dovecot
    from tests.servers.postgres import start_postgres
    from tests.servers.smtp_sink import start_smtp_sink

    print(f"machine: {machine()}; load average at start {load_average()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="mailbridge-bench-fleet-") as tmp, contextlib.ExitStack() as stack:
        base = Path(tmp)
        os.chmod(base, 0o755)
        sides, header = prepare_sides(base, args.base, stack)
        started = time.perf_counter()
        dovecot = start_dovecot(base / "dovecot")
        stack.callback(dovecot.stop)
        largest = load_mailboxes(dovecot, args.messages, args.mailboxes, args.seed)
        sink = start_smtp_sink()
        stack.callback(sink.stop)
        postgres = None
        if args.db == "postgresql":
            postgres = start_postgres(base / "postgres")
            stack.callback(postgres.stop)
        print(
            "\n".join(header) + f"\nmail: {args.messages} messages over {args.mailboxes} mailboxes, largest "
            f"{largest / 1024:.1f} KB, loaded into Dovecot in {time.perf_counter() - started:.1f} s; "
            f"database {args.db}; parse_processes {args.parse_processes}; lease_seconds {args.lease_seconds:g}",
            flush=True,
        )
        runs: list[Run] = []
        for round_ in range(1, args.rounds + 1):
            for side in sides:
                for count in counts:
                    name = f"fleet_{side.label}_{count}_{round_}"
                    url = postgres.create_database(name) if postgres else f"sqlite:///{base / name}.db"
                    servers = {"Dovecot": dovecot.pid} | ({"PostgreSQL": postgres.pid} if postgres else {})
                    runs.append(run_fleet(count, round_, url, side, base / name, dovecot, sink, args, servers))
                    print_run(runs[-1])
    print_summary(runs)


def print_summary(runs: list[Run]) -> None:
    print(
        "\nround  side  daemons  stored/s (from start)  stored/s (from first stored)  x one daemon (same side and round)"
        "  all work done: messages/s  x one  CPU ms/message  PostgreSQL ms/message  machine busy  load at start"
    )
    for run in runs:
        one = [r for r in runs if r.daemons == 1 and r.side == run.side and r.round == run.round]
        ratio = f"{run.rate / one[0].rate:.2f}x" if one and one[0].rate else "-"
        ratio_all = f"{run.rate_all / one[0].rate_all:.2f}x" if one and one[0].rate_all else "-"
        database = 1000 * run.others.get("PostgreSQL", 0.0) / max(run.stored, 1)
        total = run.machine_busy + run.machine_idle
        busy = f"{100 * run.machine_busy / total:.0f}%" if total else "-"
        print(
            f"{run.round:>5}  {run.side:<4}  {run.daemons:>7}  {run.rate:>21.0f}  {run.rate_from_first:>28.0f}  {ratio:>35}"
            f"  {run.rate_all:>25.0f}  {ratio_all:>5}  {run.cpu_ms:>14.1f}  {database:>21.1f}  {busy:>12}  {run.load_start}"
        )
    print(
        "stored/s: until every message was stored (CPU and machine busy: the same span); all work done: until also "
        "every mail queued meanwhile (the receipts) was accepted by the sink"
    )


if __name__ == "__main__":
    main()
