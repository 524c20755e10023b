"""The MiniLM embedding route under 16 concurrent clients: batched against unbatched, in one run.

Usage: python benchmarks/serving.py [--clients 16] [--requests 40] [--rounds 3] [--workers 2] [--model-only]
Prints requests/s and p50/p99 latency per mode (medians over rounds, the modes interleaved) and the ratio of the
best batched throughput to each unbatched one. Each mode's server runs in its own process (torch's thread settings
are process-wide), the clients in this one, as real clients do: in the server's process they would compete with it
for the interpreter lock.

Modes: ``unbatched`` (one request, one call, torch's default threads), ``unbatched-1t`` (the same with one torch
thread per call, better when many calls run at once), ``batched-1w`` (batches of up to 32 computed one at a time on
all cores) and ``batched`` (``--workers`` batches computing side by side, the cores shared among them).
``--model-only`` measures the embedder without HTTP, one text a call against eight, on ``--workers`` threads: the
most batching can gain over unbatched calls spread as well over the cores.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

TEXTS = ["The quick brown fox jumps over the lazy dog.", "Sentences are passed as a list of strings.",
         "A model server batches requests that arrive together.", "short one"]
MODES = ("unbatched", "unbatched-1t", "batched-1w", "batched")


def serve(mode: str, workers: int) -> None:
    """The server process: bind a free port, print it, serve until killed."""
    import torch
    from serve_embeddings import make_server

    if mode == "unbatched-1t":
        torch.set_num_threads(1)
    web = make_server(port=0, batch_size=32 if mode.startswith("batched") else None,
                      workers=1 if mode == "batched-1w" else workers)
    print(web.bind()[1], flush=True)
    web.start()


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


def model_only(workers: int, batch: int, seconds: float = 6.0) -> float:
    """Texts/s of the embedder alone: ``workers`` threads of one torch thread each, encoding ``batch`` texts a call."""
    import threading

    import torch
    from serve_embeddings import build_embedder, minilm_folder

    embed = build_embedder(minilm_folder())
    done = [0] * workers

    def work(w: int) -> None:
        torch.set_num_threads(1)
        texts = [f"{TEXTS[i % len(TEXTS)]} {w} {i}" for i in range(batch)]
        embed(texts)
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            embed(texts)
            done[w] += batch

    threads = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done) / seconds


def run(mode: str, workers: int, clients: int, requests: int) -> tuple[float, float, float]:
    """Serve ``mode`` from a child process, drive it from this one; (requests/s, p50 ms, p99 ms)."""
    server = subprocess.Popen([sys.executable, __file__, "--serve", mode, "--workers", str(workers)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        latencies, elapsed = drive(port, clients, requests)
    finally:
        server.kill()
        server.wait()
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    return len(latencies) / elapsed, 1000 * statistics.median(latencies), 1000 * p99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=40, help="per client")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="batches computing at once (batched mode)")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--model-only", action="store_true",
                        help="the embedder without HTTP: texts/s at 1 and 8 texts a call on --workers threads")
    parser.add_argument("--serve", choices=MODES, help=argparse.SUPPRESS)  # a server process
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.workers)
        return
    if args.model_only:
        single, batched = model_only(args.workers, 1), model_only(args.workers, 8)
        print(f"model only, {args.workers} threads of 1 torch thread: 1 text a call {single:.0f} texts/s, "
              f"8 texts a call {batched:.0f} texts/s ({batched / single:.2f}x)")
        return
    rounds: dict[str, list[tuple[float, float, float]]] = {mode: [] for mode in args.modes}
    for _ in range(args.rounds):
        for mode in args.modes:
            rounds[mode].append(run(mode, args.workers, args.clients, args.requests))
    medians = {mode: [statistics.median(r[i] for r in runs) for i in range(3)] for mode, runs in rounds.items()}
    for mode, (rps, p50, p99) in medians.items():
        print(f"{mode:>12}: {rps:7.1f} requests/s  p50 {p50:7.1f} ms  p99 {p99:7.1f} ms")
    batched = [mode for mode in medians if mode.startswith("batched")]
    unbatched = [mode for mode in medians if mode.startswith("unbatched")]
    if batched and unbatched:
        top = max(batched, key=lambda mode: medians[mode][0])
        ratios = ", ".join(f"{medians[top][0] / medians[mode][0]:.2f}x against {mode}" for mode in unbatched)
        print(f"batched/unbatched throughput, {top}: {ratios} (medians of {args.rounds} rounds, {args.clients} "
              f"clients x {args.requests} requests)")


if __name__ == "__main__":
    main()
