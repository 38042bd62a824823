"""The service under load while things go wrong around it (production environment), in one run.

A serve-ready home on a Redis and a PostgreSQL database of the benchmark's own (tests/support), the
service reaching its MLflow registry through a TCP relay the benchmark can freeze. Then 16 clients for
--seconds (30), each looping over: a fraud score (one in four a retry of an earlier payment, sent as is;
one in eight a new payment sent as 3 copies at once, a client retrying before its first answer came back),
a batch of 5 payments, churn scores for 50 customers, a recall-list page, a segment lookup, health. Meanwhile:

  keys       every second a key is added, used once, and revoked (the key file is rewritten each time);
  registry   at 20% of the run the relay freezes for 30% of it: connections accepted, nothing answered;
             an admin reload is sent while it hangs;
  Redis      at 60% of the run Redis is shut down and started again 2 s later (its data kept on disk);
  retries    the retried payments above, after their first answer and while it is still in flight.

Counted: every answer by status; requests with no answer (connection error or timeout at 10 s);
unexpected 5xx (500, 502, 504; a 503 is the designed "cannot answer now, here is why", counted apart
and each must carry its reason); retried payments whose answer differs from the first one they got
(only first answers that were counted: a degraded answer counted nothing, its retry is scored afresh);
payments sent as concurrent copies whose counted answers differ.
Goals: no unexpected 5xx, no request without an answer, no retried payment answered differently.

    python benchmarks/stress.py [--seconds 30] [--clients 16] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]

import httpx  # noqa: E402
import pandas as pd  # noqa: E402

from benchmarks.report import must_be_zero, quiet_libraries  # noqa: E402
from spend.serving.auth import KeyStore  # noqa: E402
from spend.serving.launch import environment_for, free_port, start, stop  # noqa: E402
from spend.training.dataset import active_at  # noqa: E402
from tests.support.sample_home import sample_home  # noqa: E402
from tests.support.sandbox import postgres_database, production_settings  # noqa: E402

KEY = "benchmark-key-0123456789abcdef0123"


def log(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


class Relay:
    """A TCP relay to `target`; `freeze()` keeps accepting and holding connections but passes no byte."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target, self.frozen = target, threading.Event()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            client, _ = self.server.accept()
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target)
        except OSError:
            client.close()
            return
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                while self.frozen.is_set():
                    time.sleep(0.05)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def redis_on_disk(port: int, folder: Path) -> subprocess.Popen:
    folder.mkdir(parents=True, exist_ok=True)
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder)]
    command += ["--appendonly", "yes", "--appendfsync", "always", "--save", ""]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while subprocess.run(["redis-cli", "-p", str(port), "PING"], capture_output=True).stdout.strip() != b"PONG":
        if time.monotonic() > deadline:
            raise RuntimeError(f"redis-server on port {port} did not start")
        time.sleep(0.1)
    return server


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.statuses: Counter = Counter()
        self.unanswered = 0
        self.unexpected: list[str] = []
        self.unavailable_without_reason = 0
        self.first_answers: dict[str, dict] = {}  # order id -> (payment, first counted answer)
        self.retries = 0
        self.retries_differing = 0
        self.rushed = 0  # payments sent as concurrent copies
        self.rushed_differing = 0

    def record(self, response: httpx.Response | None, what: str) -> None:
        with self.lock:
            if response is None:
                self.unanswered += 1
                return
            self.statuses[response.status_code] += 1
            if response.status_code >= 500 and response.status_code != 503:
                self.unexpected.append(f"{what} {response.status_code}: {response.text[:200]}")
            if response.status_code == 503 and not response.json().get("error"):
                self.unavailable_without_reason += 1


def _payment(card: str, terminal: str) -> dict:
    return {
        "order_id": f"s-{uuid.uuid4().hex[:16]}",
        "card_id": card,
        "terminal_id": terminal,
        "ts": pd.Timestamp(time.time() - 5, unit="s", tz="UTC").isoformat(),
        "amount": round(random.uniform(5, 300), 2),
    }


COPIES = 3  # a payment sent this many times at once


