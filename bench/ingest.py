"""Benchmark: N realistic messages through a throwaway Dovecot, ingested over IMAPS into SQLite.

Generates multipart mail with attachments (2 KB to 100 KB), non-ASCII headers in eight languages
and 20% replies, writes it into the Maildir of a local Dovecot before its first login, then times
the real poll (build_app + scheduler.poll_mailboxes: IMAPS fetch, parse in the worker, thread, store,
one commit per fetched batch, flag \\Seen) in a child process and prints messages/second, that process's
peak RSS, the peak RSS of its child processes and the peak PSS of all of them together.
Receipts are queued in the outbox and not sent, so SMTP is not part of the figure.

With --base REF it is an A/B run: REF is checked out as a git worktree (removed at the end) and its mailbridge runs
in the child with the same venv and PYTHONPATH=<worktree>, on the same generated mail as this working tree (whose
mailbridge/ is copied at the start, so that edits made meanwhile change no run), the two sides in turn (A B A B ...)
for --rounds rounds, each run into a fresh SQLite store with the flags on the server cleared; it prints every run,
the medians per side and new / base, and the load average at start and end.

    ./dev.sh bench ingest [--messages 10000] [--parse-processes 1] [--profile FILE]
    ./dev.sh bench ingest --messages 2000 --rounds 3 --base 781b686
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

USER = "support@bench.example"
TARGET_RATE = 300.0
TARGET_RSS_MB = 150.0
PEOPLE = [
    (
        "Giulia Bianchi",
        "Ordine {n} non arrivato – è urgente",
        "Buongiorno, il mio ordine non è ancora arrivato. Potete verificare? Grazie mille.",
    ),
    (
        "Petr Dvořák",
        "Reklamace: poškozené zboží č. {n}",
        "Dobrý den, zásilka dorazila poškozená. Prosím o výměnu. Děkuji, Petr.",
    ),
    (
        "Γιώργος Παπαδόπουλος",
        "Πρόβλημα με την παραγγελία {n}",
        "Καλησπέρα, η παραγγελία μου δεν έχει φτάσει ακόμα. Ευχαριστώ πολύ.",
    ),
    (
        "Jürgen Müller",
        "Rücksendung für Bestellung {n}",
        "Guten Tag, ich möchte die Ware zurückschicken. Mit freundlichen Grüßen",
    ),
    ("山田太郎", "注文{n}について", "こんにちは。注文した商品がまだ届いていません。確認をお願いします。"),
    ("Иван Петров", "Вопрос по заказу {n}", "Здравствуйте! Мой заказ ещё не пришёл. Подскажите, пожалуйста, сроки."),
    (
        "Éloïse Lefèvre",
        "Facture erronée – commande {n}",
        "Bonjour, la facture ne correspond pas à ma commande. Merci d'avance.",
    ),
    (
        "Anna Smith",
        "Order {n} has not arrived",
        "Hello, my order has not arrived yet. Could you check the tracking? Thanks.",
    ),
]
ATTACHMENTS = [
    ("application", "pdf", "invoice.pdf"),
    ("image", "png", "foto_paketu.png"),
    ("image", "jpeg", "φωτογραφία.jpg"),
    ("application", "octet-stream", "log.bin"),
]


def build_message(
    n: int, rng: random.Random, earlier: list[tuple[str, str, str, str]], when: datetime
) -> tuple[bytes, tuple]:
    """Build message n; one in five replies to an earlier one of the same sender."""
    name, subject, body = rng.choice(PEOPLE)
    address, subject = f"customer{n}@example.org", subject.format(n=n)
    reply_to = rng.choice(earlier) if earlier and rng.random() < 0.2 else None
    message = EmailMessage()
    if reply_to:
        address, name, subject = reply_to[1], reply_to[2], "Re: " + reply_to[3]
        message["In-Reply-To"] = reply_to[0]
        message["References"] = reply_to[0]
    message_id = make_msgid(domain="example.org")
    message["From"] = f"{name} <{address}>"
    message["To"] = USER
    message["Subject"] = subject
    message["Date"] = format_datetime(when)
    message["Message-ID"] = message_id
    message.set_content(f"{body}\n\n" + "\n".join(rng.choice(PEOPLE)[2] for _ in range(rng.randint(2, 12))))
    if rng.random() < 0.5:
        message.add_alternative(f"<html><body><p>{body}</p><p><b>{subject}</b></p></body></html>", subtype="html")
    for _ in range(rng.choice((0, 0, 0, 1, 1, 2))):
        maintype, subtype, filename = rng.choice(ATTACHMENTS)
        size = int(2048 * (50 ** rng.random()))  # log-uniform 2 KB .. 100 KB
        message.add_attachment(rng.randbytes(size), maintype=maintype, subtype=subtype, filename=filename)
    raw = message.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    return raw, (message_id, address, name, subject)


def write_maildir(maildir: Path, count: int, seed: int) -> int:
    """Write `count` messages into maildir/cur, one file at a time; return the largest size."""
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    rng, earlier, largest = random.Random(seed), [], 0
    start = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    for n in range(count):
        raw, meta = build_message(n, rng, earlier, start + timedelta(seconds=n))
        earlier = (earlier + [meta])[-500:]
        largest = max(largest, len(raw))
        # ",S=" tells Dovecot the size, so its first sync need not read every file.
        (maildir / "cur" / f"{1764000000 + n}.M{n}P1.bench,S={len(raw)}:2,").write_bytes(raw)
    return largest


def chown_tree(path: Path, uid: int) -> None:
    for root, dirs, files in os.walk(path):
        for name in [*dirs, *files]:
            os.chown(os.path.join(root, name), uid, uid)
    os.chown(path, uid, uid)


def config_text(base: Path, dovecot, parse_processes: int = 1) -> str:
    return f"""
