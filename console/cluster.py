"""A multi-process deployment on one machine: consoles and workers sharing PostgreSQL and Redis.

``zhizhi cluster`` (``make cluster``) checks the two services (creating the database, and
starting a private ``redis-server`` when the URL is on loopback and nothing answers), prepares
the district, the demo users and the simulated cameras once, then starts the consoles
(``zhizhi serve`` on consecutive ports) and the workers (``zhizhi worker``, sharing the cameras
by lease), and stops them all on Ctrl-C. Each child is configured only through ``ZHIZHI_*``
variables, so the same settings start the same roles on other machines (docs/scale-out.md).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from zhizhi.console.settings import BusSettings, DemoSettings, Settings

log = logging.getLogger(__name__)

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/zhizhi"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class ClusterError(RuntimeError):
    """A service the deployment needs is missing; the message says how to provide it."""


@dataclass
class ClusterPlan:
    """What to start: how many consoles and workers, on which services and ports."""

    consoles: int = 2
    workers: int = 3
    cameras: int = 6
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str = DEFAULT_REDIS_URL
    data_dir: Path = Path("var/cluster")
    base_port: int = 8001
    detector: str | None = None  # ultralytics (settings' default) or motion
    demo: DemoSettings = field(default_factory=DemoSettings)
    password: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)  # further ZHIZHI_* settings of every child

    def settings(self, **changes) -> Settings:
        """The settings every process of the deployment shares (``changes`` on top)."""
        values = {"data_dir": self.data_dir, "database_url": self.database_url, "demo": self.demo,
                  "bus": BusSettings(url=self.redis_url), **changes}
        if self.password:
            values["demo_password"] = self.password
        return Settings(**values)

    def environment(self, cameras_file: Path, node: str) -> dict[str, str]:
        """The ``ZHIZHI_*`` variables of one child process."""
        env = {
            "ZHIZHI_DATA_DIR": str(self.data_dir.resolve()),
            "ZHIZHI_DATABASE_URL": self.database_url,
            "ZHIZHI_BUS__URL": self.redis_url,
            "ZHIZHI_BUS__NODE": node,
            "ZHIZHI_WORKER__CAMERAS_FILE": str(cameras_file.resolve()),
            "ZHIZHI_DEMO__SEED": str(self.demo.seed),
            "ZHIZHI_DEMO__CAMERAS": str(self.demo.cameras),
        }
        # counts left unset follow from the boundary in every process alike
        for key in ("towns", "villages_per_town", "grids"):
            if getattr(self.demo, key) is not None:
                env[f"ZHIZHI_DEMO__{key.upper()}"] = str(getattr(self.demo, key))
        if self.detector:
            env["ZHIZHI_DETECTOR__KIND"] = self.detector
        if self.password:
            env["ZHIZHI_DEMO_PASSWORD"] = self.password
        return env | self.extra_env


# --- services ---------------------------------------------------------------------------------
def ensure_redis(url: str) -> subprocess.Popen | None:
    """Check Redis; start a private ``redis-server`` for a loopback URL nobody answers on."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
        return None
    except redis.RedisError as exc:
        parts = urlsplit(url)
        binary = shutil.which("redis-server")
        if parts.hostname not in LOOPBACK or binary is None:
            raise ClusterError(f"Redis at {url} does not answer ({exc}); start it or pass --redis-url") from exc
    finally:
        client.close()
    port = parts.port or 6379
    log.info("starting redis-server on 127.0.0.1:%d (nothing answered at %s)", port, url)
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            redis.Redis.from_url(url, socket_connect_timeout=1).ping()
            return process
        except redis.RedisError:
            time.sleep(0.1)
    process.kill()
    raise ClusterError(f"redis-server on port {port} did not start")


