//! Operating-system tuning and questions: side threads yield to the forward path and the descriptor table is grown once at start.
//!
//! At the bottom of the crate: best-effort calls with no knowledge of the proxy.

/// How many CPUs this process may run on: the affinity mask (`taskset`,
/// a pinned container) and the cgroup's CPU quota, as
/// `std::thread::available_parallelism` reads them; `None` when it cannot tell.
pub fn usable_cpus() -> Option<usize> {
    std::thread::available_parallelism()
        .ok()
        .map(std::num::NonZeroUsize::get)
}

/// How many file descriptors the process table is grown to at start.
const FD_TABLE_RESERVE: u64 = 16 * 1024;

/// Grows the kernel's file-descriptor table once, now, instead of while
/// serving. Linux doubles a multi-threaded process's table as it passes 256,
/// 512, 1024... descriptors and waits out an RCU grace period (about 10 ms)
/// each time, on whichever thread opened the descriptor: measured here, the
/// request that crossed the line took 10-28 ms instead of 1 ms. Duplicating a
/// descriptor to a high number pays that once, before the first request. Best
/// effort: without it the proxy works, with those one-off stalls.
pub fn reserve_fd_table() {
    use std::os::fd::AsFd;
    let soft_limit = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_or(1024, |(soft, _)| soft);
    let Some(target) = FD_TABLE_RESERVE.min(soft_limit).checked_sub(1) else {
        return;
    };
    let Ok(target) = i32::try_from(target) else {
        return;
    };
    let Ok(null) = std::fs::File::open("/dev/null") else {
        return;
    };
    match nix::fcntl::fcntl(null.as_fd(), nix::fcntl::FcntlArg::F_DUPFD(target)) {
        Ok(high) => {
            let _ = nix::unistd::close(high);
        }
        Err(err) => tracing::debug!(error = %err, "could not reserve the file-descriptor table"),
    }
}

/// Makes the calling thread yield the CPU to the forward path whenever both
/// want it: side work (mirrors, the shadow log) runs under `SCHED_IDLE`, so a
/// forward worker that wakes preempts it at once instead of waiting out a
/// time slice (nice 10 alone still let a busy mirror thread delay a forward
/// worker by up to a slice, which showed in p99). The price: when the forward
/// path keeps both cores busy, mirrors get almost no CPU, so they fill
/// `max_in_flight` and are dropped, and their Socure timings include that
/// wait. On Linux the policy is per thread. Best effort: falls back to nice 10,
/// and at worst the thread keeps the default priority.
pub fn lower_priority() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` is a valid sched_param for the call; `0` names the
    // calling thread; the call has no other memory effects.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) } == 0 {
        return;
    }
    let idle_error = std::io::Error::last_os_error();
    // SAFETY: setpriority has no memory effects; `0` names the calling thread.
    let result = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 10) };
    if result != 0 {
        tracing::debug!(
            idle_error = %idle_error,
            error = %std::io::Error::last_os_error(),
            "could not lower a side thread's priority"
        );
    }
}

/// Makes a file size limit (`ulimit -f`, RLIMIT_FSIZE) an error on the
/// write that passes it (EFBIG), as a full disk is, instead of SIGXFSZ,
/// whose default action kills the process: the shadow log reaching a limit
/// must cost lines (counted), never the forward path.
pub fn ignore_file_size_signal() {
    // SAFETY: setting a signal's disposition to SIG_IGN installs no handler
    // and touches no memory of ours.
    if unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) } == libc::SIG_ERR {
        tracing::debug!("could not ignore SIGXFSZ");
    }
}

/// Raises the soft limit on open descriptors to the hard limit (what Go's
/// runtime and systemd's services do; nginx has `worker_rlimit_nofile`),
/// and returns the soft limit in force: the proxy's bounds are sized to fit
/// under it (`capacity`). Best effort: `None` when it cannot be read.
pub fn raise_fd_limit() -> Option<u64> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        return Some(hard);
    }
    Some(soft)
}
