"""Where lessdask runs: a Dask client from settings, and the workers a run waits for and keeps.

One source is used, in this order: an existing client; a running scheduler (an address, or the
scheduler file of a batch script in ``jobs/``); a dask-jobqueue cluster (SLURM, PBS, ...) whose
batch jobs lessdask submits, watches and replaces until the run is done; otherwise an embedded
``LocalCluster`` on loopback, authenticated with temporary TLS credentials so that no other
user of the machine can connect to it and run code as you.

:func:`open_cluster` gives a :class:`ClusterSession` (the client, the number of workers to plan
for, waiting for workers and keeping them); :func:`get_client` gives the client alone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from lessdask.errors import ClusterError

logger = logging.getLogger(__name__)

#: Seconds to wait for a scheduler that does not answer before giving up with a clear error.
CONNECT_TIMEOUT = 20
#: Default seconds a run waits with no worker at all (queue waits included) before it gives up.
WAIT_WORKERS = 24 * 3600.0
#: Default seconds a worker job may pend for a reason no waiting will fix (a drained or down
#: node, a partition or account limit, a held job) before the run gives up.
UNSCHEDULABLE_TIMEOUT = 120.0
#: Least memory per worker process a cluster profile may give (bytes); a worker classifying
#: 250,000-atom chunks of a 1M-atom trajectory peaks near 1.7 GB (docs/speed.md).
MIN_WORKER_MEMORY = 1e9
#: Batch jobs in a row that may end before their worker joins before the run gives up.
DEAD_START_LIMIT = 3
#: Seconds between looks at the scheduler's workers, between asking the batch system about its
#: jobs, and between progress messages while no worker is there.
POLL_WORKERS, POLL_JOBS, REPORT_EVERY = 1.0, 5.0, 30.0
#: Seconds the number of workers of a running scheduler must stay the same before the plan is made.
SETTLE = 2.0

_JOBQUEUE = {"slurm": "SLURMCluster", "pbs": "PBSCluster", "sge": "SGECluster", "lsf": "LSFCluster",
             "htcondor": "HTCondorCluster", "oar": "OARCluster", "moab": "MoabCluster"}
# pending reasons that need someone to act (an administrator, or the user changing the request)
_UNSCHEDULABLE = re.compile(
    r"DOWN|DRAIN|ReqNodeNotAvail|Partition(Down|Inactive|Config|NodeLimit|TimeLimit)|Invalid|PerJob|NotAllowed|"
    r"BadConstraints|NeverSatisfied|Held|Can Never Run|not available", re.IGNORECASE)
_ENDED = {"COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE",
          "OUT_OF_MEMORY", "SPECIAL_EXIT", "REVOKED", "F", "X"}
_PBS_STATES = {"Q": "PENDING", "H": "HELD", "W": "WAITING", "R": "RUNNING", "E": "EXITING", "F": "COMPLETED",
               "X": "COMPLETED", "B": "RUNNING", "S": "SUSPENDED", "T": "MOVING", "U": "SUSPENDED"}


# --------------------------------------------------------------------------- network interfaces


def network_interfaces() -> dict[str, str]:
    """This machine's network interfaces that have an IPv4 address: ``{name: address}``."""
    import psutil

    out = {}
    for name, addrs in psutil.net_if_addrs().items():
        ipv4 = [a.address for a in addrs if a.family == socket.AF_INET]
        if ipv4:
            out[name] = ipv4[0]
    return out


def default_interface() -> str:
    """The interface that carries this machine's default route (``lo`` if it has none)."""
    from distributed.utils import get_ip

    ip = get_ip()  # the source address of a route to the outside world; no packet is sent
    interfaces = network_interfaces()
    for name, addr in interfaces.items():
        if addr == ip:
            return name
    return next((n for n, a in interfaces.items() if a.startswith("127.")), next(iter(interfaces), "lo"))


def resolve_interface(name: str | None, where: str = "") -> tuple[str, str]:
    """``(interface, IPv4 address)`` of ``name``, or of :func:`default_interface` when None or "auto".

    Raises
    ------
    ClusterError
        ``name`` is not an interface of this machine; the message lists the ones it has.
    """
    interfaces = network_interfaces()
    if name in (None, "", "auto"):
        name = default_interface()
    if name not in interfaces:
        have = ", ".join(f"{n} ({a})" for n, a in sorted(interfaces.items()))
        raise ClusterError(f"network interface {name!r}{f' ({where})' if where else ''} does not exist on this "
                           f"machine ({socket.gethostname()}); it has: {have}. Set 'interface:' to one of them, or "
                           f"to null for the one that carries the default route ({default_interface()})")
    return name, interfaces[name]


