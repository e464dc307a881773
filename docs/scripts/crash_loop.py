#!/usr/bin/env python3
"""Crash loops and a full disk against a real leuknode (issue 16; docs/reliability.md, "Crash loops").

    docs/scripts/crash_loop.py [path/to/leuknode] [--runs N] [--seed S] [--no-disk-full]

Runs (CRASH_RUNS, default 100) times: clinic traffic runs against a node's HTTP API (doctors publish slots
and diagnose, patients book, cancel and write messages; every record acknowledged with a 2xx is logged),
the node is killed with SIGKILL at a seeded random moment, restarted, and checked: every acknowledged
record is there (a cancellation acknowledged stays cancelled), the audit chain verifies
(GET /v1/audit/verify), the served model loads (GET /v1/model is a readable safetensors file), and no slot
has two active appointments. The checked node carries the next run's traffic.

Then, where this machine lets it mount (root and `mount -t tmpfs`), the disk-full scenario: a node whose data
directory is a small tmpfs gets traffic while a ballast file fills the tmpfs; it must refuse writes with
507 and the documented message (never 500), keep every acknowledged record, write again once the ballast
is gone, and survive a kill -9 and restart with everything acknowledged and its audit chain intact.
Skipped with a message where mounting is not permitted.

Prints one summary line (runs, kills, acknowledged records checked, failures) and exits 1 on any failure.
Python 3 standard library only.
"""
import argparse
import base64
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone

