//! What every ring endpoint shows the same way: its counters ([`Stats`])
//! and its common accessors (`endpoint_accessors!`).

/// Counters of a ring, from its segment (shared by every endpoint): the
/// one `stats()` answer of every ring kind. A field that does not apply to
/// a kind is 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Positions published since the segment was created (the tail
    /// position): items for the typed rings (MPMC: also skipped slots),
    /// 8-byte words for the byte ring (frame headers and padding included).
    pub pushes: u64,
    /// Positions released since the segment was created (the head
    /// position), in the same unit as `pushes`; the byte ring's consumer
    /// publishes it lazily (every eighth of the ring, when empty, at drop).
    pub pops: u64,
    /// Bytes of slots published: `pushes` times the slot size (the item's
    /// size; 8 for the byte ring).
    pub written_bytes: u64,
    /// Bytes of slots released: `pops` times the slot size.
    pub released_bytes: u64,
    /// Byte ring: frames dropped because the ring was full
    /// ([`Overflow::DropNewest`](crate::Overflow::DropNewest)). 0 for the
    /// other kinds.
    pub drops: u64,
    /// Non-blocking pushes (sends, grants, reservations) that found the
    /// ring full. Each endpoint adds its count to the segment once every
    /// 1024 and when it drops, so a live endpoint's last few may not show
    /// yet.
    pub full_hits: u64,
    /// Non-blocking pops (receives, reads) that found the ring empty,
    /// counted as `full_hits` are.
    pub empty_hits: u64,
    /// Blocking pushes that found the ring full and had to wait.
    pub full_waits: u64,
    /// Blocking pops that found the ring empty and had to wait.
    pub empty_waits: u64,
    /// futex wake syscalls issued by either end.
    pub wake_syscalls: u64,
    /// futex wait syscalls issued by either end.
    pub wait_syscalls: u64,
    /// MPMC: slots published empty instead of an item (a reservation
    /// dropped uncommitted, or a sender that died holding one); receivers
    /// pass over them. 0 for the other kinds.
    pub skipped: u64,
    /// MPMC: items that a receiver died in the middle of receiving, handed
    /// out again. 0 for the other kinds.
    pub recovered: u64,
}

/// The accessors every ring endpoint has, written once: `capacity`,
/// `stats`, `is_disconnected` and the liveness check. `memory` is the path
/// from `self` to the endpoint's [`RingMemory`](super::RingMemory); `gone` and `check` the
/// paths to its peer-gone test and its liveness check (one peer, or MPMC's
/// many); `unit` and `per_slot` what the capacity counts; `peer` names the
/// other side in the docs, `check_name` the liveness check's public name.
///
/// `example` is what each accessor's `# Examples` is built from, so that
/// every endpoint's docs run an example of its own ring kind: `uses` the
/// import line; `pair` the line making the ring's two ends as `tx` and
/// `rx` (a `heap_pair`); `round_trip` the lines moving one item from `tx`
/// to `rx`, which puts both ends in use (an end never used detaches nothing
/// when dropped); `this` the end being documented and `other` the other
/// one; `capacity` what `capacity()` returns for that pair.
macro_rules! endpoint_accessors {
    (
        memory: $($memory:ident).+,
        gone: $($gone:ident).+,
        check: $($check:ident).+ => $check_name:ident,
        unit: $unit:literal,
        per_slot: $per_slot:literal,
        peer: $peer:literal,
        example: {
            uses: $uses:literal,
            pair: $pair:literal,
            round_trip: $round_trip:literal,
            this: $this:literal,
            other: $other:literal,
            capacity: $capacity:literal $(,)?
        } $(,)?
    ) => {
        #[doc = concat!("The ring's capacity, in ", $unit, ".")]
        ///
        /// # Examples
        ///
        #[doc = concat!(
            "```\n", $uses, "\n",
            "# fn main() -> Result<(), Box<dyn std::error::Error>> {\n",
            $pair, "\n",
            "assert_eq!(", $this, ".capacity(), ", $capacity, ");\n",
            "# Ok(())\n# }\n```"
        )]
        pub fn capacity(&self) -> usize {
            (self.$($memory).+.capacity().get() * $per_slot) as usize
        }

        /// The ring's counters, read from the segment (the same for every
        /// endpoint of the ring).
        ///
        /// # Examples
        ///
        #[doc = concat!(
            "```\n", $uses, "\n",
            "# fn main() -> Result<(), Box<dyn std::error::Error>> {\n",
            $pair, "\n",
            $round_trip, "\n",
            "let stats = ", $this, ".stats();\n",
            "assert!(stats.pushes > 0); // positions published (a byte ring counts words)\n",
            "assert_eq!(stats, ", $other, ".stats()); // one set of counters per ring\n",
            "# Ok(())\n# }\n```"
        )]
        pub fn stats(&self) -> $crate::ring::Stats {
            self.$($memory).+.stats()
        }

        /// What the memory options ([`Options::prefault`](crate::Options::prefault),
        /// [`lock_memory`](crate::Options::lock_memory),
        /// [`huge_pages`](crate::Options::huge_pages)) did to this
        /// endpoint's mapping of the segment, with a note when huge pages
        /// fell back to normal ones.
        pub fn memory_report(&self) -> $crate::MemoryReport {
            self.$($memory).+.memory_report()
        }

        #[doc = concat!(
            "Whether ", $peer, " is gone (detached, or found dead by a ",
            "blocking call or by [`", stringify!($check_name), "`](Self::",
            stringify!($check_name), ")); what it committed may still be waiting."
        )]
        ///
        /// # Examples
        ///
        #[doc = concat!(
            "```\n", $uses, "\n",
            "# fn main() -> Result<(), Box<dyn std::error::Error>> {\n",
            $pair, "\n",
            $round_trip, " // both ends in use\n",
            "assert!(!", $this, ".is_disconnected());\n",
            "drop(", $other, "); // detaches\n",
            "assert!(", $this, ".is_disconnected());\n",
            "# Ok(())\n# }\n```"
        )]
        pub fn is_disconnected(&self) -> bool {
            self.$($gone).+()
        }

        #[doc = concat!(
            "Checks now (a syscall) whether ", $peer, " is still alive, so that ",
            "the next call reports `Disconnected` (after the drain, for a ",
            "receiving end) if it died. Blocking calls do this by themselves ",
            "about every [`LIVENESS_TICK`](crate::LIVENESS_TICK) while they wait."
        )]
        ///
        /// # Examples
        ///
        #[doc = concat!(
            "```\n", $uses, "\n",
            "# fn main() -> Result<(), Box<dyn std::error::Error>> {\n",
            $pair, "\n",
            $round_trip, "\n",
            $this, ".", stringify!($check_name), "(); // the other end is alive, in this very process\n",
            "assert!(!", $this, ".is_disconnected());\n",
            "# Ok(())\n# }\n```"
        )]
        pub fn $check_name(&self) {
            self.$($check).+();
        }
    };
}
pub(crate) use endpoint_accessors;
