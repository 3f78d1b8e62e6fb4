//! Whose objects an opener accepts: the owner and permission check that
//! every open of an existing named object (segment, queue, FIFO, socket
//! path) runs before it reads or writes anything, so that another local
//! user who took the name first (a segment in `/dev/shm` with mode 0666,
//! a queue, a FIFO in `/tmp`) gets nothing: no frame read, none injected.
//!
//! A plain value and a pure check: the callers look the object up
//! (`fstat`, `lstat`, `IPC_STAT`) and pass what they found.
#![cfg_attr(
    shmlane_loom,
    allow(dead_code, reason = "named objects are compiled out under loom")
)]

/// Which owners and permission bits an opener accepts in an object it did
/// not create ([`Options::trust`](crate::Options::trust),
/// `transport::Config::trust`, or `?owner=UID` / `?group=GID` in a URL).
///
/// By default an object is accepted when
/// * its owner (and, for a System V queue, its creator) is this process's
///   effective uid or root (uid 0, who can read and write any process's
///   memory anyway, so trusting root's objects costs nothing), and
/// * neither its group nor every user may write it (mode bits `0o020`,
///   `0o002`).
///
/// A root caller gets the same rule: root's own objects and nothing else
/// unless allowed, since a root daemon opening a name in a world-writable
/// directory is exactly the victim a squatter looks for.
///
/// [`uid`](Self::uid) adds an owner, [`gid`](Self::gid) a group whose
/// objects (owner any member, group-writable allowed) are accepted, as for
/// a segment shared by a group of service users.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trust {
    uids: Vec<u32>,
    gids: Vec<u32>,
    group_write: bool,
    other_write: bool,
}

/// What an open found: the object's owner, creator (a System V object's
/// `cuid`; the owner for files), group and mode bits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Found {
    pub(crate) uid: u32,
    pub(crate) creator_uid: u32,
    pub(crate) gid: u32,
    pub(crate) mode: u32,
}

impl Found {
    /// A file's owner, group and mode (`stat`); its creator is its owner.
    pub(crate) fn file(uid: u32, gid: u32, mode: u32) -> Self {
        Self {
            uid,
            creator_uid: uid,
            gid,
            mode,
        }
    }
}

/// This process's effective uid.
pub(crate) fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Why an object was refused, for the typed errors
/// (`OpenError::Untrusted`, `ConnectError::Untrusted`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Distrust {
    pub(crate) owner_uid: u32,
    pub(crate) mode: u32,
    /// What is wrong, e.g. "owned by uid 65534".
    pub(crate) problem: String,
    /// Whom this end trusts, in words.
    pub(crate) allowed: String,
    /// How to allow it, if it is to be trusted.
    pub(crate) fix: String,
}

impl Trust {
    /// The default: this process's effective uid and root, nothing
    /// writable by group or others.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also accept objects owned (and created) by `uid`.
    pub fn uid(mut self, uid: u32) -> Self {
        self.uids.push(uid);
        self
    }

    /// Also accept objects whose group is `gid`, whatever member owns them,
    /// and let that group write them (a segment shared by a group).
    pub fn gid(mut self, gid: u32) -> Self {
        self.gids.push(gid);
        self
    }

    /// Accept objects that their group may write, whatever the group.
    pub fn group_write(mut self, allow: bool) -> Self {
        self.group_write = allow;
        self
    }

    /// Accept objects that every user may write (mode `0o002`, and so its
    /// group too): anyone on
    /// the machine can then inject messages or, for a segment, shrink it
    /// (SIGBUS). Only for a machine without untrusted users.
    pub fn other_write(mut self, allow: bool) -> Self {
        self.other_write = allow;
        self
    }

    fn trusts_owner(&self, uid: u32, gid: u32, me: u32) -> bool {
        uid == me || uid == 0 || self.uids.contains(&uid) || self.gids.contains(&gid)
    }

    /// Whom this value trusts, in words.
    fn describe(&self, me: u32) -> String {
        let mut parts = vec![format!("uid {me} (this process)"), "root".to_owned()];
        parts.extend(self.uids.iter().map(|u| format!("uid {u}")));
        parts.extend(self.gids.iter().map(|g| format!("group {g}")));
        parts.join(", ")
    }