def write_tls_credentials(directory) -> dict[str, str]:
    """Write a fresh self-signed TLS key pair for one Dask cluster into ``directory``.

    The files (``tls-cert.pem``, ``tls-key.pem``) are readable by their owner only; the
    directory is made with mode 0700. Give them to scheduler, workers and client, e.g. with
    the environment the batch scripts in ``jobs/`` export (see the returned mapping): only
    processes that can read the key can then join or use the cluster.

    Returns
    -------
    dict
        Dask configuration environment variables (``DASK_DISTRIBUTED__COMM__...``) that make
        every Dask process started with them use these credentials and require TLS.
    """
    from distributed.security import Security

    d = Path(directory)
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    sec = Security.temporary()
    files = {"tls-cert.pem": sec.tls_ca_file, "tls-key.pem": sec.tls_client_key}
    for name, text in files.items():
        fd = os.open(d / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
    cert, key = str(d / "tls-cert.pem"), str(d / "tls-key.pem")
    env = {"DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION": "True", "DASK_DISTRIBUTED__COMM__TLS__CA_FILE": cert}
    for role in ("SCHEDULER", "WORKER", "CLIENT"):
        env[f"DASK_DISTRIBUTED__COMM__TLS__{role}__CERT"] = cert
        env[f"DASK_DISTRIBUTED__COMM__TLS__{role}__KEY"] = key
    return env


# --------------------------------------------------------------------------- cluster profiles


def _walltime_seconds(value, kind: str) -> float:
    """Seconds of a batch walltime: ``D-HH:MM:SS``, ``HH:MM:SS``, ``MM:SS`` (SLURM) or a number."""
    s = str(value).strip()
    days = 0
    if "-" in s:
        d, s = s.split("-", 1)
        days = int(d)
    parts = [float(p) for p in s.split(":")]
    if len(parts) == 1:  # SLURM reads a bare number as minutes, PBS as seconds
        secs = parts[0] * (60 if kind == "slurm" else 1)
    elif len(parts) == 2:
        secs = parts[0] * 60 + parts[1] if kind == "slurm" else parts[0] * 3600 + parts[1] * 60
    else:
        secs = parts[-3] * 3600 + parts[-2] * 60 + parts[-1]
    return days * 86400 + secs


def worker_lifetime(walltime_seconds: float) -> tuple[int, int]:
    """``(lifetime, stagger)`` in seconds for workers of a job of this walltime.

    Workers retire ``lifetime +- stagger`` after they start, early enough to hand their work
    back before the batch system kills the job (a worker starts some seconds after its job and
    takes some seconds to leave): the margin is 10 % of the walltime, at least 20 s and at most
    10 min, and the stagger (which keeps a generation of jobs from leaving
    all at once) at most half of it.
    """
    margin = min(600.0, max(20.0, 0.1 * walltime_seconds))
    stagger = min(300.0, 0.05 * walltime_seconds, margin / 2)
    return max(1, int(walltime_seconds - margin)), int(stagger)


def _has_arg(args, flag: str) -> bool:
    return any(a == flag or str(a).startswith(flag + "=") for a in args)


def _pbs_request(spec: str) -> dict:
    """``{"ncpus": ..., "mem": ...}`` from a PBS ``select=1:ncpus=32:mem=96gb`` string."""
    out = {}
    for part in spec.replace("select=", "select:").split(":"):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def cluster_options(kind: str, profile: str | None = None, overrides: dict | None = None) -> dict:
    """Keyword arguments of the dask-jobqueue cluster class for ``kind``, checked and completed.

    The profile (a YAML file or a shipped name, see ``lessdask config show cluster-slurm``)
    holds the cluster class's own arguments; ``overrides`` win over it. What lessdask adds:

    * ``interface``: null (the default) becomes the interface that carries this machine's
      default route; a named one must exist here (scheduler and workers bind it).
    * the dashboard binds the scheduler's address (port 8787, or a free one), not every
      interface;
    * TLS with temporary credentials (``security: true``, the default; ``false`` turns it off),
      their files written to ``shared_temp_directory`` (default: the current directory, which
      must be on a file system the compute nodes see);
    * workers retire before the walltime (``--lifetime``, ``--lifetime-stagger``, see
      :func:`worker_lifetime`) unless the profile sets ``--lifetime`` itself, and are replaced;
    * PBS ``resource_spec`` is derived from ``cores`` and ``memory`` (one given in the profile
      must agree with them).

    Raises
    ------
    ClusterError
        An unknown kind or profile, a missing interface, memory below :data:`MIN_WORKER_MEMORY`
        per worker process, ``processes`` that do not divide ``cores``, a PBS ``resource_spec``
        that disagrees with ``cores`` or ``memory``.
    """
    import yaml
    from dask.utils import parse_bytes

    kind = kind.lower()
    if kind not in _JOBQUEUE:
        raise ClusterError(f"unknown cluster kind {kind!r}: use one of {sorted(_JOBQUEUE)}")
    where = "the defaults"
    options: dict = {}
    if profile:
        from lessdask.configs import config_path
        from lessdask.errors import InputError

        try:
            p = config_path(profile, kind="cluster")
        except InputError as exc:
            raise ClusterError(f"cluster profile {exc}; 'lessdask config show cluster-{kind}' prints one to copy") \
                from None
        where = f"cluster profile {p}"
        try:
            options = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ClusterError(f"{where} is not valid YAML: {exc}") from None
        if not isinstance(options, dict):
            raise ClusterError(f"{where} must be a mapping of {_JOBQUEUE[kind]} arguments")
    options = {k: v for k, v in {**options, **(overrides or {})}.items() if v is not None or k == "interface"}

    for key in ("cores", "memory"):
        if key not in options:
            raise ClusterError(f"{where} does not set {key!r}: give the {key} of one batch job "
                               f"('lessdask config show cluster-{kind}' shows every key to set)")
    cores = int(options["cores"])
    processes = int(options.get("processes") or cores)
    if processes < 1 or cores % processes:
        raise ClusterError(f"{where}: processes: {processes} must divide cores: {cores} "
                           "(each worker process gets cores/processes threads; lessdask wants one each)")
    options["processes"] = processes
    try:
        memory = parse_bytes(str(options["memory"]).replace(" ", ""))
    except ValueError:
        raise ClusterError(f"{where}: memory: {options['memory']!r} is not an amount such as 16GB") from None
    if memory / processes < MIN_WORKER_MEMORY:
        raise ClusterError(
            f"{where}: memory: {options['memory']} for processes: {processes} leaves "
            f"{memory / processes / 1e9:.2f} GB per worker process; lessdask workers need at least "
            f"{MIN_WORKER_MEMORY / 1e9:g} GB (about 1.7 GB at 1M atoms): raise memory or lower processes and cores")

    iface, ip = resolve_interface(options.get("interface"), where)
    options["interface"] = iface
    scheduler_options = dict(options.get("scheduler_options") or {})
    scheduler_options.setdefault("dashboard_address", f"{ip}:8787")  # not every interface
    options["scheduler_options"] = scheduler_options

    security = options.pop("security", True)
    if security:
        options["security"] = True
        options.setdefault("shared_temp_directory", os.getcwd())

    extra = [str(a) for a in options.get("worker_extra_args") or []]
    if "--lifetime-restart" in extra:
        extra.remove("--lifetime-restart")  # the job ends at its walltime; a new job replaces it
    if options.get("walltime") and not _has_arg(extra, "--lifetime"):
        life, stagger = worker_lifetime(_walltime_seconds(options["walltime"], kind))
        extra += ["--lifetime", f"{life}s", "--lifetime-stagger", f"{stagger}s"]
    options["worker_extra_args"] = extra

    if kind == "pbs":
        spec = options.get("resource_spec")
        if spec:
            req = _pbs_request(str(spec))
            if "ncpus" in req and int(req["ncpus"]) != cores:
                raise ClusterError(f"{where}: resource_spec {spec!r} asks for ncpus={req['ncpus']} but cores: {cores}; "
                                   "remove resource_spec (lessdask derives it from cores and memory)")
            if "mem" in req and abs(parse_bytes(req["mem"].upper().rstrip("B") + "B") - memory) > 0.05 * memory:
                raise ClusterError(f"{where}: resource_spec {spec!r} asks for mem={req['mem']} but memory: "
                                   f"{options['memory']}; remove resource_spec (lessdask derives it)")
    return options


def _stderr_of(exc: BaseException) -> str:
    """The batch command's own words from a dask-jobqueue submission error."""
    text = str(exc)
    if "stderr:" in text:
        text = text.split("stderr:", 1)[1]
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return " ".join(lines) or type(exc).__name__


def _recording_job_class(base, refusals: dict):
    """``base`` (a dask-jobqueue Job class) that records a refused submission instead of raising it.

    dask-jobqueue would log the refusal as a traceback and carry on without the worker; the
    session reports it as one message with the batch system's own reason.
    """

    class Job(base):
        async def start(self):
            try:
                await super().start()
            except Exception as exc:  # the batch system's refusal (sbatch/qsub exit code != 0)
                self.job_id = None
                refusals[self.name] = _stderr_of(exc)

    Job.__name__ = Job.__qualname__ = base.__name__
    return Job


def _jobqueue_cluster(kind: str, profile: str | None, overrides: dict | None, refusals: dict):
    try:
        import dask_jobqueue
    except ImportError:  # pragma: no cover - a declared dependency
        raise ClusterError("dask-jobqueue is not installed; pip install dask-jobqueue") from None
    options = cluster_options(kind, profile, overrides)
    cls = getattr(dask_jobqueue, _JOBQUEUE[kind.lower()])
    options["job_cls"] = _recording_job_class(cls.job_cls, refusals)
    submit = shlex.split(cls.job_cls.submit_command)[0]
    if not shutil.which(submit):
        raise ClusterError(f"--cluster {kind}: the batch command {submit!r} is not on PATH here; run lessdask on "
                           "a login node of the cluster, or use --scheduler-file with the batch scripts in jobs/")
    try:
        cluster = cls(**options)
    except (TypeError, ValueError) as exc:
        raise ClusterError(f"cluster profile {profile}: {exc}") from None
    if kind.lower() == "slurm":
        try:
            _slurm_test_only(cluster.job_script())
        except ClusterError:
            cluster.close()
            raise
    return cluster, options


def _slurm_test_only(script: str) -> None:
    """Ask SLURM whether it would ever run a worker job (``sbatch --test-only``); its reason if not."""
    with tempfile.NamedTemporaryFile("w", suffix=".sh", delete=False) as f:
        f.write(script)
    try:
        r = subprocess.run(["sbatch", "--test-only", f.name], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        logger.warning("could not check the worker job with sbatch --test-only: %s", exc)
        return
    finally:
        os.unlink(f.name)
    if r.returncode:
        header = " ".join(ln.split(None, 1)[1] for ln in script.splitlines() if ln.startswith("#SBATCH"))
        reason = " ".join((r.stderr or r.stdout).split())
        nodes = _slurm_unavailable_nodes()
        raise ClusterError(f"SLURM refuses the worker job ({header}): {reason}"
                           + (f"; nodes out of service: {nodes} (ask the administrators)" if nodes else "")
                           + ". Change the cluster profile (partition 'queue', 'account', 'cores', 'memory', "
                           "'walltime'; 'sinfo -s' lists partitions and 'sinfo -N -l' what the nodes have)")


def _slurm_unavailable_nodes() -> str:
    """SLURM's word on nodes that are drained, down or failing (``sinfo -R``), or ''."""
    try:
        r = subprocess.run(["sinfo", "-h", "-R", "-o", "%N (%T): %E"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return "; ".join(ln.strip() for ln in r.stdout.splitlines() if ln.strip())[:500]


# --------------------------------------------------------------------------- batch jobs


def _slurm_states(ids: list[str]) -> dict[str, tuple[str, str]] | None:
    r = subprocess.run(["squeue", "-h", "-t", "all", "-j", ",".join(ids), "-o", "%i|%T|%r"],
                       capture_output=True, text=True, timeout=60)
    if r.returncode and "Invalid job id" not in r.stderr:
        return None  # the controller did not answer: know nothing, change nothing
    out = {}
    for line in r.stdout.splitlines():
        parts = line.strip().split("|", 2)
        if len(parts) == 3:
            out[parts[0]] = (parts[1], parts[2] if parts[2] not in ("None", "") else "")
    return out


def _pbs_states(ids: list[str]) -> dict[str, tuple[str, str]] | None:
    r = subprocess.run(["qstat", "-f", *ids], capture_output=True, text=True, timeout=60)
    if r.returncode and "Unknown Job" not in r.stderr:
        return None
    out, job = {}, None
    for line in r.stdout.splitlines():
        if line.startswith("Job Id:"):
            job = line.split(":", 1)[1].strip()
            out[job] = ("", "")
        elif job and "=" in line:
            k, v = (s.strip() for s in line.split("=", 1))
            state, reason = out[job]
            if k == "job_state":
                out[job] = (_PBS_STATES.get(v, v), reason)
            elif k == "comment":
                out[job] = (state, v)
    # PBS may answer with the full id (123.server) for the short one dask-jobqueue parsed
    return {i: next((s for j, s in out.items() if j == i or j.split(".")[0] == i.split(".")[0]), None)
            for i in ids if any(j == i or j.split(".")[0] == i.split(".")[0] for j in out)}


_STATE_QUERIES = {"slurm": _slurm_states, "pbs": _pbs_states}


def _job_output(job_id: str, log_directory: str | None) -> str:
    """The last lines a batch job wrote (its own output file), or ''."""
    candidates = []
    if log_directory:
        candidates += sorted(Path(os.path.expandvars(os.path.expanduser(log_directory))).glob(f"*{job_id}*"))
    candidates += [Path(f"slurm-{job_id}.out")]
    text = ""
    for p in candidates:
        with contextlib.suppress(OSError):
            text += p.read_text(errors="replace")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return " | ".join(lines[-6:])


@dataclass
class _Jobs:
    """The batch jobs of a dask-jobqueue cluster: their states, replacement, dead ends."""

    cluster: object
    kind: str
    target: int
    refusals: dict                                  # job name -> the batch system's reason
    log_directory: str | None = None
    seen: set = field(default_factory=set)          # job ids ever submitted
    joined: set = field(default_factory=set)        # job names whose worker joined
    pending_since: dict = field(default_factory=dict)
    states: dict = field(default_factory=dict)
    dead_starts: int = 0
    refused_in_a_row: int = 0
    last_dead: str = ""
    last_poll: float = -1e9

    def jobs(self) -> dict[str, str]:
        """``{job name: job id}`` of the jobs submitted and not yet replaced."""
        return {name: str(j.job_id) for name, j in list(self.cluster.workers.items()) if getattr(j, "job_id", None)}

    def note_workers(self, names) -> None:
        jobs = self.cluster.workers
        for n in names:
            self.joined.add(n if n in jobs else str(n).rsplit("-", 1)[0])

    def poll(self, n_workers: int, now: float) -> None:
        """Ask the batch system about our jobs; replace those that ended; raise at a dead end."""
        if now - self.last_poll < POLL_JOBS:
            return
        self.last_poll = now
        jobs = self.jobs()
        self.seen |= set(jobs.values())
        refused = [name for name, j in list(self.cluster.workers.items())
                   if getattr(j, "job_id", "") is None and name in self.refusals]
        query = _STATE_QUERIES.get(self.kind)
        states = query(sorted(jobs.values())) if (query and jobs) else {}
        if states is None:
            return
        self.states = states
        ended = []
        for name, jid in jobs.items():
            state = states.get(jid, ("GONE", ""))[0] if query else ""
            if state in _ENDED or state == "GONE":
                ended.append(name)
                if name not in self.joined:
                    self.dead_starts += 1
                    self.last_dead = jid
                else:
                    self.dead_starts = 0
            if state == "PENDING":
                self.pending_since.setdefault(jid, now)
            else:
                self.pending_since.pop(jid, None)
        if refused:
            self.refused_in_a_row += len(refused)
            reason = self.refusals[refused[-1]]
            if n_workers == 0 or self.refused_in_a_row >= DEAD_START_LIMIT:
                raise ClusterError(f"the batch system refused the worker job: {reason}")
            logger.warning("the batch system refused a replacement worker job (%s); trying again", reason)
        elif jobs:
            self.refused_in_a_row = 0
        if self.dead_starts >= DEAD_START_LIMIT:
            out = _job_output(self.last_dead, self.log_directory)
            raise ClusterError(
                f"{self.dead_starts} worker jobs in a row ended before their Dask worker joined the scheduler at "
                f"{self.cluster.scheduler_address} (last: job {self.last_dead}"
                f"{'; its output: ' + out if out else ''}); check the profile's job_script_prologue and that "
                "the compute nodes see this Python environment and can reach this machine")
        if ended or refused:
            for name in ended:
                logger.info("worker job %s ended (%s); submitting a replacement", jobs[name],
                            states.get(jobs[name], ("gone",))[0].lower())
            self._replace(ended + refused)

    def _replace(self, names) -> None:
        cluster, target = self.cluster, self.target

        async def replace():
            for n in names:
                cluster.worker_spec.pop(n, None)
                cluster.workers.pop(n, None)
            cluster.scale(jobs=target)

        cluster.sync(replace)

    def pending(self) -> str:
        """What the jobs without a worker are doing, in the batch system's words."""
        parts = []
        for name, jid in self.jobs().items():
            if name in self.joined:
                continue
            state, reason = self.states.get(jid, ("SUBMITTED", ""))
            parts.append(f"job {jid} {state}" + (f" ({reason})" if reason else "") +
                         (", its worker is starting" if state == "RUNNING" else ""))
        return "; ".join(parts)

    def unschedulable(self, now: float, timeout: float) -> str | None:
        """A pending job's reason if it needs someone to act and has for ``timeout`` seconds."""
        for jid, since in self.pending_since.items():
            reason = self.states.get(jid, ("", ""))[1]
            if reason and _UNSCHEDULABLE.search(reason) and now - since >= timeout:
                return f"job {jid} cannot start: {reason}"
        return None


# --------------------------------------------------------------------------- the session


def _hms(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class ClusterSession:
    """The client of a run and the workers behind it (made by :func:`open_cluster`).

    Attributes
    ----------
    client : distributed.Client
    cluster : object or None
        The cluster lessdask started (embedded or dask-jobqueue), None for a running scheduler.
    expected_workers : int or None
        Worker processes the cluster was asked for (None: unknown, a running scheduler).
    wait_workers, unschedulable_timeout : float
        See :func:`open_cluster`.
    """

    def __init__(self, client, cluster=None, expected_workers=None, jobs: _Jobs | None = None,
                 wait_workers: float = WAIT_WORKERS, unschedulable_timeout: float = UNSCHEDULABLE_TIMEOUT):
        self.client, self.cluster, self.expected_workers = client, cluster, expected_workers
        self.wait_workers, self.unschedulable_timeout = float(wait_workers), float(unschedulable_timeout)
        self._jobs = jobs
        self._no_workers_since: float | None = None
        self._last_report = -1e9
        self._lock = threading.Lock()
        self.error: ClusterError | None = None

    @property
    def address(self) -> str:
        """The scheduler's real address (protocol, host and port it listens on)."""
        return self.client.scheduler.address

    @property
    def batch_jobs(self) -> list[str]:
        """Ids of every batch job submitted for this run (dask-jobqueue clusters)."""
        if self._jobs is None:
            return []
        return sorted(self._jobs.seen | set(self._jobs.jobs().values()), key=lambda j: (len(j), j))

    def worker_names(self) -> list[str]:
        """Names of the workers connected now."""
        info = self.client.scheduler_info(n_workers=-1).get("workers", {})
        return [str(w.get("name", a)) for a, w in info.items()]

    def check(self) -> int:
        """One look at the workers (and the batch jobs): returns how many are connected.

        Replaces batch jobs that ended, reports progress while no worker is there, and raises
        :class:`ClusterError` at a dead end (see :func:`open_cluster`).
        """
        with self._lock:
            now = time.monotonic()
            names = self.worker_names()
            if self._jobs is not None:
                self._jobs.note_workers(names)
                self._jobs.poll(len(names), now)
            if names:
                self._no_workers_since = None
                return len(names)
            if self._no_workers_since is None:
                self._no_workers_since = now
                self._last_report = now  # the first report after REPORT_EVERY seconds
            waited = now - self._no_workers_since
            pending = self._jobs.pending() if self._jobs is not None else ""
            if self._jobs is not None:
                dead_end = self._jobs.unschedulable(now, min(self.unschedulable_timeout, self.wait_workers))
                if dead_end and self._jobs.kind == "slurm":
                    nodes = _slurm_unavailable_nodes()
                    dead_end += f"; nodes out of service: {nodes}" if nodes else ""
                if dead_end:
                    raise ClusterError(f"no worker can start: {dead_end} (waited {_hms(waited)}). Ask the "
                                       "cluster's administrators, or change the cluster profile")
            if waited >= self.wait_workers:
                raise ClusterError(
                    f"no Dask worker joined the scheduler at {self.address} within {_hms(self.wait_workers)} "
                    f"(--wait-workers {self.wait_workers:g})" + (f": {pending}" if pending else "") +
                    ". Raise --wait-workers for long queue waits, or check that workers can start and reach "
                    "this scheduler")
            if now - self._last_report >= REPORT_EVERY:
                self._last_report = now
                logger.info("waiting for workers at %s: %s; waited %s of at most %s (--wait-workers)", self.address,
                            pending or "none has joined yet", _hms(waited), _hms(self.wait_workers))
            return 0

    def wait_for_workers(self) -> int:
        """Block until at least one worker has joined; return the number of workers to plan for.

        That is the larger of the workers connected and the workers asked for, so a plan made
        while jobs are still starting is sized for the cluster the run will have.

        Raises
        ------
        ClusterError
            No worker within ``wait_workers`` seconds, a job pending for a reason that needs an
            administrator for ``unschedulable_timeout`` seconds, refused or failing jobs.
        """
        while True:
            n = self.check()
            if n:
                if self.expected_workers is None:  # a running scheduler: let the workers starting with it join
                    n = self._settle(n)
                if self.expected_workers and n < self.expected_workers:
                    logger.info("%d of %d workers have joined; the run starts, the others join as their jobs start",
                                n, self.expected_workers)
                return max(n, self.expected_workers or 0)
            time.sleep(POLL_WORKERS)

    def _settle(self, n: int, quiet: float = SETTLE, at_most: float = 5 * SETTLE) -> int:
        """Workers once their number has not changed for ``quiet`` seconds (at most ``at_most``)."""
        t0 = changed = time.monotonic()
        while time.monotonic() - changed < quiet and time.monotonic() - t0 < at_most:
            time.sleep(0.25)
            m = len(self.worker_names())
            if m != n:
                n, changed = m, time.monotonic()
        return max(n, 1)

    @contextlib.contextmanager
    def keep_workers(self, on_dead_end=None):
        """While the block runs, replace batch jobs that end and watch for dead ends (a thread).

        ``on_dead_end()`` is called once, from the thread, when the run cannot go on (the
        error is in :attr:`error`); it must stop the block (the driver raises the error in
        the main thread).
        """
        stop = threading.Event()

        def watch():
            while not stop.wait(POLL_WORKERS):
                try:
                    self.check()
                except ClusterError as exc:
                    self.error = exc
                    if on_dead_end is not None:
                        on_dead_end()
                    return
                except Exception as exc:  # the client closing under us at the end of the run
                    if stop.is_set():
                        return
                    logger.debug("worker watch: %s", exc)

        thread = threading.Thread(target=watch, name="lessdask-keep-workers", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join(timeout=30)


def _local_workers(client) -> int | None:
    """Workers of the client's own ``LocalCluster`` (started before the client returned), else None.

    A run on a caller's client then starts at once instead of waiting :data:`SETTLE` seconds
    for more workers to join.
    """
    from distributed import LocalCluster

    cluster = getattr(client, "cluster", None)
    if isinstance(cluster, LocalCluster):
        return len(cluster.worker_spec) or None
    return None


def _embedded_cluster(n_workers: int | None):
    from distributed import LocalCluster
    from distributed.security import Security

    n = n_workers or os.cpu_count() or 1
    try:
        security = Security.temporary()  # a fresh self-signed key pair, only in this process and its workers
    except ImportError:  # pragma: no cover - cryptography is a declared dependency
        raise ClusterError("the embedded cluster needs the 'cryptography' package for TLS; pip install "
                           "cryptography") from None
    with _children_ignore_sigint():
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                               protocol="tls://", security=security, dashboard_address="127.0.0.1:0",
                               silence_logs=logging.CRITICAL)
    return cluster, n


@contextlib.contextmanager
def _children_ignore_sigint():
    """Worker processes started in this block ignore SIGINT.

    Ctrl-C reaches every process of the terminal's process group: the client stops the run and
    closes its workers, which would otherwise each print a KeyboardInterrupt traceback. An
    ignored signal stays ignored in a spawned child (Python installs its own SIGINT handler
    only where the signal is at its default).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _connect(scheduler, scheduler_file):
    from distributed import Client

    if scheduler_file and not Path(scheduler_file).exists():
        raise ClusterError(f"scheduler file {scheduler_file} does not exist; start the scheduler with "
                           "'dask scheduler --scheduler-file PATH' first")
    where = scheduler or f"the scheduler in {scheduler_file}"
    try:
        return Client(scheduler, scheduler_file=scheduler_file, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        raise ClusterError(f"no Dask scheduler answers at {where} within {CONNECT_TIMEOUT} s ({exc}); "
                           "check the address and that the scheduler is running") from None
    except (TypeError, ValueError) as exc:
        if "tls" in str(exc).lower() or "ssl" in str(exc).lower():
            raise ClusterError(f"{where} uses TLS but this client has no credentials for it: set "
                               "distributed.comm.tls.ca-file, .client.cert and .client.key (e.g. the environment "
                               "variables DASK_DISTRIBUTED__COMM__TLS__CA_FILE, ..._CLIENT__CERT, ..._CLIENT__KEY) "
                               "to the files the scheduler was started with") from None
        raise


@contextlib.contextmanager
def open_cluster(scheduler: str | None = None, scheduler_file: str | None = None, cluster: str | None = None,
                 cluster_config: str | None = None, jobs: int | None = None, n_workers: int | None = None,
                 client=None, quiet: bool = False, wait_workers: float | None = None,
                 unschedulable_timeout: float | None = None, cluster_options: dict | None = None,
                 before_embedded=None):
    """A :class:`ClusterSession` for a lessdask run, closed (with any cluster it started) on exit.

    Exactly one source is used, in this order: an existing ``client``; a running scheduler
    (``scheduler`` address or ``scheduler_file``); a dask-jobqueue cluster of kind ``cluster``
    (``slurm``, ``pbs``, ...) configured by the profile ``cluster_config`` (see
    :func:`cluster_options`; ``cluster_options`` overrides its keys) with ``jobs`` batch jobs
    kept running -- a job that ends (walltime, ``scancel``, a failure) is replaced until the
    block ends; otherwise an embedded ``LocalCluster`` of ``n_workers`` worker processes (one
    per core) with one thread each, scheduler, workers and dashboard on 127.0.0.1, its
    connections TLS with temporary credentials that exist only in this process and its
    workers.

    Parameters
    ----------
    wait_workers : float, optional
        Seconds the run may have no worker at all (queue waits included) before it fails
        (default :data:`WAIT_WORKERS`, a day).
    unschedulable_timeout : float, optional
        Seconds a worker job may pend for a reason no waiting fixes (drained or down nodes,
        partition or account limits, held jobs) before the run fails with the batch system's
        reason (default :data:`UNSCHEDULABLE_TIMEOUT`).
    before_embedded : callable, optional
        Called with no arguments just before an embedded cluster starts its workers (not for
        the other sources), e.g. to compile the kernels its workers will load from this
        machine's numba cache.

    Yields
    ------
    ClusterSession

    Raises
    ------
    ClusterError
        A scheduler that does not answer within :data:`CONNECT_TIMEOUT` seconds, a missing
        scheduler file, an unknown cluster kind, a profile that cannot work, a worker job the
        batch system refuses (with its reason).
    """
    from distributed import Client

    limits = {"wait_workers": WAIT_WORKERS if wait_workers is None else wait_workers,
              "unschedulable_timeout": UNSCHEDULABLE_TIMEOUT if unschedulable_timeout is None
              else unschedulable_timeout}
    if client is not None:
        yield ClusterSession(client, expected_workers=_local_workers(client), **limits)
        return
    started = None
    try:
        tracked = None
        if scheduler or scheduler_file:
            c, expected = _connect(scheduler, scheduler_file), None
        elif cluster:
            refusals: dict = {}
            started, options = _jobqueue_cluster(cluster, cluster_config, cluster_options, refusals)
            n_jobs = max(1, int(jobs or 1))
            started.scale(jobs=n_jobs)
            tracked = _Jobs(started, cluster.lower(), n_jobs, refusals, log_directory=options.get("log_directory"))
            expected = n_jobs * options["processes"]
            c = Client(started)
        else:
            if before_embedded is not None:
                before_embedded()
            started, expected = _embedded_cluster(n_workers)
            c = Client(started)
        session = ClusterSession(c, started, expected, tracked, **limits)
        if not quiet:
            link = getattr(c, "dashboard_link", None)
            logger.info("Dask scheduler %s%s", session.address, f", dashboard {link}" if link else "")
        try:
            yield session
        finally:
            c.close()
    finally:
        if started is not None:
            started.close()


@contextlib.contextmanager
def get_client(scheduler: str | None = None, scheduler_file: str | None = None, cluster: str | None = None,
               cluster_config: str | None = None, jobs: int | None = None, n_workers: int | None = None,
               client=None, quiet: bool = False, **session_options):
    """A Dask client for lessdask work, closed (with any cluster it started) on exit.

    The client of :func:`open_cluster` (same arguments), for work that does not need the
    session's waiting and keeping of workers.

    Yields
    ------
    distributed.Client
    """
    with open_cluster(scheduler=scheduler, scheduler_file=scheduler_file, cluster=cluster,
                      cluster_config=cluster_config, jobs=jobs, n_workers=n_workers, client=client, quiet=quiet,
                      **session_options) as session:
        yield session.client
