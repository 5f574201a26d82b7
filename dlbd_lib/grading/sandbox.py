"""Limits and isolation for a student's kernel (stdlib only: it also runs as a script).

As root (classroom servers, CI), the kernel is started through this file run as a script,
which, before it ``exec``\\ s the kernel:

- enters a private mount namespace and mounts an empty tmpfs over every hidden folder
  (the solutions, the other students' submissions, the result files);
- limits the whole process tree: a cgroup v2 (``memory.max``, ``pids.max``) where the
  machine has a writable one, else ``RLIMIT_AS`` per process and ``RLIMIT_NPROC`` for the
  user;
- drops to an unprivileged user of its own (a uid from 61000 up that no other grader on the
  machine holds, no supplementary groups, ``no_new_privs``), which owns the scratch folder
  and cannot signal the grader or read its files (they are not world-readable).

Not root, it only sets ``RLIMIT_AS`` and says the kernel is not isolated. The grader makes
itself a child subreaper, so a process that detaches (``setsid``) is still found and killed
at the end.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
import time
from typing import Any

BASE_UID = 61000
UID_RANGE = 1000
_HELD: list[int] = []  # lock files of the user ids this process has claimed
NPROC = 512
_CLONE_NEWNS = 0x00020000
_MS_REC, _MS_PRIVATE, _MS_BIND = 0x4000, 1 << 18, 4096
_PR_SET_NO_NEW_PRIVS, _PR_SET_CHILD_SUBREAPER = 38, 36
_CGROUP = "/sys/fs/cgroup"


def _libc() -> Any:
    return ctypes.CDLL(None, use_errno=True)


def claim_uid() -> int:
    """A user id no other grader on this machine is using now (a lock held until this
    process exits); stray processes of that user from a crashed run are killed first."""
    import fcntl  # noqa: PLC0415

    folder = "/tmp/.dlbd-grade-uids"
    os.makedirs(folder, mode=0o700, exist_ok=True)
    for uid in range(BASE_UID, BASE_UID + UID_RANGE):
        handle = os.open(os.path.join(folder, str(uid)), os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(handle)
            continue
        _HELD.append(handle)
        for pid in processes_of(uid):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        return uid
    raise RuntimeError(f"all {UID_RANGE} user ids for kernels are in use")


_NAMESPACES: list[bool] = []


def mount_namespaces_work() -> bool:
    """Whether this process may make a private mount namespace (a forked child tries).

    ``DLBD_GRADE_NO_NAMESPACE=1`` says no, to try the fallback on a machine that allows them."""
    if os.environ.get("DLBD_GRADE_NO_NAMESPACE") == "1":
        return False
    if not _NAMESPACES:
        pid = os.fork()
        if pid == 0:  # the child: try, and say how it went in the exit status
            ok = False
            try:
                libc = _libc()
                ok = (libc.unshare(_CLONE_NEWNS) == 0
                      and libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None) == 0)
            finally:
                os._exit(0 if ok else 1)
        _NAMESPACES.append(os.waitpid(pid, 0)[1] == 0)
    return _NAMESPACES[0]


def become_subreaper() -> bool:
    """Orphans of our children become our children (Linux), so none escapes the final kill."""
    try:
        return _libc().prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def cgroup_v2_root() -> str | None:
    """The cgroup v2 folder new groups can be made in, or None."""
    if not os.path.exists(os.path.join(_CGROUP, "cgroup.controllers")):
        return None
    try:
        with open(os.path.join(_CGROUP, "cgroup.subtree_control")) as handle:
            enabled = handle.read().split()
    except OSError:
        return None
    if "memory" in enabled and "pids" in enabled and os.access(_CGROUP, os.W_OK):
        return _CGROUP
    return None


class Sandbox:
    """How one kernel is limited and isolated; ``wrap`` gives the command that does it."""

    def __init__(self, scratch: str, *, memory_mb: int | None, hide: list[str],
                 slot: int = 0) -> None:
        self.scratch = scratch
        self.memory_mb = memory_mb or None
        needed = [os.path.realpath(p) for p in _needed([sys.executable]) + [scratch]]
        self.hide, self.visible = [], []
        for folder in (os.path.realpath(p) for p in hide if os.path.isdir(p)):
            # a folder that holds what the kernel needs (the library, a venv) stays visible
            inside = any(p == folder or p.startswith(folder + os.sep) for p in needed)
            (self.visible if inside else self.hide).append(folder)
        self.isolated = hasattr(os, "geteuid") and os.geteuid() == 0 and sys.platform == "linux"
        self.namespace = self.isolated and mount_namespaces_work()
        self.why_not = ""
        if self.isolated and not self.namespace:
            self.hide, self.visible = [], self.hide + self.visible
            if closed_ancestors(_needed([sys.executable]) + [scratch]):
                self.isolated = False  # the kernel's user could not even reach Python
                self.why_not = ("root, but mount namespaces are not allowed here (no "
                                "CAP_SYS_ADMIN?) and Python lies in a folder other users "
                                "cannot enter")
        self.uid = claim_uid() if self.isolated else BASE_UID + slot
        self.cgroup: str | None = None
        if self.isolated:
            root = cgroup_v2_root()
            if root is not None:
                self.cgroup = os.path.join(root, f"dlbd-grade-{os.getpid()}-{slot}")
        for sub in ("home", "tmp"):
            os.makedirs(os.path.join(scratch, sub), exist_ok=True)
        if self.isolated:
            os.chmod(scratch, 0o700)
            for path in (scratch, os.path.join(scratch, "home"), os.path.join(scratch, "tmp")):
                os.chown(path, self.uid, self.uid)

    def environment(self, env: dict[str, str]) -> dict[str, str]:
        """The kernel's environment: fresh HOME and IPYTHONDIR, nothing of the grader's."""
        home = os.path.join(self.scratch, "home")
        for key in list(env):
            if key.startswith(("JPY_", "JUPYTER_", "IPYTHON", "DLBD_", "NBGRADER")):
                del env[key]
        env.update(HOME=home, IPYTHONDIR=os.path.join(home, ".ipython"),
                   JUPYTER_CONFIG_DIR=os.path.join(home, ".jupyter"),
                   JUPYTER_DATA_DIR=os.path.join(home, ".local", "share", "jupyter"),
                   JUPYTER_RUNTIME_DIR=os.path.join(home, ".local", "share", "jupyter", "run"),
                   MPLCONFIGDIR=os.path.join(home, ".matplotlib"),
                   TMPDIR=os.path.join(self.scratch, "tmp"), MPLBACKEND="agg",
                   DLBD_GRADING="1", PYTHONDONTWRITEBYTECODE="1", PYTHONNOUSERSITE="1",
                   MALLOC_ARENA_MAX="4")
        return env

    def wrap(self, cmd: list[str]) -> list[str]:
        config = {"isolated": self.isolated, "uid": self.uid, "hide": self.hide,
                  "namespace": self.namespace,
                  "expose": (closed_ancestors(_needed(cmd) + [self.scratch])
                             if self.isolated else {}),
                  "memory": self.memory_mb, "cgroup": self.cgroup, "nproc": NPROC}
        return [sys.executable, os.path.abspath(__file__), json.dumps(config), "--", *cmd]

    def give(self, path: str) -> None:
        if self.isolated:
            os.chown(path, self.uid, self.uid)

    def describe(self) -> str:
        memory = f"{self.memory_mb} MB" if self.memory_mb else "no memory limit"
        if not self.isolated:
            why = self.why_not or "not root"
            return (f"not isolated ({why}): student code runs as this user, RLIMIT_AS "
                    f"{memory}; grade untrusted work as root or in a container")
        limits = (f"cgroup v2 for the whole tree ({memory}, {NPROC} processes) and RLIMIT_AS "
                  "per process" if self.cgroup
                  else f"RLIMIT_AS {memory} per process and RLIMIT_NPROC {NPROC} for the user "
                       "(no writable cgroup v2: the tree's total memory is not limited)")
        shown = (f"; could not hide {', '.join(self.visible)} (the kernel needs what is in it)"
                 if self.visible else "")
        mounts = (f"private mount namespace hiding {len(self.hide)} folder(s)" if self.namespace
                  else "no mount namespace allowed here: only file modes protect other files")
        return f"isolated: uid {self.uid}, {mounts}, fresh HOME; {limits}{shown}"

    def kill_tree(self, km: Any) -> None:
        """SIGKILL the kernel, every descendant (adopted orphans too) and, isolated, every
        process of the kernel's user."""
        victims = set(descendants(os.getpid()))
        if self.isolated:
            victims |= processes_of(self.uid)
        kernel = getattr(getattr(km, "provisioner", None), "pid", None)
        if kernel is not None:
            try:
                os.killpg(kernel, signal.SIGKILL)
            except OSError:
                pass
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for pid in victims:  # reap what was ours
            try:
                os.waitpid(pid, os.WNOHANG)
            except OSError:
                pass
        try:
            km.shutdown_kernel(now=True)
        except Exception:
            pass
        try:
            km.cleanup_resources()
        except Exception:
            pass

    def cleanup(self) -> None:
        if self.cgroup and os.path.isdir(self.cgroup):
            for _ in range(20):
                try:
                    os.rmdir(self.cgroup)
                    return
                except OSError:
                    time.sleep(0.05)