def client_loop(url: str, keys: dict, customers: list[str], stop_at: float, tally: Tally, seed: int) -> None:
    rng = random.Random(seed)
    sent: list[dict] = []
    http = httpx.Client(timeout=10)
    copies = ThreadPoolExecutor(COPIES)

    def call(path: str, body: dict, role: str | None, what: str) -> httpx.Response | None:
        headers = {"X-API-Key": keys[role]} if role else {}
        try:
            response = http.post(f"{url}{path}", json=body, headers=headers)
        except httpx.HTTPError:
            response = None
        tally.record(response, what)
        return response

    def rush(payment: dict) -> None:
        """The same new payment `COPIES` times at once: every counted answer must be the same one."""
        body = {"transaction": payment}
        send = lambda _: call("/v1/fraud/score", body, "pricing-engine", "fraud copy")  # noqa: E731
        answers = list(copies.map(send, range(COPIES)))
        counted = [r.json() for r in answers if r is not None and r.status_code == 200 and r.json()["pushed"]]
        with tally.lock:
            tally.rushed += 1
            tally.rushed_differing += any(a != counted[0] for a in counted)

    while time.monotonic() < stop_at:
        draw = rng.random()
        if draw < 0.125:
            rush(_payment(f"CARD-{rng.randrange(500)}", f"T-{rng.randrange(50)}"))
        elif sent and draw < 0.375:
            payment = rng.choice(sent)
            response = call("/v1/fraud/score", {"transaction": payment}, "pricing-engine", "fraud retry")
            if response is not None and response.status_code == 200:
                with tally.lock:
                    tally.retries += 1
                    first = tally.first_answers.get(payment["order_id"])
                    if first is not None and response.json() != first:
                        tally.retries_differing += 1
        else:
            payment = _payment(f"CARD-{rng.randrange(500)}", f"T-{rng.randrange(50)}")
            response = call("/v1/fraud/score", {"transaction": payment}, "pricing-engine", "fraud")
            if response is not None and response.status_code == 200:
                sent.append(payment)
                if response.json()["pushed"]:  # counted: a retry must get exactly this answer
                    with tally.lock:
                        tally.first_answers[payment["order_id"]] = response.json()
        batch = [_payment(f"CARD-{rng.randrange(500)}", f"T-{rng.randrange(50)}") for _ in range(5)]
        call("/v1/fraud/score-batch", {"transactions": batch}, "pricing-engine", "fraud batch")
        call("/v1/churn/score", {"customer_ids": rng.sample(customers, 50)}, "marketing", "churn")
        call("/v1/recall/list", {"limit": 20, "offset": rng.randrange(0, 100)}, "marketing", "recall")
        call("/v1/segments/lookup", {"customer_ids": rng.sample(customers, 10)}, "marketing", "segments")
        call("/v1/health", {}, None, "health")
    http.close()
    copies.shutdown()


def key_churn(url: str, store: KeyStore, stop_at: float, tally: Tally) -> None:
    i = 0
    while time.monotonic() < stop_at:
        key = store.add(f"churned-{i}", "marketing")
        try:
            response = httpx.post(f"{url}/v1/recall/list", json={"limit": 1}, headers={"X-API-Key": key}, timeout=10)
        except httpx.HTTPError:
            response = None
        tally.record(response, "recall with a new key")
        store.revoke(f"churned-{i}")
        i += 1
        time.sleep(1.0)


def chaos(url, keys, relay: Relay, redis: dict, seconds: float, started: float, events: list) -> None:
    def at(share: float) -> None:
        time.sleep(max(0.0, started + share * seconds - time.monotonic()))

    at(0.2)
    relay.frozen.set()
    events.append(("registry frozen", round(time.monotonic() - started, 1)))
    t0 = time.monotonic()
    try:
        reload = httpx.post(
            f"{url}/v1/admin/reload", json={}, headers={"X-API-Key": keys["data-scientist"]}, timeout=30
        )
        events.append(("reload while frozen", reload.status_code, round(time.monotonic() - t0, 1)))
    except httpx.HTTPError as error:
        events.append(("reload while frozen", type(error).__name__))
    at(0.5)
    relay.frozen.clear()
    events.append(("registry thawed", round(time.monotonic() - started, 1)))
    at(0.6)
    subprocess.run(["redis-cli", "-p", str(redis["port"]), "SHUTDOWN"], capture_output=True)
    redis["server"].wait(10)
    events.append(("redis stopped", round(time.monotonic() - started, 1)))
    time.sleep(2)
    redis["server"] = redis_on_disk(redis["port"], redis["folder"])
    events.append(("redis started", round(time.monotonic() - started, 1)))


