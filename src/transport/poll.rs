//! Waiting with a deadline: [`wait_fd`] for descriptors (`ppoll`), and
//! [`Backoff`] for the few waits the kernel offers no descriptor for
//! (System V queues, a FIFO or socket that has no peer yet).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::{Duration, Instant};

use super::Deadline;

/// Readable (`POLLIN`), for [`wait_fd`].
pub(crate) const READABLE: libc::c_short = libc::POLLIN;
/// Writable (`POLLOUT`), for [`wait_fd`].
pub(crate) const WRITABLE: libc::c_short = libc::POLLOUT;

/// Time left until `deadline`, `None` for no limit (zero once it passed).
pub(crate) fn remaining(deadline: Deadline) -> Option<Duration> {
    match deadline {
        Deadline::Now => Some(Duration::ZERO),
        Deadline::At(at) => Some(at.saturating_duration_since(Instant::now())),
        Deadline::Never => None,
    }
}

/// Waits until `fd` reports one of `events` (or an error or hang-up), or
/// `deadline` passes. Returns the reported events, or `None` on timeout.
/// Retries on EINTR with the time still left.
pub(crate) fn wait_fd(
    fd: BorrowedFd<'_>,
    events: libc::c_short,
    deadline: Deadline,
) -> io::Result<Option<libc::c_short>> {
    let mut pfd = [libc::pollfd {
        fd: fd.as_raw_fd(),
        events,
        revents: 0,
    }];
    Ok((ppoll_until(&mut pfd, deadline)? > 0).then_some(pfd[0].revents))
}

/// Waits until any of `fds` reports one of `events` (or an error or
/// hang-up), or `deadline` passes: `false` on timeout.
pub(crate) fn wait_any(
    fds: &[BorrowedFd<'_>],
    events: libc::c_short,
    deadline: Deadline,
) -> io::Result<bool> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|fd| libc::pollfd {
            fd: fd.as_raw_fd(),
            events,
            revents: 0,
        })
        .collect();
    Ok(ppoll_until(&mut pfds, deadline)? > 0)
}

/// `ppoll` on `pfds` until one reports or `deadline` passes (0), retrying
/// on EINTR with the time still left.
fn ppoll_until(pfds: &mut [libc::pollfd], deadline: Deadline) -> io::Result<usize> {
    loop {
        let timeout = remaining(deadline).map(|left| libc::timespec {
            tv_sec: libc::time_t::try_from(left.as_secs()).unwrap_or(libc::time_t::MAX),
            tv_nsec: libc::c_long::from(left.subsec_nanos() as i32),
        });
        let timeout_ptr = timeout
            .as_ref()
            .map_or(std::ptr::null(), std::ptr::from_ref);
        // SAFETY: `pfds` is a live slice of valid pollfds (nfds its
        // length) that lives across the call; `timeout_ptr` is null or
        // points to `timeout`, which also lives across it; a null signal
        // mask leaves the mask unchanged.
        let ready = unsafe {
            libc::ppoll(
                pfds.as_mut_ptr(),
                pfds.len() as libc::nfds_t,
                timeout_ptr,
                std::ptr::null(),
            )
        };
        if let Ok(n) = usize::try_from(ready) {
            return Ok(n);
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

/// Sleeps between retries of an operation that cannot be waited on: a
/// short first pause, doubling up to [`Backoff::MAX_PAUSE`], never past the
/// deadline.
#[derive(Debug)]
pub(crate) struct Backoff {
    pause: Duration,
}

impl Backoff {
    const FIRST_PAUSE: Duration = Duration::from_micros(20);
    const MAX_PAUSE: Duration = Duration::from_millis(1);

    pub(crate) fn new() -> Self {
        Self {
            pause: Self::FIRST_PAUSE,
        }
    }

    /// Sleeps for the next pause (cut short at the deadline) and returns
    /// true, or returns false at once if the deadline has passed.
    pub(crate) fn sleep(&mut self, deadline: Deadline) -> bool {
        let pause = match remaining(deadline) {
            Some(left) if left.is_zero() => return false,
            Some(left) => self.pause.min(left),
            None => self.pause,
        };
        std::thread::sleep(pause);
        self.pause = (self.pause * 2).min(Self::MAX_PAUSE);
        true
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;

    use super::*;

    #[test]
    fn wait_fd_times_out_then_sees_data() {
        let (reader, writer) = std::io::pipe().unwrap();
        let wait = Duration::from_millis(5);
        let start = Instant::now();
        assert_eq!(
            wait_fd(reader.as_fd(), READABLE, Deadline::At(start + wait)).unwrap(),
            None
        );
        assert!(start.elapsed() >= wait, "timed out before its deadline");
        assert_eq!(
            wait_fd(reader.as_fd(), READABLE, Deadline::Now).unwrap(),
            None
        );
        std::io::Write::write_all(&mut &writer, b"x").unwrap();
        let events = wait_fd(reader.as_fd(), READABLE, Deadline::Never).unwrap();
        assert_eq!(events.map(|e| e & READABLE), Some(READABLE));
    }

    #[test]
    fn backoff_gives_up_only_once_the_deadline_passed() {
        let mut backoff = Backoff::new();
        assert!(!backoff.sleep(Deadline::Now));
        let wait = Duration::from_millis(3);
        let start = Instant::now();
        let deadline = Deadline::At(start + wait);
        let mut sleeps = 0;
        while backoff.sleep(deadline) {
            sleeps += 1;
            assert!(sleeps < 10_000, "backoff never reached its deadline");
        }
        assert!(start.elapsed() >= wait, "gave up before its deadline");
        // A passed deadline stays passed: no more sleeps.
        assert!(!backoff.sleep(deadline));
    }

    #[test]
    fn backoff_pauses_double_up_to_the_cap() {
        let mut backoff = Backoff::new();
        let mut pauses = vec![backoff.pause];
        for _ in 0..8 {
            assert!(backoff.sleep(Deadline::Never));
            pauses.push(backoff.pause);
        }
        assert_eq!(pauses[0], Backoff::FIRST_PAUSE);
        assert!(
            pauses
                .windows(2)
                .all(|w| w[1] == (w[0] * 2).min(Backoff::MAX_PAUSE))
        );
        assert_eq!(pauses.last(), Some(&Backoff::MAX_PAUSE));
    }
}