[ingest]
parse_processes = {parse_processes}

[database]
url = "sqlite:///{base}/bench.db"

[support]
from_address = "{USER}"

[smtp]
host = "127.0.0.1"
port = 9
security = "plain"

[[mailboxes]]
name = "bench"
host = "127.0.0.1"
port = {dovecot.imaps_port}
security = "ssl"
ca_file = "{dovecot.ca_file}"
username = "{USER}"
password_env = "BENCH_IMAP_PASSWORD"
initial_sync = "import"
"""


def load_mail(base: Path, count: int, seed: int):
    """Start Dovecot with `count` messages in the user's INBOX; return (server, largest, seconds)."""
    from tests.servers.dovecot import MAIL_UID, start_dovecot

    started = time.perf_counter()
    dovecot = start_dovecot(base / "dovecot")
    maildir = dovecot.base_dir / "mail" / USER / "Maildir"
    largest = write_maildir(maildir, count, seed)
    chown_tree(dovecot.base_dir / "mail", MAIL_UID)
    dovecot.add_user(USER)
    with dovecot.client(USER) as client:
        # The first SELECT makes Dovecot index the Maildir; that is loading, not ingesting.
        client.select_folder("INBOX", readonly=True)
        assert len(client.search("ALL")) == count
    return dovecot, largest, time.perf_counter() - started


def status_mb(pid: int | str, key: str = "VmRSS") -> float:
    """A /proc/PID/status memory line (VmRSS, or VmHWM: the peak RSS) in MB; 0 when the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def pss_mb(pid: int | str) -> float:
    """Proportional set size in MB: shared pages split between the processes sharing them, so PSS adds up."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def child_pids() -> list[int]:
    """The processes this one started: the parse worker, and multiprocessing's resource tracker."""
    found = []
    for task in Path("/proc/self/task").iterdir():
        try:
            found += [int(pid) for pid in (task / "children").read_text().split()]
        except OSError:
            pass  # the thread ended meanwhile
    return found


def child_name(pid: int) -> str:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return "gone"
    return "resource tracker" if "resource_tracker" in command else "parse worker"


class MemorySampler(threading.Thread):
    """Samples this process's RSS and the PSS of it and its children every 0.5 s: does memory grow across batches?"""

    def __init__(self):
        super().__init__(daemon=True)
        self.samples: list[float] = []
        self.total_pss_peak = 0.0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.5):
            self.samples.append(status_mb("self"))
            total = pss_mb("self") + sum(pss_mb(pid) for pid in child_pids())
            self.total_pss_peak = max(self.total_pss_peak, total)