def run(seconds: float, clients: int) -> dict:
    warnings.filterwarnings("ignore")
    with tempfile.TemporaryDirectory() as tmp, postgres_database("spend_stress") as database:
        root = Path(tmp)
        redis = {"port": free_port(), "folder": root / "redis"}
        redis["server"] = redis_on_disk(redis["port"], redis["folder"])
        settings = production_settings(root / "home", KEY, redis["port"], database, "spend_stress")
        log("building a production home (Redis, PostgreSQL registries)")
        home = sample_home(settings, root, customers=600)
        host_port = database.split("@", 1)[1].split("/", 1)[0]
        host, port = host_port.split(":")
        relay = Relay((host, int(port)))
        relayed = settings.model_copy(update={"tracking_url": database.replace(host_port, f"127.0.0.1:{relay.port}")})
        environment = environment_for(relayed) | {
            "SPEND_SERVING_REFRESH_SECONDS": "2",
            "SPEND_SERVING_REGISTRY_TIMEOUT_SECONDS": "2",
        }
        server, url, ready_s = start(environment, root / "service.log")
        customers = active_at(settings.paths.feature_snapshots, home["as_of"])["customer_id"].tolist()
        tally, events = Tally(), []
        log(f"{clients} clients for {seconds:.0f} s with key churn, a frozen registry and a Redis restart")
        started = time.monotonic()
        stop_at = started + seconds
        threads = [
            threading.Thread(target=client_loop, args=(url, home["keys"], customers, stop_at, tally, i))
            for i in range(clients)
        ]
        store = KeyStore(settings.paths.home / "serving" / "api_keys.json")
        threads.append(threading.Thread(target=key_churn, args=(url, store, stop_at, tally)))
        threads.append(threading.Thread(target=chaos, args=(url, home["keys"], relay, redis, seconds, started, events)))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        health = httpx.get(f"{url}/v1/health", timeout=10).json()
        stop(server)
        redis["server"].terminate()
        service_log = (root / "service.log").read_text()
    return {
        "seconds": seconds,
        "clients": clients,
        "start_to_ready_s": ready_s,
        "statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
        "requests": sum(tally.statuses.values()) + tally.unanswered,
        "unanswered": tally.unanswered,
        "unexpected_5xx": len(tally.unexpected),
        "unexpected_examples": tally.unexpected[:5],
        "unavailable_without_reason": tally.unavailable_without_reason,
        "retries": tally.retries,
        "retries_differing": tally.retries_differing,
        "rushed": tally.rushed,
        "rushed_differing": tally.rushed_differing,
        "events": events,
        "health_after": health,
        "tracebacks_in_log": service_log.count("Traceback"),
    }


def figures(r: dict) -> list[dict]:
    return [
        must_be_zero("unexpected_5xx", r["unexpected_5xx"]),
        must_be_zero("requests_without_an_answer", r["unanswered"]),
        must_be_zero("retried_payments_answered_differently", r["retries_differing"]),
        must_be_zero("payments_sent_as_concurrent_copies_answered_differently", r["rushed_differing"]),
        must_be_zero("503_without_a_reason", r["unavailable_without_reason"]),
    ]


def print_table(r: dict) -> None:
    print(
        f"Stress: {r['clients']} clients for {r['seconds']:.0f} s, production environment; {r['requests']:,} requests"
    )
    print(f"  answers by status: {r['statuses']}")
    print(f"  without an answer: {r['unanswered']}; unexpected 5xx: {r['unexpected_5xx']}")
    print(f"  retried payments: {r['retries']:,}, answered differently: {r['retries_differing']}")
    print(f"  payments sent as {COPIES} copies at once: {r['rushed']:,}, answered differently: {r['rushed_differing']}")
    print(f"  events: {r['events']}")
    print(f"  tracebacks in the service log: {r['tracebacks_in_log']}")
    for example in r["unexpected_examples"]:
        print(f"    {example}")


def main() -> None:
    quiet_libraries()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args.seconds, args.clients)
    print_table(result)
    if args.json:
        print(json.dumps({"benchmark": "stress", "results": result, "figures": figures(result)}, indent=2))


if __name__ == "__main__":
    main()
