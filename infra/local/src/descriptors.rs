//! Open files: most machines start a process with a soft limit of 1,024,
//! which a stack waiting on silent sockets would run out of (then `accept`
//! fails, and no one is served). The stack raises its soft limit to the
//! hard one at start, and sizes what it waits on from the limit in force.

use tracing::{info, warn};

/// Descriptors kept for everything but client sockets: SQLite and its
/// WAL, the data folder's files, the listeners, the third party's and
/// AWS's connections, stdio.
pub const RESERVED: u64 = 64;

/// Raises the soft open-file limit to the hard one; the limit in force
/// after (unlimited: `u64::MAX`).
pub fn raise_soft_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write `lim`.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return limit();
        }
        if lim.rlim_cur < lim.rlim_max {
            let was = lim.rlim_cur;
            lim.rlim_cur = lim.rlim_max;
            match libc::setrlimit(libc::RLIMIT_NOFILE, &lim) {
                0 => info!(from = was, to = lim.rlim_max, "raised the open-file limit"),
                _ => warn!(limit = was, "could not raise the open-file limit"),
            }
        }
    }
    limit()
}

/// The soft open-file limit in force.
pub fn limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes `lim`.
    match unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } {
        0 if lim.rlim_cur == libc::RLIM_INFINITY => u64::MAX,
        0 => lim.rlim_cur,
        _ => 1024,
    }
}

/// How many client connections the stack may hold, served and waiting,
/// under `limit` open files.
pub fn for_clients(limit: u64) -> usize {
    usize::try_from(limit.saturating_sub(RESERVED)).unwrap_or(usize::MAX)
}