class RateRecorder:
    """A ProgressReporter that notes when each batch was done, to show whether the rate holds as the store grows."""

    def __init__(self):
        self.marks: list[tuple[float, int]] = []
        self.done = 0

    def start(self, label: str, total: int) -> None:
        self.marks.append((time.perf_counter(), 0))

    def advance(self, count: int) -> None:
        self.done += count
        self.marks.append((time.perf_counter(), self.done))

    def finish(self) -> None:
        pass

    def quarter_rates(self) -> list[float]:
        """Messages/s within each quarter of the messages."""
        if len(self.marks) < 2:
            return []
        total, rates, start = self.done, [], self.marks[0]
        for quarter in (1, 2, 3, 4):
            end = next(m for m in self.marks if m[1] >= total * quarter / 4)
            rates.append((end[1] - start[1]) / max(end[0] - start[0], 1e-9))
            start = end
        return rates


def ingest_child(config: Path, profile: str | None) -> None:
    """In a fresh process: build the app and time one poll of the mailbox; print JSON."""
    import mailbridge
    from mailbridge.base.config.settings import load_settings
    from mailbridge.ingest.poll import poll_mailbox
    from mailbridge.runtime.app import build_app
    from mailbridge.runtime.jobs import poll_mailboxes

    logging.basicConfig(filename=str(config.parent / "mailbridge.log"), level=logging.INFO)
    logging.getLogger("mailparser").setLevel(logging.ERROR)
    app = build_app(load_settings(config))
    app.progress = RateRecorder()
    sampler = MemorySampler()
    sampler.start()
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    started = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = before.ru_utime + before.ru_stime
    if profiler:
        # cProfile sees only its own thread, so the poll the scheduler runs in a worker thread runs here.
        results, errors = (
            [
                poll_mailbox(
                    app.poller, app.inbox(app.settings.mailboxes[0]), app.settings.mailboxes[0], app.clock.now()
                )
            ],
            [],
        )
    else:
        results, errors = asyncio.run(poll_mailboxes(app))
    seconds = time.perf_counter() - started
    if profiler:
        profiler.disable()
        profiler.dump_stats(profile)
    sampler.stop.set()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak_kb = usage.ru_maxrss
    print(
        json.dumps(
            {
                "seconds": seconds,
                "stored": sum(r.stored for r in results),
                "failed": sum(r.failed for r in results),
                "errors": errors,
                "peak_rss_mb": peak_kb / 1024,
                "poller_cpu_seconds": usage.ru_utime + usage.ru_stime - cpu_before,
                "rss_samples_mb": sampler.samples,
                # Peak RSS of each child, exact (VmHWM): the worker is still running here.
                "children_peak_rss_mb": [(child_name(pid), status_mb(pid, "VmHWM")) for pid in child_pids()],
                "total_peak_pss_mb": sampler.total_pss_peak,
                "quarter_rates": app.progress.quarter_rates(),
                "mailbridge_file": mailbridge.__file__,
            }
        )
    )


def cpu_probe() -> float:
    """Seconds for a fixed pure-Python loop: how fast this machine is right now (shared hosts vary a lot)."""
    started = time.process_time()
    total = 0
    for n in range(10_000_000):
        total += n
    return time.process_time() - started


def quartiles(samples: list[float]) -> str:
    if not samples:
        return "n/a"
    picks = [samples[min(len(samples) - 1, int(len(samples) * q))] for q in (0.25, 0.5, 0.75, 1.0)]
    return " / ".join(f"{s:.0f}" for s in picks)


@dataclass
class Side:
    """One mailbridge under test: the tree its child imports mailbridge from, and the report of each of its runs."""

    label: str
    tree: Path
    reports: list[dict] = field(default_factory=list)