def ensure_database(url: str) -> None:
    """Check PostgreSQL; create the URL's database when the server answers but lacks it."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError

    target = make_url(url)
    if not target.drivername.startswith("postgresql"):
        return  # SQLite and others: nothing to create (one machine only)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                  {"n": target.database}).scalar()
            if not exists:
                log.info("creating database %s", target.database)
                conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    except OperationalError as exc:
        raise ClusterError(
            f"PostgreSQL at {target.host}:{target.port or 5432} does not answer ({exc.orig}); start it "
            "(Debian: pg_ctlcluster $(ls /etc/postgresql) main start) or pass --database-url"
        ) from exc
    finally:
        admin.dispose()


# --- preparation ------------------------------------------------------------------------------
def prepare(plan: ClusterPlan) -> Path:
    """Migrate the database, install the district and demo users, render the simulated cameras;
    returns the camera file the workers share."""
    from zhizhi.console.cli_users import announce_demo_users
    from zhizhi.console.demo_video import plan_scenes
    from zhizhi.console.runtime import Runtime

    settings = plan.settings(bus=BusSettings())  # preparation needs no bus
    settings.warning.enabled = False
    settings.telemetry.enabled = False
    with Runtime(settings) as runtime:
        announce_demo_users(runtime.state)
        scenes = plan_scenes(runtime.state, plan.cameras, seed=7)
    for scene in scenes:
        scene.render()
    path = plan.data_dir / "cameras.json"
    path.write_text(json.dumps({"cameras": [s.config.model_dump(mode="json") for s in scenes]}, ensure_ascii=False,
                               indent=1), encoding="utf-8")
    return path


# --- processes --------------------------------------------------------------------------------
@dataclass
class Child:
    """One process of the deployment."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen | None = None

    def start(self) -> Child:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        out = self.log_path.open("ab")
        self.process = subprocess.Popen(self.argv, env={**os.environ, **self.env}, stdout=out,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        out.close()
        return self

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is not None:
            stop_process(self.process, timeout)


def stop_process(process: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it has not ended within ``timeout`` seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_healthy(url: str, child: Child, timeout: float = 180.0) -> None:
    """Wait until a console child answers ``/healthz``; RuntimeError (with its log's tail) when it
    exits first or does not answer in time."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.running:
            tail = child.log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{child.name} exited ({child.process.returncode}):\n{tail}")
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{child.name} did not answer at {url} within {timeout:.0f} s")


def zhizhi_command() -> list[str]:
    """How to run ``zhizhi`` from this interpreter."""
    script = Path(sys.executable).with_name("zhizhi")
    return [str(script)] if script.exists() else [sys.executable, "-m", "zhizhi.console.cli"]


def children(plan: ClusterPlan, cameras_file: Path) -> list[Child]:
    """The consoles and workers of the plan (not started)."""
    base = zhizhi_command()
    logs = plan.data_dir / "logs"
    out = []
    for i in range(plan.consoles):
        name = f"console-{i + 1}"
        out.append(Child(name, [*base, "serve", "--port", str(plan.base_port + i), "--host", "127.0.0.1"],
                         plan.environment(cameras_file, name), logs / f"{name}.log"))
    for i in range(plan.workers):
        name = f"worker-{i + 1}"
        out.append(Child(name, [*base, "worker"], plan.environment(cameras_file, name), logs / f"{name}.log"))
    return out


def run(plan: ClusterPlan, *, seconds: float | None = None, echo=print) -> int:
    """Start everything, watch it until Ctrl-C (or ``seconds``), stop everything."""
    plan.data_dir.mkdir(parents=True, exist_ok=True)
    ensure_database(plan.database_url)
    redis_process = ensure_redis(plan.redis_url)
    procs: list[Child] = []
    stopping = False

    def stop(*_args) -> None:
        nonlocal stopping
        stopping = True

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        cameras_file = prepare(plan)
        procs = [child.start() for child in children(plan, cameras_file)]
        for i in range(plan.consoles):
            url = f"http://127.0.0.1:{plan.base_port + i}"
            wait_healthy(url, procs[i])
            echo(f"console-{i + 1}: {url}/")
        echo(
            f"workers: {plan.workers} sharing {plan.cameras} cameras ({cameras_file}); logs in {plan.data_dir / 'logs'}"
        )
        deadline = None if seconds is None else time.monotonic() + seconds
        reported: set[str] = set()
        while not stopping and (deadline is None or time.monotonic() < deadline):
            for child in procs:
                if not child.running and child.name not in reported:
                    reported.add(child.name)
                    echo(f"{child.name} exited with {child.process.returncode} (see {child.log_path})")
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for child in procs:
            child.stop()
        if redis_process is not None:
            stop_process(redis_process)
        signal.signal(signal.SIGTERM, previous)
    return 0


__all__ = ["ClusterError", "ClusterPlan", "children", "ensure_database", "ensure_redis", "prepare", "run",
           "stop_process", "wait_healthy"]