def _needed(cmd: list[str]) -> list[str]:
    """What the kernel must reach: the interpreter, its prefixes and the import path (not
    the grader's working folder, where the plan with the hidden tests lies)."""
    here = os.getcwd()
    found = [cmd[0], sys.prefix, sys.base_prefix]
    return found + [p for p in sys.path if p and os.path.isdir(p)
                    and os.path.abspath(p) != here]


def closed_ancestors(paths: list[str]) -> dict[str, list[str]]:
    """Folders another user cannot enter on the way to ``paths`` (the interpreter, sys.path),
    each with the children that lead there: the sandbox shows just those children."""
    closed: dict[str, list[str]] = {}
    for raw in paths:
        if not raw:
            continue
        for path in {os.path.abspath(raw), os.path.realpath(raw)}:
            parts = path.split(os.sep)
            for depth in range(1, len(parts) - 1):
                folder = os.sep.join(parts[:depth]) or os.sep
                try:
                    mode = os.stat(folder).st_mode
                except OSError:
                    break
                if not mode & 0o001:
                    child = os.path.join(folder, parts[depth])
                    if os.path.exists(child) and child not in closed.setdefault(folder, []):
                        closed[folder].append(child)
    return dict(sorted(closed.items(), key=lambda item: len(item[0])))  # outer ones first


