//! The one helper that starts a case's two peers.
//!
//! [`run_pair`] is how every case and the probe run their two sides: the
//! caller's side on core A, the peer on core B, as a forked process or a
//! thread. It also owns the rules that keep a failed case from leaving
//! anything behind: the child dies with its parent (PR_SET_PDEATHSIG), the
//! parent always reaps its child, and no wait on the child is unbounded.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::prctl;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid, waitpid};
use nix::unistd::{ForkResult, Pid, fork, getpid, getppid};

use super::affinity::{Cores, pin};
use super::error::BenchError;
use super::spin::{STALL, Watch};

/// What the peer of a case is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peers {
    /// A forked child process (shared memory between processes).
    Proc,
    /// A second thread of this process (the in-process baseline).
    Thread,
    /// No peer: one core (the copy baselines).
    Solo,
}

impl Peers {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Proc => "proc",
            Self::Thread => "thread",
            Self::Solo => "one",
        }
    }
}

/// Runs `mine` on core `cores.a` in the calling thread and `peer` on core
/// `cores.b`, in a forked child or a second thread, and returns what `mine`
/// returned once both have finished.
///
/// Each side gets a [`Watch`] that tells its waits when the other side has
/// ended. A forked child never returns from this function: it exits.
///
/// After fork each process holds a copy of every captured value. What
/// `mine` captured is forgotten in the child, never dropped there: it is
/// the parent's state (its ring ends, its buffers), which the copy must not
/// act on. What `peer` captured is dropped in the parent right after the
/// fork, before `mine` runs, as shmlane's anonymous pairs require ("keep
/// one end per process, drop the other"): each ring end holds its role
/// through its own open file description, and a copy of the child's ends
/// left open in the parent would keep the child's roles held after the
/// child died, so a blocking call of the parent would never see it gone.
/// (Dropping an end a process never used detaches nothing.) The child, for
/// its part, keeps the parent's ends open, so its own blocking calls would
/// not see the parent die: PR_SET_PDEATHSIG ends it instead.
pub fn run_pair<R>(
    peers: Peers,
    cores: Cores,
    peer: impl FnOnce(Watch<'_>) -> Result<(), BenchError> + Send,
    mine: impl FnOnce(Watch<'_>) -> Result<R, BenchError>,
) -> Result<R, BenchError> {
    pin(cores.a)?;
    match peers {
        Peers::Proc => with_child(cores.b, peer, mine),
        Peers::Thread => with_thread(cores.b, peer, mine),
        Peers::Solo => Err(BenchError::Usage(
            "a one-core case has no peer to run".into(),
        )),
    }
}

fn with_child<R>(
    core: usize,
    peer: impl FnOnce(Watch<'_>) -> Result<(), BenchError>,
    mine: impl FnOnce(Watch<'_>) -> Result<R, BenchError>,
) -> Result<R, BenchError> {
    ensure_single_threaded()?;
    let parent = getpid();
    // SAFETY: the process has one thread (checked just above), so the child
    // is a complete copy: no lock is held by a thread that does not exist
    // in it, and it may allocate and print freely.
    let forked = unsafe { fork() }.map_err(BenchError::os("fork"))?;
    match forked {
        ForkResult::Child => {
            std::mem::forget(mine);
            child_main(parent, core, peer)
        }
        ForkResult::Parent { child } => {
            let guard = ChildGuard { pid: child };
            // The child's copy is the one in use (see run_pair).
            drop(peer);
            let gone = || guard.has_exited();
            let mine_result = mine(Watch::new(&gone));
            let child_result = guard.reap(mine_result.is_err());
            merge(mine_result, child_result)
        }
    }
}

/// Runs `case` in a forked child of its own and hands back what it
/// measured: for cases whose library leaves threads running for the rest
/// of the process (Zenoh's runtime), which would stop every later case from
/// forking its peer. The child dies with this process; its result comes
/// back as JSON over a pipe.
#[cfg(feature = "zenoh")]
pub fn isolated<R: serde::Serialize + serde::de::DeserializeOwned>(
    case: impl FnOnce() -> Result<R, BenchError>,
) -> Result<R, BenchError> {
    use std::io::{Read, Write};

    ensure_single_threaded()?;
    let (read_end, write_end) = nix::unistd::pipe().map_err(BenchError::os("pipe"))?;
    let parent = getpid();
    // SAFETY: one thread (checked above): the child is a complete copy.
    let forked = unsafe { fork() }.map_err(BenchError::os("fork"))?;
    match forked {
        ForkResult::Child => {
            drop(read_end);
            let run = || {
                die_with(parent)?;
                case()
            };
            let outcome: Result<R, String> = match catch_unwind(AssertUnwindSafe(run)) {
                Ok(result) => result.map_err(|e| e.to_string()),
                Err(_) => Err("the case panicked".into()),
            };
            let code = match serde_json::to_vec(&outcome) {
                Ok(json) => i32::from(std::fs::File::from(write_end).write_all(&json).is_err()),
                Err(_) => 1,
            };
            // SAFETY: as in child_main: end at once, touching none of the
            // parent's state (its stdout buffer, the libraries' atexit).
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => {
            drop(write_end);
            let guard = ChildGuard { pid: child };
            let mut json = Vec::new();
            let read = std::fs::File::from(read_end).read_to_end(&mut json);
            guard.reap(false).map_err(BenchError::Peer)?;
            read.map_err(|e| BenchError::Peer(format!("reading the case's result: {e}")))?;
            let outcome: Result<R, String> = serde_json::from_slice(&json)
                .map_err(|e| BenchError::Peer(format!("the case's result: {e}")))?;
            outcome.map_err(BenchError::Peer)
        }
    }
}

/// Makes this forked child die with `parent`: a benchmark child must never
/// outlive it.
fn die_with(parent: Pid) -> Result<(), BenchError> {
    prctl::set_pdeathsig(Signal::SIGKILL).map_err(BenchError::os("prctl(PR_SET_PDEATHSIG)"))?;
    // The parent may have died before the line above took effect.
    if getppid() != parent {
        return Err(BenchError::Peer(
            "parent ended before the child started".into(),
        ));
    }
    Ok(())
}

/// The forked child's whole life: set up, run `peer`, exit with its verdict.
fn child_main(
    parent: Pid,
    core: usize,
    peer: impl FnOnce(Watch<'_>) -> Result<(), BenchError>,
) -> ! {
    let run = || {
        die_with(parent)?;
        pin(core)?;
        let gone = || getppid() != parent;
        peer(Watch::new(&gone))
    };
    let code = match catch_unwind(AssertUnwindSafe(run)) {
        Ok(Ok(())) => 0,
        Ok(Err(e)) => {
            eprintln!("shmlane: bench child: {e}");
            1
        }
        // The panic hook has already printed the message.
        Err(_) => 101,
    };
    // SAFETY: `_exit` ends the process at once, skipping destructors and
    // atexit handlers: those belong to the parent's state (its ring ends,
    // its stdout buffer), which this copy must not touch.
    unsafe { libc::_exit(code) }
}

/// Fails if this process runs more than one thread: fork copies only the
/// calling thread, so a lock held by another would stay locked in the child.
/// Cases that spawn threads join them before returning, so this holds
/// between cases.
fn ensure_single_threaded() -> Result<(), BenchError> {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return Ok(()); // no procfs: cannot check, nothing spawns threads anyway
    };
    let threads = status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse::<usize>().ok());
    match threads {
        Some(n) if n > 1 => Err(BenchError::Peer(format!(
            "refusing to fork: the process runs {n} threads (a thread leaked from an earlier case?)"
        ))),
        _ => Ok(()),
    }
}

/// The parent's hold on its child: reaped exactly once, killed if the parent
/// unwinds before reaping it.
struct ChildGuard {
    pid: Pid,
}

impl ChildGuard {
    /// True once the child has ended (without reaping it: WNOWAIT).
    fn has_exited(&self) -> bool {
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
        !matches!(waitid(Id::Pid(self.pid), flags), Ok(WaitStatus::StillAlive))
    }

    /// Waits for the child, at most [`STALL`]; kills it first if `kill_first`
    /// (the parent failed, so the child has nobody left to talk to).
    fn reap(self, kill_first: bool) -> Result<(), String> {
        // A child that ended before the parent failed may be the cause:
        // keep its status. Otherwise the kill below is ours, not its fault.
        let killed_by_us = kill_first && !self.has_exited();
        let pid = self.pid;
        std::mem::forget(self); // reaped here; Drop must not kill or wait again
        if killed_by_us {
            let _ = kill(pid, Signal::SIGKILL);
        }
        let deadline = Instant::now() + STALL;
        loop {
            match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) if Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(1));
                }
                Ok(WaitStatus::StillAlive) => {
                    let _ = kill(pid, Signal::SIGKILL);
                    let _ = waitpid(pid, None);
                    return Err(format!(
                        "the child process did not finish within {} s; killed",
                        STALL.as_secs()
                    ));
                }
                Ok(WaitStatus::Exited(_, 0)) => return Ok(()),
                Ok(WaitStatus::Exited(_, code)) => {
                    return Err(format!("the child process failed (exit status {code})"));
                }
                Ok(WaitStatus::Signaled(_, Signal::SIGKILL, _)) if killed_by_us => return Ok(()),
                Ok(WaitStatus::Signaled(_, sig, _)) => {
                    return Err(format!("the child process was killed by {sig}"));
                }
                Ok(_) => {} // stopped/continued: keep waiting for the end
                Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(format!("waitpid on the child failed: {}", e.desc())),
            }
        }
    }
}

