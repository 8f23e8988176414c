"""A real Ray cluster of several nodes on this machine, for the Ray benchmark and tests.

Each node is a ``ray start --block`` child in its own process group (``cpus`` each, no
dashboard, a short temp dir of its own: Ray's socket paths must stay short); :meth:`stop`
kills every group, so nothing outlives the test even when it fails. :meth:`kill_raylet`
SIGKILLs one node's raylet, like a machine that drops out.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RAY = str(Path(sys.executable).with_name("ray"))
START_TIMEOUT_S = 150
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class LocalRayCluster:
    """``nodes`` Ray nodes of ``cpus`` CPUs each; ``address`` is the head's GCS address. ``env``:
    variables the nodes' workers get beside this process's (object storage credentials).
    ``gpus``: the head's GPUs; the other nodes get none, so one machine's GPU is not counted once
    per node (Ray would detect it on each)."""

    def __init__(
        self, nodes: int = 2, cpus: int = 1, env: dict[str, str] | None = None, gpus: int = 0
    ) -> None:
        self.nodes, self.cpus, self.gpus = nodes, cpus, gpus
        self.env = env or {}
        self.folder = Path(tempfile.mkdtemp(prefix="rayt-", dir="/tmp"))
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self._children: list[subprocess.Popen] = []

    def start(self) -> None:
        """Start the head and the other nodes; returns once every node is alive."""
        env = {
            **os.environ,
            **self.env,
            "PYTHONPATH": str(ROOT),
            "RAY_USAGE_STATS_ENABLED": "0",
            "RAY_raylet_start_wait_time_s": "120",
            # A local ray.init() (tagger ingest --ray auto) leaves ~/.ray/auth_token; with it the
            # head turns token authentication on and the second node fails to join (Ray 2.60:
            # "InvalidAuthToken"); this throwaway cluster of tests and benchmarks needs none
            "RAY_AUTH_MODE": "disabled",
        }
        common = ["--block", "--num-cpus", str(self.cpus), "--disable-usage-stats"]
        head = [RAY, "start", "--head", "--port", str(self.port), "--include-dashboard", "false"]
        self._spawn([*head, *common, "--num-gpus", str(self.gpus)], env, 0)
        _wait_for_port(self.port, START_TIMEOUT_S, self._children[0])
        for index in range(1, self.nodes):
            worker = [RAY, "start", "--address", self.address]
            self._spawn([*worker, *common, "--num-gpus", "0"], env, index)
        self._wait_for_nodes(START_TIMEOUT_S)

    def _spawn(self, args: list[str], env: dict[str, str], index: int) -> None:
        node_dir = self.folder / f"n{index}"
        node_dir.mkdir()
        # disjoint worker port ranges below the ephemeral ports and clear of Ray's fixed ones
        ports = 20000 + 200 * index + (os.getpid() % 30) * 400
        args = [
            *args,
            "--temp-dir",
            str(node_dir),
            "--min-worker-port",
            str(ports),
            "--max-worker-port",
            str(ports + 199),
        ]
        log = (self.folder / f"n{index}.log").open("wb")
        self._children.append(
            subprocess.Popen(
                args,
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )

    def _wait_for_nodes(self, timeout_s: float) -> None:
        """Poll ``ray list nodes`` through a child (the test process stays free of ray.init)."""
        deadline = time.monotonic() + timeout_s
        script = (
            "import ray;"
            f"ray.init(address={self.address!r}, logging_level='ERROR', log_to_driver=False);"
            "print(sum(n['Alive'] for n in ray.nodes()))"
        )
        while time.monotonic() < deadline:
            for child in self._children:
                if child.poll() is not None:
                    raise RuntimeError(f"a ray node exited early: {self.log_tail()}")
            probe = subprocess.run(
                [sys.executable, "-c", script],
                capture_output=True,
                text=True,
                timeout=max(1.0, deadline - time.monotonic()),
                check=False,
            )
            if probe.returncode == 0 and probe.stdout.strip() == str(self.nodes):
                return
            time.sleep(1.0)
        raise TimeoutError(f"{self.nodes} ray nodes not up in {timeout_s} s: {self.log_tail()}")

    def node_pid(self, index: int) -> int:
        """The ``ray start`` process of node ``index``: its processes are its descendants."""
        return self._children[index].pid

    def raylet_pid(self, index: int) -> int:
        """The raylet process of node ``index``."""
        root = self.node_pid(index)
        for pid, name in descendants(root):
            if name == "raylet":
                return pid
        raise LookupError(f"node {index} has no raylet process")

    def kill_raylet(self, index: int) -> None:
        os.kill(self.raylet_pid(index), signal.SIGKILL)

    def log_tail(self, chars: int = 2000) -> str:
        logs = sorted(self.folder.glob("n*.log"))
        return " | ".join(log.read_text(errors="replace")[-chars:] for log in logs)

    def stop(self) -> None:
        """Kill every node's process group (raylet, GCS, workers), wait until all of them are gone
        (a dying process may still write logs), then remove the temp dirs."""
        processes = [pid for child in self._children for pid, _ in descendants(child.pid)]
        for child in self._children:
            try:
                os.killpg(child.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass  # already gone
        for pid in processes:  # any that left the group (its own session)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass  # already gone
        for child in self._children:
            child.wait(timeout=30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(_alive(pid) for pid in processes):
            time.sleep(0.1)
        shutil.rmtree(self.folder, ignore_errors=True)


def descendants(root: int) -> list[tuple[int, str]]:
    """(pid, command name) of every process below ``root``, read from /proc."""
    return [(pid, name) for pid, name, _ in process_tree(root)]


def process_tree(root: int) -> list[tuple[int, str, int]]:
    """(pid, command name, depth: 1 for a child) of every process below ``root``."""
    parents: dict[int, list[tuple[int, str]]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # exited meanwhile
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        parents.setdefault(ppid, []).append((int(entry.name), name))
    found, frontier = [], [(root, 0)]
    while frontier:
        parent, depth = frontier.pop()
        children = parents.get(parent, [])
        found.extend((pid, name, depth + 1) for pid, name in children)
        frontier.extend((pid, depth + 1) for pid, _ in children)
    return found


class CpuMeter:
    """CPU seconds of a cluster's processes, sampled from /proc every ``SAMPLE_S`` while running:
    the raylet does not wait for the workers it ends, so their time is gone when they exit.

    Each process counts with the children it waited for; processes below the workers (a
    worker's tesseract runs) count through their worker only. ``seen`` keeps, per process, its
    name, the command line it had when it last showed one other than ``ray::IDLE``, its CPU
    seconds since :meth:`start`, its most threads and its peak resident memory in KiB (VmHWM).
    """

    SAMPLE_S = 0.25
    DEPTH = 2  # ray start -> raylet -> worker

    def __init__(self, cluster: LocalRayCluster) -> None:
        self.roots = [child.pid for child in cluster._children]
        # pid -> [name, command line, CPU s, most threads, peak RSS KiB]
        self.seen: dict[int, list] = {}
        self._baseline: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        self._sample(baseline=True)
        self._thread.start()

    def stop(self) -> float:
        """Stop sampling; the CPU seconds of every process since :meth:`start`."""
        self._stop.set()
        self._thread.join()
        self._sample(baseline=False)
        return sum(cpu for _, _, cpu, _, _ in self.seen.values())

    def _loop(self) -> None:
        while not self._stop.wait(self.SAMPLE_S):
            self._sample(baseline=False)

    def _sample(self, *, baseline: bool) -> None:
        tree = [(root, "ray", 0) for root in self.roots]
        tree += [entry for root in self.roots for entry in process_tree(root)]
        for pid, name, depth in tree:
            if depth > self.DEPTH:
                continue
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
                command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
                peak_kib = _peak_rss_kib(pid)
            except OSError:
                continue  # exited meanwhile
            fields = stat[stat.rindex(")") + 2 :].split()
            cpu = sum(int(value) for value in fields[11:15]) / CLOCK_TICKS
            if baseline:
                self._baseline[pid] = cpu
            entry = self.seen.setdefault(pid, [name, "", 0.0, 0, 0])
            title = command.decode(errors="replace").strip()
            if title and title != "ray::IDLE":
                entry[1] = title
            entry[2] = cpu - self._baseline.get(pid, 0.0)
            entry[3] = max(entry[3], int(fields[17]))
            entry[4] = max(entry[4], peak_kib)


def _peak_rss_kib(pid: int) -> int:
    """The process's peak resident memory (VmHWM, KiB); 0 for a kernel thread or a zombie."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, timeout_s: float, child: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise RuntimeError(f"ray head exited with {child.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(f"ray head not listening on {port} in {timeout_s} s")
