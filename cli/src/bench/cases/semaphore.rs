//! `semaphore-rtt`: shmlane's process-shared counting semaphore, the P/V
//! counter of the seed articles, as a round trip: the parent posts A and
//! waits on B, the child waits on A and posts B.

use std::sync::atomic::{AtomicU64, Ordering};

use shmlane::Semaphore;

use super::Setup;
use crate::bench::error::BenchError;
use crate::bench::measure::{Budget, Figures, rtt};
use crate::bench::runner::run_pair;
use crate::bench::shared::SharedPage;

// Words of the shared page. SYNC: sem-flags. Stored with Release before
// the post that makes the other side look, loaded with Acquire after the
// wait that returned.
/// Set by the parent before its last post of A: the child exits.
const STOP: usize = 0;
/// Set by the child on its way out: the parent's wait on B was not a pong.
const CHILD_GONE: usize = 1;

/// The `semaphore-rtt` case.
pub fn case(setup: &Setup) -> Result<Figures, BenchError> {
    let a = Semaphore::anonymous(0).map_err(BenchError::lib)?;
    let b = Semaphore::anonymous(0).map_err(BenchError::lib)?;
    let page = SharedPage::new()?;
    let (stop, child_gone) = (page.word(STOP), page.word(CHILD_GONE));
    let (a, b) = (&a, &b);
    let secs = setup.secs;
    let stats = run_pair(
        setup.peers,
        setup.cores,
        |_watch| {
            let _guard = ExitGuard { child_gone, b };
            loop {
                a.wait().map_err(BenchError::lib)?;
                if stop.load(Ordering::Acquire) != 0 {
                    return Ok(());
                }
                b.post().map_err(BenchError::lib)?;
            }
        },
        |_watch| {
            let stats = rtt(Budget::rtt_warmup(secs), Budget::rtt_measure(secs), |_| {
                a.post().map_err(BenchError::lib)?;
                b.wait().map_err(BenchError::lib)?;
                if child_gone.load(Ordering::Acquire) != 0 {
                    return Err(BenchError::PeerGone {
                        what: "waiting on the pong semaphore",
                    });
                }
                Ok(())
            })?;
            stop.store(1, Ordering::Release);
            a.post().map_err(BenchError::lib)?;
            Ok(stats)
        },
    )?;
    Ok(Figures::Rtt(stats))
}

/// Wakes the parent, should it wait on B, when the child's side ends for
/// any reason: a semaphore knows nothing of its users, so nothing else
/// would. After a STOP the parent no longer looks.
struct ExitGuard<'a> {
    child_gone: &'a AtomicU64,
    b: &'a Semaphore,
}

impl Drop for ExitGuard<'_> {
    fn drop(&mut self) {
        self.child_gone.store(1, Ordering::Release);
        // Nothing more to do if it fails: the parent's reap is bounded.
        let _ = self.b.post();
    }
}
