"""The MiniLM embedding route under 16 concurrent clients: batched against unbatched, in one run.

Usage: python benchmarks/serving.py [--clients 16] [--requests 40] [--rounds 3]
Prints requests/s and p50/p99 latency per mode (medians over rounds, the modes interleaved). The clients run in a
separate process, as real clients do: in the server's process they would compete with it for the interpreter lock.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from serve_embeddings import make_server  # noqa: E402

TEXTS = ["The quick brown fox jumps over the lazy dog.", "Sentences are passed as a list of strings.",
         "A model server batches requests that arrive together.", "short one"]


def client(port: int, seed: int, count: int) -> list[float]:
    """One keep-alive connection sending ``count`` requests, one at a time: the latency of each.

    A raw-socket HTTP/1.1 client (reading the status line, ``Content-Length`` and the body) costs a fraction of
    ``http.client``'s CPU, so on a small machine the clients take less of the cores the server is measured on."""
    latencies = []
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        stream = sock.makefile("rb")
        for i in range(count):
            query = urllib.parse.urlencode({"text": f"{TEXTS[(seed + i) % len(TEXTS)]} {seed} {i}"})
            start = time.perf_counter()
            sock.sendall(f"GET /embed?{query} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            status, length = int(stream.readline().split()[1]), 0
            while (line := stream.readline()) not in (b"\r\n", b""):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = stream.read(length)
            if status != 200 or len(body) != length:
                raise RuntimeError(f"request failed with {status}: {body[:200]!r}")
            latencies.append(time.perf_counter() - start)
    return latencies


def drive(port: int, clients: int, requests: int) -> tuple[list[float], float]:
    """``clients`` concurrent connections of ``requests`` each: every latency, and the elapsed time."""
    client(port, 0, 2)  # warm-up
    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        latencies = sorted(x for part in pool.map(lambda s: client(port, s, requests), range(clients)) for x in part)
    return latencies, time.perf_counter() - start


def run(batch_size: int | None, clients: int, requests: int) -> tuple[float, float, float]:
    """Serve in this process, drive from a child process; (requests/s, p50 ms, p99 ms)."""
    web = make_server(port=0, batch_size=batch_size)
    _, port = web.bind()
    thread = threading.Thread(target=web.start, daemon=True)
    thread.start()
    try:
        out = subprocess.run([sys.executable, __file__, "--drive", str(port), "--clients", str(clients),
                              "--requests", str(requests)], capture_output=True, text=True, check=True)
    finally:
        web.shutdown()
    latencies, elapsed = json.loads(out.stdout.strip().splitlines()[-1])
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    return len(latencies) / elapsed, 1000 * statistics.median(latencies), 1000 * p99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=40, help="per client")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--drive", type=int, metavar="PORT", help=argparse.SUPPRESS)  # the client process
    args = parser.parse_args()
    if args.drive:
        print(json.dumps(drive(args.drive, args.clients, args.requests)))
        return
    torch.set_num_threads(args.threads)
    modes = (("unbatched", None), ("batched", 32))
    rounds: dict[str, list[tuple[float, float, float]]] = {name: [] for name, _ in modes}
    for _ in range(args.rounds):
        for name, batch_size in modes:
            rounds[name].append(run(batch_size, args.clients, args.requests))
    medians = {name: [statistics.median(r[i] for r in runs) for i in range(3)] for name, runs in rounds.items()}
    for name, (rps, p50, p99) in medians.items():
        print(f"{name:>9}: {rps:7.1f} requests/s  p50 {p50:7.1f} ms  p99 {p99:7.1f} ms")
    print(f"batched/unbatched throughput: {medians['batched'][0] / medians['unbatched'][0]:.2f}x "
          f"(medians of {args.rounds} rounds, {args.clients} clients x {args.requests} requests)")


if __name__ == "__main__":
    main()