def side_env(side: Side, imap_password: str) -> dict[str, str]:
    """The child's environment: PYTHONPATH=<the side's tree>, which comes before the venv's editable install."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return {**env, "PYTHONPATH": str(side.tree), "BENCH_IMAP_PASSWORD": imap_password}


def check_import_path(side: Side, folder: Path) -> None:
    """Stop unless `import mailbridge` resolves into the side's own tree under its environment."""
    code = "import mailbridge; print(mailbridge.__file__)"
    # Run from a folder outside both trees: `python -c` puts the working directory first on sys.path.
    done = subprocess.run(
        [sys.executable, "-c", code], env=side_env(side, ""), cwd=folder, capture_output=True, text=True
    )
    found = Path(done.stdout.strip() or "?").resolve()
    if done.returncode != 0 or not found.is_relative_to(side.tree.resolve()):
        sys.exit(f"bench: {side.label}: `import mailbridge` resolves to {found}, not into {side.tree}\n{done.stderr}")


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, check=True, capture_output=True, text=True).stdout.strip()


def check_out(ref: str, tree: Path, stack: contextlib.ExitStack) -> str:
    """Check out ref as a detached git worktree at tree, removed when the stack closes; return its commit."""
    commit = git("rev-parse", "--verify", ref + "^{commit}")
    git("worktree", "add", "--detach", str(tree), commit)
    stack.callback(git, "worktree", "remove", "--force", str(tree))
    compile_tree(tree)
    return commit


def compile_tree(tree: Path) -> None:
    """Write the .pyc files of tree's mailbridge now, so that no timed run pays for compiling it."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree / "mailbridge")], check=True)


def clear_flags(dovecot) -> None:
    """Take every flag off the INBOX's messages, so that each run finds and marks them as the first one did."""
    with dovecot.client(USER) as client:
        client.select_folder("INBOX")
        client.set_flags(client.search("ALL"), [], silent=True)


def run_ingest(side: Side, folder: Path, dovecot, parse_processes: int, profile: str | None) -> dict:
    """Ingest the whole INBOX once into a new SQLite store in folder, in a child importing the side's mailbridge."""
    folder.mkdir()
    config = folder / "mailbridge.toml"
    config.write_text(config_text(folder, dovecot, parse_processes), encoding="utf-8")
    command = [sys.executable, __file__, "--ingest-child", str(config)]
    command += ["--profile", profile] if profile else []
    child = subprocess.run(command, env=side_env(side, dovecot.password), capture_output=True, text=True, cwd=folder)
    if child.returncode != 0:
        sys.exit(f"bench: {side.label}: ingest failed:\n{child.stderr[-3000:]}")
    report = json.loads(child.stdout.strip().splitlines()[-1])
    if not Path(report["mailbridge_file"]).resolve().is_relative_to(side.tree.resolve()):
        sys.exit(f"bench: {side.label}: the child ran {report['mailbridge_file']}, not the tree {side.tree}")
    return report


def machine() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        "unknown CPU",
    )
    return f"{os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {model}, Python {sys.version.split()[0]}"


