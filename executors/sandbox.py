"""Isolation layers for untrusted programs, set up once per worker and applied in each forked child.

Layers (each one is switched on when the host allows it; `Sandbox.layers` says which are on):
  netns    the worker lives in an empty network namespace: no interface but a downed loopback
  mountns  a private mount namespace holding a read-only jail: the system libraries and the Python
           installation, an empty /tmp scratch tmpfs, /dev/{null,zero,random,urandom}; nothing else of
           the host (no /work, /root, /home, /proc, /etc secrets) is visible after chroot
  pidns    each sample gets a fresh PID namespace; its first process is PID 1, so when it ends the
           kernel kills every process left in it (double-forked daemons included)
  user     the child drops root for a uid of its own (one per worker of one evaluator process), with
           no capabilities and no_new_privs, so it cannot leave the chroot, remount, or signal other
           sandboxes; RLIMIT_NPROC then counts only its own processes
  rlimits  always: address space (on top of the interpreter's baseline), CPU seconds, file size,
           processes, open files, no core dumps
  session  always: own session and process group, killed as a group
Without root and without user namespaces only `rlimits` and `session` remain; the worker says so
once on stderr.
"""
from __future__ import annotations

import ctypes
import os
import resource
import sys
from dataclasses import dataclass, field

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18
PR_SET_NO_NEW_PRIVS = 38
PR_SET_PDEATHSIG = 1

_libc = ctypes.CDLL(None, use_errno=True)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def setns(fd: int, flags: int) -> None:
    _check(_libc.setns(fd, flags), "setns")


def mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = lambda s: s.encode() if s is not None else None  # noqa: E731
    _check(_libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)),
           f"mount {target}")


def prctl(option: int, arg: int) -> None:
    _check(_libc.prctl(option, ctypes.c_ulong(arg), 0, 0, 0), "prctl")


# ---------------------------------------------------------------- worker-side set-up


@dataclass
class Sandbox:
    """What one worker set up; `prepare_child` applies it inside each forked child."""
    uid: int = 0
    jail: str = ""                # chroot directory ("" = no mount isolation)
    scratch_root: str = "/tmp"    # scratch directories are made here (path as seen by the child)
    layers: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    _pidns_fd: int = -1

    def describe_missing(self) -> str:
        return ", ".join(self.missing)


def setup(uid: int, want_isolation: bool = True) -> Sandbox:
    """Enter the worker's namespaces and build the jail; every layer that fails is listed in `missing`."""
    box = Sandbox(layers=["rlimits", "session"])
    if not want_isolation:
        box.missing = ["netns", "mountns", "pidns", "user (isolation switched off)"]
        return box
    root = os.geteuid() == 0
    flags = CLONE_NEWNS | CLONE_NEWNET
    try:
        if not root:
            _enter_user_namespace()
        unshare(flags)
        box.layers += ["netns"]
    except OSError as e:
        box.missing += [f"netns ({e.strerror})", "mountns", "pidns"]
        box.missing += [] if root else ["user (not root)"]
        return box
    try:
        box.jail = _build_jail()
        box.scratch_root = "/tmp"
        box.layers.append("mountns")
    except OSError as e:
        box.missing.append(f"mountns ({e})")
    try:
        box._pidns_fd = os.open("/proc/self/ns/pid", os.O_RDONLY)
        setns(box._pidns_fd, CLONE_NEWPID)
        unshare(CLONE_NEWPID)
        setns(box._pidns_fd, CLONE_NEWPID)
        box.layers.append("pidns")
    except OSError as e:
        box._pidns_fd = -1
        box.missing.append(f"pidns ({e.strerror})")
    if root and box.jail:
        box.uid = uid
        box.layers.append("user")
    else:
        box.missing.append("user (needs root: the program keeps this worker's uid)")
    return box


def _enter_user_namespace() -> None:
    """Without root: become root of a new user namespace, so the other namespaces can be made."""
    uid, gid = os.geteuid(), os.getegid()
    unshare(CLONE_NEWUSER)
    with open("/proc/self/setgroups", "w") as f:
        f.write("deny")
    with open("/proc/self/uid_map", "w") as f:
        f.write(f"0 {uid} 1")
    with open("/proc/self/gid_map", "w") as f:
        f.write(f"0 {gid} 1")


def _jail_binds() -> list[str]:
    """Host paths the jail shows read-only: system libraries and the Python installation(s)."""
    paths = ["/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc/ld.so.cache", "/etc/localtime",
             "/etc/ssl", "/etc/alternatives"]
    paths += [sys.base_prefix, sys.prefix, os.path.realpath(sys.executable)]
    # site-packages outside the prefixes (e.g. a user site); never the project directory itself
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for p in sys.path:
        if p and os.path.isdir(p) and "site-packages" in p and not p.startswith(here + os.sep):
            paths.append(p)
    out = []
    for p in paths:
        if os.path.lexists(p) and p not in out:
            out.append(p)
    return out


