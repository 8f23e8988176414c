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
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RAY = str(Path(sys.executable).with_name("ray"))
START_TIMEOUT_S = 150


class LocalRayCluster:
    """``nodes`` Ray nodes of ``cpus`` CPUs each; ``address`` is the head's GCS address."""

    def __init__(self, nodes: int = 2, cpus: int = 1) -> None:
        self.nodes, self.cpus = nodes, cpus
        self.folder = Path(tempfile.mkdtemp(prefix="rayt-", dir="/tmp"))
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self._children: list[subprocess.Popen] = []

    def start(self) -> None:
        """Start the head and the other nodes; returns once every node is alive."""
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "RAY_USAGE_STATS_ENABLED": "0",
            "RAY_raylet_start_wait_time_s": "120",
        }
        common = ["--block", "--num-cpus", str(self.cpus), "--disable-usage-stats"]
        head = [RAY, "start", "--head", "--port", str(self.port), "--include-dashboard", "false"]
        self._spawn([*head, *common], env, 0)
        _wait_for_port(self.port, START_TIMEOUT_S, self._children[0])
        for index in range(1, self.nodes):
            worker = [RAY, "start", "--address", self.address]
            self._spawn([*worker, *common], env, index)
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
    found, frontier = [], [root]
    while frontier:
        children = parents.get(frontier.pop(), [])
        found.extend(children)
        frontier.extend(pid for pid, _ in children)
    return found


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
