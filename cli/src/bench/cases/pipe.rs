//! `pipe-tput`: the kernel's pipe, raw (no shmlane code), as the
//! throughput baseline of the byte ring: fixed-size messages, one `write`
//! each, the reader draining into a 64 KiB buffer and checking the
//! sequence number at the start of every message.

use std::os::fd::OwnedFd;

use nix::errno::Errno;
use nix::unistd::{read, write};

use super::{Setup, stream};
use crate::bench::error::BenchError;
use crate::bench::measure::{Figures, STOP, StreamRx, StreamTx, check_seq};
use crate::bench::spin::Watch;

/// The reader's buffer.
const READ_BUF: usize = 64 * 1024;

struct Tx {
    pipe: OwnedFd,
    message: Vec<u8>,
}

impl Tx {
    fn write_one(&mut self, seq: u64) -> Result<(), BenchError> {
        self.message[..8].copy_from_slice(&seq.to_le_bytes());
        // A write of at most PIPE_BUF (4096) bytes is atomic: one syscall.
        let mut done = 0;
        while done < self.message.len() {
            match write(&self.pipe, &self.message[done..]) {
                Ok(n) => done += n,
                Err(Errno::EINTR) => {}
                Err(e) => return Err(BenchError::os("write to the pipe")(e)),
            }
        }
        Ok(())
    }
}

impl StreamTx for Tx {
    fn send(&mut self, from: u64, count: u64, _: &Watch<'_>) -> Result<(), BenchError> {
        (from..from + count).try_for_each(|seq| self.write_one(seq))
    }

    fn send_stop(&mut self, _: &Watch<'_>) -> Result<(), BenchError> {
        self.write_one(STOP)
    }

    fn msg_bytes(&self) -> u64 {
        self.message.len() as u64
    }
}

struct Rx {
    pipe: OwnedFd,
    buf: Vec<u8>,
    /// Bytes of a message begun at the end of the last read.
    carried: usize,
    size: usize,
}

impl StreamRx for Rx {
    fn recv_rep(&mut self, _: &Watch<'_>) -> Result<u64, BenchError> {
        let mut next = 0;
        loop {
            let got = match read(&self.pipe, &mut self.buf[self.carried..]) {
                Ok(0) => return Err(BenchError::Peer("the pipe's writer ended".into())),
                Ok(n) => n,
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(BenchError::os("read from the pipe")(e)),
            };
            let filled = self.carried + got;
            let whole = filled / self.size * self.size;
            for message in self.buf[..whole].chunks_exact(self.size) {
                let seq = u64::from_le_bytes(message[..8].try_into().expect("8 bytes"));
                if check_seq(&[seq], &mut next)?.1 {
                    // STOP ends the repetition; the producer waits for the
                    // acknowledgement before it writes again.
                    self.carried = 0;
                    return Ok(next);
                }
            }
            self.buf.copy_within(whole..filled, 0);
            self.carried = filled - whole;
        }
    }
}

/// The `pipe-tput` case.
pub fn case(setup: &Setup) -> Result<Figures, BenchError> {
    let (read, write) = nix::unistd::pipe().map_err(BenchError::os("pipe"))?;
    let tx = Tx {
        pipe: write,
        message: vec![0xa5; setup.size],
    };
    let rx = Rx {
        pipe: read,
        buf: vec![0; READ_BUF],
        carried: 0,
        size: setup.size,
    };
    stream(setup, tx, rx).map(Figures::Tput)
}