def _expose(libc: Any, closed: dict[str, list[str]]) -> None:
    """Cover each closed folder with an open tmpfs that shows only the given children."""
    for folder, children in closed.items():
        handles = [os.open(child, os.O_PATH) for child in children]
        if libc.mount(b"tmpfs", folder.encode(), b"tmpfs", 0, b"size=64k,mode=0755") != 0:
            raise OSError(ctypes.get_errno(), f"cannot cover {folder}")
        for child, handle in zip(children, handles):
            if os.path.isdir(f"/proc/self/fd/{handle}"):
                os.mkdir(child)
            else:
                open(child, "w").close()
            source = f"/proc/self/fd/{handle}".encode()
            if libc.mount(source, child.encode(), None, _MS_BIND | _MS_REC, None) != 0:
                raise OSError(ctypes.get_errno(), f"cannot show {child}")
            os.close(handle)


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for name in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as handle:
                stat = handle.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(name))
    return tree


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux /proc; empty elsewhere)."""
    tree, out, stack = _children(), [], [pid]
    while stack:
        for child in tree.get(stack.pop(), []):
            out.append(child)
            stack.append(child)
    return out


def processes_of(uid: int) -> set[int]:
    found = set()
    for name in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if name.isdigit():
            try:
                if os.stat(f"/proc/{name}").st_uid == uid:
                    found.add(int(name))
            except OSError:
                pass
    return found


def _enter(config: dict[str, Any], cmd: list[str]) -> None:
    import resource  # noqa: PLC0415

    memory = config.get("memory")
    limit_bytes = int(memory) * 1024 * 1024 if memory else None
    if config.get("isolated"):
        libc = _libc()
        if config.get("namespace"):
            if libc.unshare(_CLONE_NEWNS) != 0:
                raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS) failed")
            libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None)
            _expose(libc, config.get("expose", {}))
            for path in config.get("hide", []):
                if libc.mount(b"tmpfs", path.encode(), b"tmpfs", 0, b"size=64k,mode=0555"):
                    raise OSError(ctypes.get_errno(), f"cannot hide {path}")
        uid = int(config["uid"])
        if "-f" in cmd:  # the connection file: the kernel's user must read it
            os.chown(cmd[cmd.index("-f") + 1], uid, uid)
        group = config.get("cgroup")
        if group:
            os.makedirs(group, exist_ok=True)
            if limit_bytes:
                with open(os.path.join(group, "memory.max"), "w") as handle:
                    handle.write(str(limit_bytes))
            with open(os.path.join(group, "pids.max"), "w") as handle:
                handle.write(str(config["nproc"]))
            with open(os.path.join(group, "cgroup.procs"), "w") as handle:
                handle.write(str(os.getpid()))
        else:
            nproc = int(config["nproc"])
            resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
        if limit_bytes:
            resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
        libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    elif limit_bytes:
        try:
            resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))
        except (ValueError, OSError):
            pass
    os.execvp(cmd[0], cmd)


if __name__ == "__main__":
    _separator = sys.argv.index("--")
    _enter(json.loads(sys.argv[1]), sys.argv[_separator + 1:])
