"""The release before authentication (``RELEASE``), served beside the current tree.

Issue 19 compares the service's mixed API, each person with their own token, to the
last release without tokens running its own mix. That release has a flat layout: one
distribution, one package ``exporter`` (kit and service together), ``exporter serve``,
migrations at start-up, and no dependency the current venv lacks. So no venv is made and
nothing is downloaded: the tree is exported from git history into a temporary folder
(``git archive``: no worktree registered in the shared repository) and served with this
interpreter as ``python -m exporter serve`` from that folder, where ``sys.path[0]`` makes
its own ``exporter`` win over the installed one (checked before serving). Its database is
one of its own on the same PostgreSQL server, dropped afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import subprocess
import sys
import tarfile
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp

from . import wrk_mix
from .server import ServiceProcess

RELEASE = "4cec078"  # the last commit before per-person tokens (0a6fd8b)


class ReleaseUnavailable(Exception):
    """The release cannot be served here (no git history, say): the phase is skipped."""


def export_tree(commit: str, into: Path, repo: Path | None = None) -> Path:
    """``commit``'s tree under ``into`` (``git archive``); ReleaseUnavailable when git or
    the commit is missing (a shallow clone, a source tarball)."""
    repo = repo or Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(
            ["git", "-C", str(repo), "archive", "--format=tar", commit],
            capture_output=True,
            timeout=120,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ReleaseUnavailable(f"git archive {commit}: {exc}") from None
    if out.returncode != 0:
        first = out.stderr.decode(errors="replace").strip().splitlines()[:1]
        raise ReleaseUnavailable(f"git history lacks {commit}: {' '.join(first)}")
    with tarfile.open(fileobj=io.BytesIO(out.stdout)) as tar:
        tar.extractall(into, filter="data")
    return into


def _imports_its_own(tree: Path) -> None:
    code = "import exporter.app, exporter.cli; print(exporter.__file__)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tree, capture_output=True, text=True, timeout=60
    )
    if out.returncode != 0:
        raise ReleaseUnavailable(f"the release does not import here: {out.stderr[-300:]}")
    if not Path(out.stdout.strip()).resolve().is_relative_to(tree.resolve()):
        raise ReleaseUnavailable(f"the release imported {out.stdout.strip()}, not its own")


@contextlib.contextmanager
def own_database(server_url: str) -> Iterator[str]:
    """A fresh database on the server of ``server_url`` (dropped after): its URL."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    name = f"bench_release_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_conninfo(**{**conninfo_to_dict(server_url), "dbname": name})
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class ReleaseProcess(ServiceProcess):
    """The release's ``exporter serve`` from its exported tree, ready when started."""

    def __init__(self, database_url: str, tree: Path) -> None:
        super().__init__(database_url)
        self.tree = tree

    def start(self, poll: float = 0.1) -> ReleaseProcess:
        env = {k: v for k, v in self._env.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
        command = [sys.executable, "-m", "exporter", "serve", "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--log-level", "warning"]
        self._spawn(command, env, cwd=self.tree, poll=poll)
        return self


@contextlib.contextmanager
def served(server_url: str) -> Iterator[ReleaseProcess]:
    """The release serving on a free port against a database of its own."""
    with tempfile.TemporaryDirectory(prefix="bench-release-") as tmp:
        tree = export_tree(RELEASE, Path(tmp) / "tree")
        _imports_its_own(tree)
        with own_database(server_url) as url, ReleaseProcess(url, tree) as process:
            yield process


async def _release_people(url: str, people: int, expenses: int) -> list[wrk_mix.load.Person]:
    """People as the release knew them: no token, so no Authorization header anywhere."""
    run, made = uuid.uuid4().hex[:8], []
    async with aiohttp.ClientSession() as session:
        for n in range(people):
            external_id = f"mix-{run}-{n}"
            body = {"external_id": external_id, "currency": "USD"}
            async with session.post(url + "/api/users", json=body) as r:
                r.raise_for_status()
                user_id = (await r.json())["id"]
            for i in range(expenses):
                expense = {"user_id": user_id, "amount": f"{5 + i}.50", "category": "food"}
                async with session.post(url + "/api/expenses", json=expense) as r:
                    r.raise_for_status()
            made.append((external_id, user_id, {}))
    return made


def mix_script(url: str, people: int, expenses: int) -> str:
    """The release's own mix as a wrk script: the same requests, without any token."""
    made = asyncio.run(_release_people(url, people, expenses))
    requests = [
        (method, path, {k: v for k, v in headers.items() if k != "Authorization"}, body)
        for method, path, headers, body in wrk_mix.requests_of(made, wrk_mix.REQUESTS)
    ]
    return wrk_mix.lua_script(requests)