impl Drop for ChildGuard {
    // Only reached when the parent's side panicked: take the child down too.
    fn drop(&mut self) {
        let _ = kill(self.pid, Signal::SIGKILL);
        let _ = waitpid(self.pid, None);
    }
}

fn with_thread<R>(
    core: usize,
    peer: impl FnOnce(Watch<'_>) -> Result<(), BenchError> + Send,
    mine: impl FnOnce(Watch<'_>) -> Result<R, BenchError>,
) -> Result<R, BenchError> {
    // Set when this side fails, so that the peer thread stops waiting for it.
    let mine_failed = AtomicBool::new(false);
    thread::scope(|s| {
        let handle = thread::Builder::new()
            .name("bench-peer".into())
            .spawn_scoped(s, || {
                pin(core)?;
                let gone = || mine_failed.load(Ordering::Relaxed);
                peer(Watch::new(&gone))
            })
            .map_err(|e| BenchError::Peer(format!("cannot start the peer thread: {e}")))?;
        let gone = || handle.is_finished();
        let mine_result = mine(Watch::new(&gone));
        // As for a child: a peer that ended before this side failed may be
        // the cause; one that fails after being told to stop is not.
        let stopped_by_us = mine_result.is_err() && !handle.is_finished();
        if stopped_by_us {
            mine_failed.store(true, Ordering::Relaxed);
        }
        // Bounded: the peer's own waits give up after STALL at the latest.
        let peer_result = match handle.join() {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) if stopped_by_us => Ok(()),
            Ok(Err(e)) => Err(format!("the peer thread failed: {e}")),
            Err(_) => Err("the peer thread panicked".to_string()),
        };
        merge(mine_result, peer_result)
    })
}

/// One verdict from both sides; the peer's failure, being the likelier
/// cause, leads when both failed.
fn merge<R>(mine: Result<R, BenchError>, peer: Result<(), String>) -> Result<R, BenchError> {
    match (mine, peer) {
        (Ok(r), Ok(())) => Ok(r),
        (Ok(_), Err(p)) => Err(BenchError::Peer(p)),
        (Err(m), Ok(())) => Err(m),
        (Err(m), Err(p)) => Err(BenchError::Peer(format!("{p}; this side: {m}"))),
    }
}