def _build_jail() -> str:
    mount("none", "/", None, MS_REC | MS_PRIVATE)
    # The jail is a private tmpfs on an empty host directory: the host sees only that empty
    # directory (the parent removes it when the worker stops); nothing else of the host is
    # covered, so a checkout or venv under /tmp stays visible to the worker.
    import tempfile
    jail = tempfile.mkdtemp(prefix="codeeval-jail-")
    mount("tmpfs", jail, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=755")
    # scratch first, so read-only binds that live under /tmp (a venv there) are mounted on top of it
    os.makedirs(jail + "/tmp")
    mount("tmpfs", jail + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=512m,mode=711")
    for src in _jail_binds():
        dst = jail + os.path.abspath(src)
        if os.path.islink(src) and not src.startswith(sys.prefix):
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            if not os.path.lexists(dst):
                os.symlink(os.readlink(src), dst)
            continue
        _bind_readonly(src, dst)
    os.makedirs(jail + "/dev", exist_ok=True)
    for dev in ("null", "zero", "random", "urandom"):
        _bind_readonly(f"/dev/{dev}", f"{jail}/dev/{dev}", readonly=False)
    mount("none", jail, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
    return jail


def _bind_readonly(src: str, dst: str, readonly: bool = True) -> None:
    real = os.path.realpath(src)
    if os.path.isdir(real):
        os.makedirs(dst, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if not os.path.exists(dst):
            open(dst, "w").close()
    mount(real, dst, None, MS_BIND | MS_REC)
    flags = MS_REMOUNT | MS_BIND | MS_NOSUID | (MS_RDONLY if readonly else 0)
    mount("none", dst, None, flags)


def new_pid_namespace(box: Sandbox) -> None:
    """Make the worker's next child PID 1 of a fresh PID namespace (cheap: two syscalls)."""
    if box._pidns_fd >= 0:
        setns(box._pidns_fd, CLONE_NEWPID)
        unshare(CLONE_NEWPID)


JAIL_SCRATCH = "/tmp/w"   # one program runs per worker at a time, so one fixed path will do


def make_scratch(box: Sandbox) -> tuple[str, str]:
    """(path in the worker, path in the child) of a fresh, empty scratch directory."""
    if not box.jail:
        import tempfile
        host = tempfile.mkdtemp(prefix="codeeval-")
        return host, host
    host = box.jail + JAIL_SCRATCH
    if os.path.lexists(host):
        import shutil
        shutil.rmtree(host, ignore_errors=True)
    os.mkdir(host, 0o700)
    if box.uid:
        os.chown(host, box.uid, box.uid)
    return host, JAIL_SCRATCH


def close_fds_from(low: int) -> None:
    """Close every descriptor >= low: one close_range(2) call where the kernel has it."""
    try:
        if _libc.close_range(low, 0xFFFFFFFF, 0) == 0:
            return
    except AttributeError:
        pass
    os.closerange(low, os.sysconf("SC_OPEN_MAX"))


# ---------------------------------------------------------------- child-side


@dataclass
class ChildLimits:
    memory_bytes: int
    cpu_seconds: int
    file_bytes: int
    processes: int
    open_files: int
    stack_bytes: int = 256 << 20


def baseline_address_space() -> int:
    """This process's current virtual size: the memory limit is counted on top of it."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def prepare_child(box: Sandbox, scratch: str, limits: ChildLimits, baseline: int) -> None:
    """In the forked child, before any untrusted code: leave the host for good.
    `baseline` is the forking worker's address space, measured just before the fork."""
    os.setsid()
    if box.jail:
        os.chroot(box.jail)
    os.chdir(scratch)
    if box.uid:
        os.setgroups([])
        os.setgid(box.uid)
        os.setuid(box.uid)
    try:
        prctl(PR_SET_NO_NEW_PRIVS, 1)
    except OSError:
        pass
    _rlimit(resource.RLIMIT_CORE, 0)
    _rlimit(resource.RLIMIT_CPU, limits.cpu_seconds)
    _rlimit(resource.RLIMIT_FSIZE, limits.file_bytes)
    _rlimit(resource.RLIMIT_NOFILE, limits.open_files)
    _rlimit(resource.RLIMIT_STACK, limits.stack_bytes)
    if box.uid:
        _rlimit(resource.RLIMIT_NPROC, limits.processes)
    _rlimit(resource.RLIMIT_AS, baseline + limits.memory_bytes)


def _rlimit(which: int, value: int) -> None:
    soft, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    try:
        resource.setrlimit(which, (value, value))
    except (ValueError, OSError):
        resource.setrlimit(which, (value, hard))


def child_env(scratch: str) -> dict[str, str]:
    """The whole environment a program sees: no tokens, keys or proxies of the host."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": scratch, "TMPDIR": scratch,
            "LANG": "C.UTF-8", "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1",
            "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