def load_average() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10000, help="how many messages (default 10000)")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the generated mail")
    parser.add_argument(
        "--profile", help="write cProfile stats of the ingest to this file (one round; with --base FILE.base, FILE.new)"
    )
    parser.add_argument("--parse-processes", type=int, default=1, help="[ingest] parse_processes (default 1)")
    parser.add_argument("--base", help="git ref to compare with (A/B in one run); default: this tree alone")
    parser.add_argument("--rounds", type=int, default=1, help="runs per side, the sides in turn (default 1)")
    parser.add_argument("--ingest-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ingest_child:
        ingest_child(Path(args.ingest_child), args.profile)
        return
    if args.profile and args.rounds != 1:
        parser.error("--profile takes one round: leave out --rounds")
    # This process needs the test servers; a child imports mailbridge only from its side's PYTHONPATH.
    sys.path.insert(0, str(REPO))
    load_before, probe_before = load_average(), cpu_probe()
    with tempfile.TemporaryDirectory(prefix="mailbridge-bench-") as tmp, contextlib.ExitStack() as stack:
        base = Path(tmp)
        os.chmod(base, 0o755)
        sides, header = prepare_sides(base, args.base, stack)
        dovecot, largest, load_seconds = load_mail(base, args.messages, args.seed)
        stack.callback(dovecot.stop)
        run_rounds(sides, base, dovecot, args)
    if len(sides) == 1 and args.rounds == 1:
        print_report(args.messages, largest, load_seconds, sides[0].reports[0])
        print(
            f"CPU probe:         {probe_before:.2f} s before, {cpu_probe():.2f} s after (a fixed loop; "
            "compare runs only at similar values)"
        )
        return
    header += [
        f"mail: {args.messages} messages (seed {args.seed}), largest {largest / 1024:.1f} KB, loaded into Dovecot in "
        f"{load_seconds:.1f} s; every run: a fresh child, a new SQLite store, the server's flags cleared before, "
        f"parse_processes {args.parse_processes}",
        f"machine: {machine()}",
        f"load average (1 / 5 / 15 min): {load_before} at start, {load_average()} at end",
        f"CPU probe (a fixed loop): {probe_before:.2f} s at start, {cpu_probe():.2f} s at end",
    ]
    print_rounds(sides, args.rounds, largest, header)


def prepare_sides(base: Path, ref: str | None, stack: contextlib.ExitStack) -> tuple[list[Side], list[str]]:
    """The sides, base first when there is one, each checked to import its own tree; and the lines naming them."""
    # The working tree as it is now: other engineers may edit or commit in it while the runs go on.
    shutil.copytree(REPO / "mailbridge", base / "new-tree" / "mailbridge", ignore=shutil.ignore_patterns("__pycache__"))
    compile_tree(base / "new-tree")
    sides = [Side("new", base / "new-tree")]
    head = f"HEAD {git('rev-parse', '--short', 'HEAD')}{dirty_note()}"
    header = [f"new:  this working tree ({head}), its mailbridge/ copied at the start (PYTHONPATH=<the copy>)"]
    if ref:
        commit = check_out(ref, base / "base-tree", stack)
        subject = textwrap.shorten(git("log", "-1", "--format=%h %s", commit), 100)
        header.insert(0, f"base: {subject} (PYTHONPATH=<its worktree>)")
        sides.insert(0, Side("base", base / "base-tree"))
    for side in sides:
        check_import_path(side, base)
    return sides, header


def run_rounds(sides: list[Side], base: Path, dovecot, args) -> None:
    """Ingest the whole INBOX `args.rounds` times per side, the sides in turn (A B A B ...)."""
    for round_ in range(1, args.rounds + 1):
        for side in sides:
            clear_flags(dovecot)
            load = load_average()
            folder = base / f"{side.label}-{round_}"
            profile = args.profile and str(Path(args.profile).resolve()) + (f".{side.label}" if args.base else "")
            report = run_ingest(side, folder, dovecot, args.parse_processes, profile or None)
            side.reports.append({**report, "load_at_start": load})
            shutil.rmtree(folder)  # one store at a time on the disk
            print(
                f"round {round_}/{args.rounds} {side.label}: {rate_of(report):.0f} messages/s, "
                f"load average {load_average()}",
                file=sys.stderr,
            )


def dirty_note() -> str:
    return " with uncommitted changes" if git("status", "--porcelain", "--untracked-files=no") else ""


def rate_of(report: dict) -> float:
    return report["stored"] / report["seconds"]


def worker_mb(report: dict) -> float:
    return max((mb for name, mb in report["children_peak_rss_mb"] if name == "parse worker"), default=0.0)


def cpu_ms(report: dict) -> float:
    return 1000 * report["poller_cpu_seconds"] / max(report["stored"], 1)


COLUMNS = [
    # (heading, width, figure of one run, format)
    ("messages/s", 11, rate_of, "{:.0f}"),
    ("seconds", 8, lambda r: r["seconds"], "{:.1f}"),
    ("CPU ms/msg", 11, cpu_ms, "{:.2f}"),
    ("peak RSS MB", 12, lambda r: r["peak_rss_mb"], "{:.1f}"),
    ("worker MB", 10, worker_mb, "{:.1f}"),
    ("all PSS MB", 11, lambda r: r["total_peak_pss_mb"], "{:.1f}"),
]


def print_rounds(sides: list[Side], rounds: int, largest: int, header: list[str]) -> None:
    """Every run in the order run, then the median per side and, with a base, new / base."""
    print("\n".join(header))
    print()
    print(
        f"{'round':<6}{'side':<6}" + "".join(f"{h:>{w}}" for h, w, _, _ in COLUMNS) + "  stored  failed  load at start"
    )
    for round_ in range(rounds):
        for side in sides:
            report = side.reports[round_]
            figures = "".join(f"{form.format(get(report)):>{w}}" for _, w, get, form in COLUMNS)
            print(
                f"{round_ + 1:<6}{side.label:<6}{figures}{report['stored']:>8}{report['failed']:>8}  "
                f"{report['load_at_start']}"
            )
    print()
    medians = {
        side.label: [statistics.median(get(r) for r in side.reports) for _, _, get, _ in COLUMNS] for side in sides
    }
    for label, values in medians.items():
        print(
            f"{'median ' + label:<12}"
            + "".join(f"{form.format(v):>{w}}" for v, (_, w, _, form) in zip(values, COLUMNS, strict=True))
        )
    if len(sides) == 2:
        ratios = [new / old if old else float("nan") for old, new in zip(medians["base"], medians["new"], strict=True)]
        print(
            f"{'new / base':<12}"
            + "".join(f"{f'{r:.2f}x':>{w}}" for r, (_, w, _, _) in zip(ratios, COLUMNS, strict=True))
        )
    budget = TARGET_RSS_MB + largest / 2**20
    print(
        f"\nmedian of {rounds} runs per side; peak RSS is the poller's (ru_maxrss), worker the parse worker's (VmHWM), "
        f"all PSS the peak of all of them together; targets: >= {TARGET_RATE:.0f} messages/s, "
        f"< {budget:.1f} MB (150 MB + the largest message)"
    )


def print_report(count: int, largest: int, load_seconds: float, report: dict) -> None:
    rate = report["stored"] / report["seconds"]
    budget = TARGET_RSS_MB + largest / 2**20
    print(f"messages:          {count} generated and loaded into Dovecot in {load_seconds:.1f} s")
    print(f"largest message:   {largest / 1024:.1f} KB")
    print(
        f"ingested:          {report['stored']} stored, {report['failed']} failed in {report['seconds']:.1f} s "
        f"(IMAPS -> SQLite, receipts queued, not sent)"
    )
    print(
        f"rate:              {rate:.0f} messages/s (target >= {TARGET_RATE:.0f}) {'OK' if rate >= TARGET_RATE else 'MISSED'}"
    )
    print(
        f"poller CPU:        {report['poller_cpu_seconds']:.1f} s, {1000 * report['poller_cpu_seconds'] / max(report['stored'], 1):.2f} ms "
        f"per message ({100 * report['poller_cpu_seconds'] / report['seconds']:.0f}% of one core)"
    )
    print(
        f"poller peak RSS:   {report['peak_rss_mb']:.1f} MB (target < {budget:.1f} MB) "
        f"{'OK' if report['peak_rss_mb'] < budget else 'MISSED'}"
    )
    children = ", ".join(f"{name} {mb:.1f} MB" for name, mb in report["children_peak_rss_mb"]) or "none"
    print(f"child processes:   peak RSS {children}")
    print(
        f"all processes:     {report['total_peak_pss_mb']:.1f} MB PSS at most (target < {budget:.1f} MB) "
        f"{'OK' if report['total_peak_pss_mb'] < budget else 'MISSED'}; PSS counts each shared page once, "
        "so it adds up across processes (sampled every 0.5 s)"
    )
    print(f"RSS at 25/50/75/100% of the run: {quartiles(report['rss_samples_mb'])} MB")
    print(
        "rate per quarter of the messages: " + " / ".join(f"{r:.0f}" for r in report["quarter_rates"]) + " messages/s"
    )
    if report["errors"]:
        print(f"errors:            {report['errors']}")


if __name__ == "__main__":
    main()