    /// Checks what an open found. `writes_matter` is false for a Unix
    /// socket path, whose write bit only says who may connect to its
    /// listener (that listener's business, `?peer_uid=`), not who can
    /// reach this end.
    pub(crate) fn check(&self, found: Found, writes_matter: bool) -> Result<(), Distrust> {
        let me = effective_uid();
        let refuse = |problem: String, fix: String| Distrust {
            owner_uid: found.uid,
            mode: found.mode & 0o7777,
            problem,
            allowed: self.describe(me),
            fix,
        };
        for (who, uid) in [("owned", found.uid), ("created", found.creator_uid)] {
            if !self.trusts_owner(uid, found.gid, me) {
                return Err(refuse(
                    format!("it is {who} by uid {uid} (group {})", found.gid),
                    format!(
                        "if uid {uid} is yours to trust, allow it with ?owner={uid} in the URL \
                         or Trust::new().uid({uid}) (?group={} / Trust::gid for its group); \
                         otherwise remove it and use another name",
                        found.gid
                    ),
                ));
            }
        }
        if !writes_matter {
            return Ok(());
        }
        if found.mode & 0o002 != 0 && !self.other_write {
            return Err(refuse(
                format!("every user may write it (mode {:#o})", found.mode & 0o777),
                "anyone could inject messages: remove it and let this end create it, \
                 or allow it with Trust::other_write(true) only on a machine without untrusted users"
                    .to_owned(),
            ));
        }
        // Every user includes the group: other_write allows both.
        let group_ok = self.group_write || self.other_write || self.gids.contains(&found.gid);
        if found.mode & 0o020 != 0 && !group_ok {
            return Err(refuse(
                format!(
                    "group {} may write it (mode {:#o})",
                    found.gid,
                    found.mode & 0o777
                ),
                format!(
                    "if group {} is yours to trust, allow it with ?group={} in the URL or \
                     Trust::new().gid({}); otherwise remove it and use another name",
                    found.gid, found.gid, found.gid
                ),
            ));
        }
        Ok(())
    }
}

impl Distrust {
    /// The refusal of segment `name`.
    pub(crate) fn into_open_error(self, name: &str) -> crate::error::OpenError {
        crate::error::OpenError::Untrusted {
            name: name.to_owned(),
            owner_uid: self.owner_uid,
            mode: self.mode,
            problem: self.problem,
            allowed: self.allowed,
            fix: self.fix,
        }
    }

    /// The refusal of channel `endpoint`.
    #[cfg(not(shmlane_loom))]
    pub(crate) fn into_connect_error(
        self,
        endpoint: &str,
    ) -> crate::error::transport::ConnectError {
        crate::error::transport::ConnectError::Untrusted {
            endpoint: endpoint.to_owned(),
            owner_uid: self.owner_uid,
            mode: self.mode,
            problem: self.problem,
            allowed: self.allowed,
            fix: self.fix,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> u32 {
        effective_uid()
    }

    #[test]
    fn own_objects_pass_and_others_are_refused() {
        let own = Found::file(me(), 1, 0o600);
        assert!(Trust::new().check(own, true).is_ok());
        assert!(Trust::new().check(Found::file(0, 0, 0o644), true).is_ok());
        let stranger = 4_000_000_001;
        let theirs = Found::file(stranger, 4_000_000_002, 0o600);
        let e = Trust::new().check(theirs, true).unwrap_err();
        assert!(e.problem.contains("uid 4000000001"), "{e:?}");
        assert!(e.fix.contains("?owner=4000000001"), "{e:?}");
        assert!(Trust::new().uid(stranger).check(theirs, true).is_ok());
        assert!(Trust::new().gid(4_000_000_002).check(theirs, true).is_ok());
        let sysv = Found {
            creator_uid: stranger,
            ..own
        };
        assert!(Trust::new().check(sysv, true).is_err(), "creator counts");
    }

    #[test]
    fn writable_objects_need_permission() {
        let world = Found::file(me(), 7, 0o666);
        assert!(Trust::new().check(world, true).is_err());
        assert!(Trust::new().check(world, false).is_ok(), "a socket's mode");
        assert!(Trust::new().other_write(true).check(world, true).is_ok());
        let group = Found::file(me(), 7, 0o660);
        let e = Trust::new().check(group, true).unwrap_err();
        assert!(e.fix.contains("?group=7"), "{e:?}");
        assert!(Trust::new().gid(7).check(group, true).is_ok());
        assert!(Trust::new().group_write(true).check(group, true).is_ok());
    }
}