ACTIVE = {"requested", "confirmed", "rescheduled"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    """One leuknode process on a data directory; start, SIGKILL, restart."""

    def __init__(self, binary, data_dir, dataset, log_path):
        self.binary, self.data_dir, self.dataset, self.log_path = binary, data_dir, dataset, log_path
        self.process = None
        self.api_port = None

    def init(self, name):
        self.api_port = free_port()
        subprocess.run([self.binary, "init", "--data-dir", self.data_dir, "--listen", f"127.0.0.1:{free_port()}",
                        "--api", f"127.0.0.1:{self.api_port}", "--name", name], check=True, stdout=subprocess.DEVNULL)

    def start(self, timeout=60):
        log = open(self.log_path, "ab")
        marker = f"API on 127.0.0.1:{self.api_port}".encode()
        offset = os.path.getsize(self.log_path)
        # 16 images leave too few validation images to check a model: such a site holds by default and answers
        # every diagnosis 503, so this throwaway node follows the federation unchecked (as schemathesis.sh's).
        self.process = subprocess.Popen([self.binary, "start", "--data-dir", self.data_dir, "--dataset", self.dataset,
                                         "--rounds", "1", "--partial-validation", "follow"],
                                        stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                if marker in f.read():
                    return
            if self.process.poll() is not None:
                raise RuntimeError(f"the node exited ({self.process.returncode}) before serving; see {self.log_path}")
            time.sleep(0.05)
        raise RuntimeError(f"the node did not serve its API within {timeout} s; see {self.log_path}")

    def kill9(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill9()

    @property
    def operator_token(self):
        with open(os.path.join(self.data_dir, "admin.token")) as f:
            return f.read().strip()


def request(port, method, path, token=None, body=None, timeout=30, connection=None):
    """One request; returns (status, parsed JSON or raw bytes). Raises OSError/HTTPException when the node is gone."""
    conn = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    elif method == "POST":
        headers["Content-Length"] = "0"
    try:
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        raw = response.read()
    finally:
        if connection is None:
            conn.close()
    kind = response.getheader("Content-Type") or ""
    return response.status, (json.loads(raw) if raw and kind.startswith("application/json") else raw)


class Clinic:
    """The people of the test and everything the node acknowledged to them."""

    def __init__(self, port, operator, image_b64, rng):
        self.port, self.operator, self.image_b64 = port, operator, image_b64
        self.lock = threading.Lock()
        self.password = "crash-" + "".join(rng.choice("abcdef0123456789") for _ in range(16))
        self.doctors, self.patients = {}, {}  # name -> token
        self.slots = {}  # slot id -> doctor name
        self.appointments = {}  # appointment id -> {"slot", "patient", "doctor", "cancelled"}
        self.messages = {}  # message id -> (appointment id, patient name)
        self.diagnoses = {}  # diagnosis id -> (patient name, doctor name)
        self.next_slot = {}  # doctor name -> index of its next slot
        self.ack_log = None
        self.recent = set()  # ids acknowledged (or cancelled) since the last check
        self.refusals = {}  # status -> count of refused requests (not acknowledged; 409 races, 503 before a model)

    def acknowledge(self, kind, record):
        with self.lock:
            self.recent.add(record["id"])
            if self.ack_log:
                self.ack_log.write(json.dumps({"kind": kind, **record}) + "\n")
                self.ack_log.flush()

    def create_people(self, doctors, patients):
        for role, names in (("doctor", doctors), ("patient", patients)):
            for name in names:
                status, body = request(self.port, "POST", "/v1/users", self.operator,
                                       {"name": name, "role": role, "password": self.password})
                if status != 201:
                    raise RuntimeError(f"creating {name}: {status} {body}")
                (self.doctors if role == "doctor" else self.patients)[name] = self.login(name)

    def login(self, name):
        status, body = request(self.port, "POST", "/v1/login", None, {"name": name, "password": self.password})
        if status != 200:
            raise RuntimeError(f"login {name}: {status} {body}")
        return body["token"]

    def token(self, name):
        return self.doctors.get(name) or self.patients[name]


class Traffic:
    """Threads that send clinic requests until stopped (or until the node dies under them)."""

    def __init__(self, clinic, seed):
        self.clinic, self.seed = clinic, seed
        self.stop_flag = threading.Event()
        self.threads = []
        self.statuses = {}
        self.unexpected = []
        # Answers that are refusals, not failures: 503 while no model is served yet (a restarted node loads it).
        self.allowed = {503}

    def start(self):
        self.stop_flag.clear()
        people = [(name, "doctor") for name in self.clinic.doctors] + [(name, "patient") for name in self.clinic.patients]
        self.threads = [threading.Thread(target=self.worker, args=(name, role, random.Random(f"{self.seed}/{name}")), daemon=True)
                        for name, role in people]
        for thread in self.threads:
            thread.start()

    def stop(self):
        self.stop_flag.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def count(self, status):
        with self.clinic.lock:
            self.statuses[status] = self.statuses.get(status, 0) + 1

    def worker(self, name, role, rng):
        c = self.clinic
        connection = None
        while not self.stop_flag.is_set():
            try:
                connection = connection or http.client.HTTPConnection("127.0.0.1", c.port, timeout=30)
                if role == "doctor":
                    self.doctor_step(name, rng, connection)
                else:
                    self.patient_step(name, rng, connection)
            except (OSError, http.client.HTTPException):
                # The node was killed: the request in flight was not acknowledged.
                if connection:
                    connection.close()
                connection = None
                time.sleep(0.02)

    def call(self, connection, method, path, token, body=None):
        status, answer = request(self.clinic.port, method, path, token, body, connection=connection)
        self.count(status)
        if status >= 500 and status not in self.allowed:
            with self.clinic.lock:
                self.unexpected.append(f"{method} {path}: {status} {answer}")
        return status, answer

    def doctor_step(self, name, rng, connection):
        c = self.clinic
        token = c.doctors[name]
        if rng.random() < 0.4:
            with c.lock:
                index = c.next_slot.get(name, 0)
                c.next_slot[name] = index + 1
            # Each doctor's slots are 40 minutes apart from 30 days ahead on, so none overlap.
            base = datetime.now(timezone.utc).replace(second=0, microsecond=0) + timedelta(days=30)
            offset = sorted(c.doctors).index(name) * 150 * 24 * 60
            start = base + timedelta(minutes=40 * index + offset)
            status, body = self.call(connection, "POST", "/v1/slots", token,
                                     {"start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                      "end": (start + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")})
            if status == 201:
                with c.lock:
                    c.slots[body["id"]] = name
                c.acknowledge("slot", {"id": body["id"], "doctor": name})
        else:
            patient = rng.choice(sorted(c.patients))
            status, body = self.call(connection, "POST", "/v1/diagnoses", token,
                                     {"patient": patient, "file_name": "cell.png", "image_base64": c.image_b64})
            if status == 201:
                diagnosis = body["diagnosis"]["id"]
                with c.lock:
                    c.diagnoses[diagnosis] = (patient, name)
                    proposed = body.get("appointment")
                    if proposed:
                        c.appointments[proposed["id"]] = {"slot": proposed["slot_id"], "patient": patient, "doctor": name,
                                                          "cancelled": False}
                c.acknowledge("diagnosis", {"id": diagnosis, "patient": patient, "appointment": (proposed or {}).get("id")})

    def patient_step(self, name, rng, connection):
        c = self.clinic
        token = c.patients[name]
        with c.lock:
            mine = [a for a, info in c.appointments.items() if info["patient"] == name and not info["cancelled"]]
            slots = sorted(c.slots)
        roll = rng.random()
        if mine and roll < 0.45:
            appointment = rng.choice(sorted(mine))
            status, body = self.call(connection, "POST", f"/v1/appointments/{appointment}/messages", token,
                                     {"body": f"message {rng.randrange(10**9)} from {name}"})
            if status == 201:
                with c.lock:
                    c.messages[body["id"]] = (appointment, name)
                c.acknowledge("message", {"id": body["id"], "appointment": appointment})
        elif mine and roll < 0.55:
            appointment = rng.choice(sorted(mine))
            status, body = self.call(connection, "POST", f"/v1/appointments/{appointment}/cancel", token, {})
            if status == 200:
                with c.lock:
                    c.appointments[appointment]["cancelled"] = True
                c.acknowledge("cancel", {"id": appointment})
        elif slots:
            # Patients race for the newest slots, so bookings of one slot collide (409 for all but one).
            slot = rng.choice(slots[-8:])
            status, body = self.call(connection, "POST", "/v1/appointments", token, {"slot": slot})
            if status == 201:
                with c.lock:
                    c.appointments[body["id"]] = {"slot": slot, "patient": name, "doctor": c.slots[slot], "cancelled": False}
                c.acknowledge("booking", {"id": body["id"], "slot": slot})
        else:
            time.sleep(0.01)


def check(clinic, problems, everything=True):
    """Every acknowledged record is there (with `everything`, all of them; else those acknowledged since the last
    check); the audit chain verifies; the model loads; no slot is held twice. Returns the records checked."""
    c = clinic
    checked = 0
    with c.lock:
        recent, c.recent = c.recent, set()
    wanted = (lambda record: True) if everything else (lambda record: record in recent)

    def get(path, token):
        status, body = request(c.port, "GET", path, token)
        if status == 401:  # a session the node no longer knows would be a lost acknowledged login: report it
            problems.append(f"GET {path}: 401 for a session that logged in before the crash")
        return status, body

    with c.lock:
        slots = {k: v for k, v in c.slots.items() if wanted(k)}
        appointments = {a: dict(i) for a, i in c.appointments.items() if wanted(a)}
        messages = {k: v for k, v in c.messages.items() if wanted(k)}
        diagnoses = {k: v for k, v in c.diagnoses.items() if wanted(k)}

    listed_slots = set()
    for doctor, token in c.doctors.items():
        status, body = get(f"/v1/slots?doctor={doctor}", token)
        if status == 200:
            listed_slots |= {s["id"] for s in body}
        else:
            problems.append(f"listing {doctor}'s slots: {status} {body}")
    for slot in slots:
        checked += 1
        if slot not in listed_slots:
            problems.append(f"acknowledged slot {slot} is missing")

    holders = {}
    seen = {}
    for doctor, token in c.doctors.items():
        status, body = get("/v1/appointments", token)
        if status != 200:
            problems.append(f"listing {doctor}'s appointments: {status} {body}")
            continue
        for appointment in body:
            seen[appointment["id"]] = appointment
            if appointment["state"] in ACTIVE:
                holders.setdefault(appointment["slot_id"], []).append(appointment["id"])
    for slot, ids in holders.items():
        if len(ids) > 1:
            problems.append(f"slot {slot} is double-booked: {ids}")
    for appointment, info in appointments.items():
        checked += 1
        found = seen.get(appointment)
        if not found:
            problems.append(f"acknowledged appointment {appointment} is missing")
        elif info["cancelled"] and found["state"] != "cancelled":
            problems.append(f"acknowledged cancellation of {appointment} is lost: {found['state']}")

    by_patient = {}
    for diagnosis, (patient, doctor) in diagnoses.items():
        by_patient.setdefault((patient, doctor), []).append(diagnosis)
    for (patient, doctor), ids in by_patient.items():
        status, body = get(f"/v1/diagnoses?patient={patient}", c.doctors[doctor])
        listed = {d["id"] for d in body} if status == 200 else set()
        if status != 200:
            problems.append(f"listing {patient}'s diagnoses: {status} {body}")
        for diagnosis in ids:
            checked += 1
            if diagnosis not in listed:
                problems.append(f"acknowledged diagnosis {diagnosis} is missing")

    by_appointment = {}
    for message, (appointment, patient) in messages.items():
        by_appointment.setdefault((appointment, patient), []).append(message)
    for (appointment, patient), ids in by_appointment.items():
        status, body = get(f"/v1/appointments/{appointment}/messages", c.patients[patient])
        listed = {m["id"] for m in body} if status == 200 else set()
        if status != 200:
            problems.append(f"listing messages of {appointment}: {status} {body}")
        for message in ids:
            checked += 1
            if message not in listed:
                problems.append(f"acknowledged message {message} is missing")

    status, body = request(c.port, "GET", "/v1/audit/verify", c.operator)
    if status != 200 or not body.get("ok"):
        problems.append(f"the audit chain does not verify: {status} {body}")

    status, body = request(c.port, "GET", "/v1/model", c.operator)
    if status != 200 or len(body) < 8:
        problems.append(f"the served model does not load: {status} {body[:200]!r}")
    else:
        header = int.from_bytes(body[:8], "little")
        try:
            json.loads(body[8:8 + header])
        except ValueError as error:
            problems.append(f"the served model is not a readable safetensors file: {error}")
    return checked


def crash_loops(binary, work, runs, seed, image_b64, full_every):
    rng = random.Random(seed)
    node = Node(binary, os.path.join(work, "node"), os.path.join(work, "cells"), os.path.join(work, "node.log"))
    node.init("crash")
    node.start()
    clinic = Clinic(node.api_port, node.operator_token, image_b64, rng)
    clinic.ack_log = open(os.path.join(work, "acknowledged.jsonl"), "w")
    clinic.create_people(["dr-a", "dr-b"], ["pt-a", "pt-b", "pt-c", "pt-d"])
    traffic = Traffic(clinic, seed)
    kills, checked_total, failures = 0, 0, 0
    for run in range(1, runs + 1):
        traffic.start()
        delay = rng.uniform(0.3, 2.5)
        time.sleep(delay)
        node.kill9()
        kills += 1
        traffic.stop()
        node.start()
        problems = []
        restarted = time.monotonic()
        everything = run % full_every == 0 or run == runs
        checked = check(clinic, problems, everything)
        checking = time.monotonic() - restarted
        problems += traffic.unexpected
        traffic.unexpected = []
        checked_total += checked
        if problems:
            failures += 1
            print(f"run {run}: killed after {delay:.2f} s: FAILED", file=sys.stderr)
            for problem in problems[:20]:
                print(f"  {problem}", file=sys.stderr)
        elif everything:
            print(f"run {run}: killed after {delay:.2f} s; all {checked} acknowledged records so far checked in {checking:.1f} s, "
                  "all there", flush=True)
    node.stop()
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(traffic.statuses.items()))
    print(f"crash loop answers by status: {statuses}", flush=True)
    return kills, checked_total, failures


def can_mount(path):
    if os.geteuid() != 0:
        return "not root"
    if not shutil.which("mount") or not shutil.which("umount"):
        return "no mount command"
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", path], capture_output=True, text=True)
    if result.returncode != 0:
        return (result.stderr or result.stdout).strip() or f"mount exited {result.returncode}"
    subprocess.run(["umount", path], check=False)
    return None


def fill(directory):
    """Writes a ballast file until the filesystem refuses (ENOSPC); returns its path."""
    path = os.path.join(directory, "ballast")
    chunk = b"\0" * (64 << 10)
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                f.write(chunk)
        except OSError:
            pass
        try:
            while True:
                f.write(b"\0" * 512)
        except OSError:
            pass
    return path


def probe_slot(day):
    """A slot 700 + `day` days ahead, far from the traffic's slots (30 days ahead on) and inside the 732 allowed."""
    start = datetime.now(timezone.utc).replace(hour=8, minute=0, second=0, microsecond=0) + timedelta(days=700 + day)
    return {"start": start.strftime("%Y-%m-%dT%H:%M:%SZ"), "end": (start + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")}


def disk_full(binary, work, seed, image_b64):
    """The tmpfs scenario. Returns (ran, checked, failures, message)."""
    mount_point = os.path.join(work, "tmpfs")
    os.makedirs(mount_point)
    why = can_mount(mount_point)
    if why:
        return False, 0, 0, f"disk full on tmpfs: skipped, this machine does not let us mount a tmpfs ({why})"
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", mount_point], check=True)
    node = Node(binary, os.path.join(mount_point, "node"), os.path.join(work, "cells"), os.path.join(work, "tmpfs-node.log"))
    problems = []
    try:
        node.init("diskfull")
        node.start()
        rng = random.Random(seed)
        clinic = Clinic(node.api_port, node.operator_token, image_b64, rng)
        clinic.create_people(["dr-f"], ["pt-f", "pt-g"])
        traffic = Traffic(clinic, seed)
        traffic.allowed.add(507)
        traffic.start()
        time.sleep(1.0)
        ballast = fill(mount_point)
        # Traffic on a full disk: writes (and audited reads) are refused with 507, nothing else.
        time.sleep(3.0)
        with clinic.lock:
            full_statuses = dict(traffic.statuses)
        status, body = request(clinic.port, "POST", "/v1/slots", clinic.doctors["dr-f"], probe_slot(0))
        if status != 507 or "disk is full" not in json.dumps(body):
            problems.append(f"a write on the full disk answered {status} {body}, not 507 with the documented message")
        refused = full_statuses.get(507, 0)
        if refused == 0:
            problems.append(f"no request was refused with 507 while the disk was full: {full_statuses}")
        os.remove(ballast)
        # Space is back: writes must succeed again by themselves, within 30 s.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            status, body = request(clinic.port, "POST", "/v1/slots", clinic.doctors["dr-f"], probe_slot(1))
            if status == 201:
                break
            time.sleep(0.2)
        else:
            problems.append(f"writes did not resume within 30 s of freeing the disk: {status} {body}")
        time.sleep(1.0)
        traffic.stop()
        problems += traffic.unexpected
        checked = check(clinic, problems)
        # The log the full disk cut short must still read back: kill -9, restart, check again.
        node.kill9()
        node.start()
        checked += check(clinic, problems)
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(traffic.statuses.items()))
        message = (f"disk full on a 64 MiB tmpfs: {refused} requests refused with 507 while full, writes resumed after "
                   f"freeing it, {checked} acknowledged records checked (before and after a kill -9); answers: {statuses}")
        return True, checked, 1 if problems else 0, message
    finally:
        node.stop()
        subprocess.run(["umount", "-l", mount_point], check=False)
        for problem in problems[:20]:
            print(f"  disk full: {problem}", file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    parser.add_argument("binary", nargs="?", default=os.path.join(root, ".build/debug/leuknode"))
    parser.add_argument("--runs", type=int, default=int(os.environ.get("CRASH_RUNS", "100")))
    parser.add_argument("--seed", type=int, default=int(os.environ.get("CRASH_SEED", str(random.SystemRandom().randrange(10**6)))))
    parser.add_argument("--full-every", type=int, default=10,
                        help="check every record acknowledged so far after every Nth restart (and the last); the other "
                             "restarts check the records acknowledged since the previous check")
    parser.add_argument("--no-disk-full", action="store_true", help="skip the tmpfs scenario")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (node logs, acknowledged.jsonl)")
    args = parser.parse_args()
    binary = os.path.realpath(args.binary)
    if not os.access(binary, os.X_OK):
        sys.exit(f"crash_loop.py: no leuknode binary at {binary} (build first)")
    print(f"crash loop: {args.runs} runs, seed {args.seed} (replay the kill moments with --seed {args.seed})", flush=True)
    work = tempfile.mkdtemp(prefix="leuknode-crash.")
    os.environ.pop("LEUKNODE_HOME", None)
    started = time.monotonic()
    failures = 1
    try:
        subprocess.run([binary, "dataset", "synth", "--out", os.path.join(work, "cells"), "--count", "16", "--seed", "7"],
                       check=True, stdout=subprocess.DEVNULL)
        images = sorted(os.path.join(dp, f) for dp, _, fs in os.walk(os.path.join(work, "cells")) for f in fs if f.endswith(".png"))
        with open(images[0], "rb") as f:
            image_b64 = base64.b64encode(f.read()).decode()
        kills, checked, failures = crash_loops(binary, work, args.runs, args.seed, image_b64, max(1, args.full_every))
        disk_message = "disk full on tmpfs: not run (--no-disk-full)"
        if not args.no_disk_full:
            ran, disk_checked, disk_failures, disk_message = disk_full(binary, work, args.seed, image_b64)
            failures += disk_failures
        print(disk_message)
        print(f"crash loop summary: {args.runs} runs, {kills} kills, {checked} acknowledged records checked, "
              f"{failures} failures, seed {args.seed}, {time.monotonic() - started:.0f} s")
        if failures:
            print(f"node logs kept in {work}", file=sys.stderr)
        return 1 if failures else 0
    finally:
        if not args.keep and not failures:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
