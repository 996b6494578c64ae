/**
 * The program python3 runs first, as the leader of the run's process group (argv: the limits, as
 * PythonRunner passes them). It forks; the child sets the run's rlimits and execs the interpreter on
 * the code: the limits hold for the code and everything it starts (rlimits survive exec and fork),
 * and its tracebacks show only its own frames. Lowering a limit needs no privilege; raising one back
 * is refused, so the code cannot undo them. RLIMIT_CPU (soft, then SIGKILL one second later at the
 * hard limit) backs the wall-clock timer up for each process, including one that left the group.
 * The code gets an empty environment (execve with {}): the bootstrap's own would carry the LC_CTYPE
 * that Python's locale coercion (PEP 538) set in it.
 *
 * The parent stays as the group's watchdog, because the example's own timer dies with the example:
 * a gateway stopping it kills the example's process group with SIGKILL, which does not reach this
 * group. When the example is gone (this process's parent changes) it kills the whole group; when
 * the code's process ends it ends the same way (exit code, or the same signal), so the example sees
 * the code's own outcome. It sleeps on pidfds (Linux 5.3, Python 3.9) of both, readable when either
 * ends, so it adds no latency; elsewhere it polls every 50 ms. The code may kill it (same user):
 * that ends the run, since the example then kills the group.
 */
export const PYTHON_BOOTSTRAP = `import os, resource, select, signal, sys, time
mem, cpu, fsize, nproc = (int(a) for a in sys.argv[1:5])
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
example = os.getppid()
child = os.fork()
if child == 0:
    for which, n, hard in ((resource.RLIMIT_AS, mem, mem), (resource.RLIMIT_CPU, cpu, cpu + 1), (resource.RLIMIT_FSIZE, fsize, fsize)):
        resource.setrlimit(which, (n, hard))
    if nproc > 0:
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    os.execve(sys.executable, [sys.executable, "-I", "main.py"], {})
try:
    ends = [os.pidfd_open(child), os.pidfd_open(example)]
except (AttributeError, OSError):
    ends = None
while True:
    done, status = os.waitpid(child, os.WNOHANG)
    if done:
        break
    if os.getppid() != example:
        os.killpg(0, signal.SIGKILL)
    if ends:
        select.select(ends, [], [], 1.0)
    else:
        time.sleep(0.05)
if os.WIFEXITED(status):
    os._exit(os.WEXITSTATUS(status))
sig = os.WTERMSIG(status)
signal.signal(sig, signal.SIG_DFL)
os.kill(os.getpid(), sig)
os._exit(128 + sig)
`;
