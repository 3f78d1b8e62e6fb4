//! Transport URLs: `scheme://name?key=value&...`, parsed once into a
//! [`Scheme`], the mechanism's name for the object and a [`Config`].
//!
//! The `url` crate parses them by the WHATWG URL rules: the scheme (any
//! case), the authority (a `tcp://` port must be a number up to 65535, an
//! IPv6 host is bracketed), the query (form-encoded: `%XX` escapes, and `+`
//! is a space) and the fragment. Only the name is cut from the text by
//! hand (see [`raw_name`]).
//!
//! Adding a mechanism is one row in [`SCHEMES`] and one arm in
//! `super::adapter`.

use std::cell::Cell;
use std::time::Duration;

use percent_encoding::percent_decode_str;
use url::{ParseError, SyntaxViolation};

use super::ConnectError;
use super::config::{Config, Framing, Reliability, Role, ZenohMode};

/// The mechanisms a URL can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    Pipe,
    Fifo,
    Mq,
    SysvMq,
    Unix,
    UnixSeqpacket,
    Tcp,
    Shm,
    Zenoh,
}

/// Every scheme, as written before the `:`. All but `pipe` continue with
/// `//` and a name.
pub(crate) const SCHEMES: &[(&str, Scheme)] = &[
    ("pipe", Scheme::Pipe),
    ("fifo", Scheme::Fifo),
    ("mq", Scheme::Mq),
    ("sysvmq", Scheme::SysvMq),
    ("unix", Scheme::Unix),
    ("unix+seqpacket", Scheme::UnixSeqpacket),
    ("tcp", Scheme::Tcp),
    ("shm", Scheme::Shm),
    ("zenoh", Scheme::Zenoh),
];

/// A parsed transport URL.
#[derive(Debug, Clone)]
pub(crate) struct Url {
    pub(crate) scheme: Scheme,
    /// What follows `scheme://` up to the query, percent-decoded: a path
    /// (`/tmp/x`, or relative `./x`), a queue name (`/jobs`), a key, or
    /// `host:port`. Empty for `pipe:`.
    pub(crate) name: String,
    pub(crate) config: Config,
    /// The URL without its query, for messages.
    pub(crate) endpoint: String,
}

fn invalid(url: &str, reason: impl Into<String>) -> ConnectError {
    ConnectError::InvalidUrl {
        url: url.to_owned(),
        reason: reason.into(),
    }
}

fn scheme_list() -> String {
    let names: Vec<String> = SCHEMES
        .iter()
        .map(|(name, scheme)| match scheme {
            Scheme::Pipe => format!("{name}:"),
            _ => format!("{name}://"),
        })
        .collect();
    names.join(", ")
}

/// The query keys, as [`Config`] names them.
const KEYS: &str = "max, framing, role, timeout_ms, mode, capacity, priority, type, persist, fd, owner, group, peer_uid, keepalive_s, user_timeout_ms, connect, listen, reliability";

impl Url {
    pub(crate) fn parse(text: &str) -> Result<Self, ConnectError> {
        let parsed = parse_strictly(text)?;
        let scheme_text = parsed.scheme();
        let Some(&(scheme_name, scheme)) = SCHEMES.iter().find(|(name, _)| *name == scheme_text)
        else {
            return Err(invalid(
                text,
                format!(
                    "unknown scheme {scheme_text:?}: expected one of {}",
                    scheme_list()
                ),
            ));
        };
        if parsed.fragment().is_some() {
            return Err(invalid(
                text,
                "`#` starts a URL fragment, which names nothing here: write a `#` in a name as %23",
            ));
        }
        let name = match scheme {
            Scheme::Pipe if parsed.has_authority() || !parsed.path().is_empty() => {
                return Err(invalid(
                    text,
                    "pipe: takes no name: write `pipe:` (stdin/stdout) or `pipe:?fd=N`",
                ));
            }
            Scheme::Pipe => String::new(),
            _ if !parsed.has_authority() => {
                return Err(invalid(
                    text,
                    format!("expected `{scheme_name}://` followed by a name"),
                ));
            }
            _ => match raw_name(text, scheme_name) {
                "" => {
                    return Err(invalid(
                        text,
                        format!(
                            "nothing after `{scheme_name}://`: a name, path or address is needed"
                        ),
                    ));
                }
                raw => percent_decode_name(raw).map_err(|reason| invalid(text, reason))?,
            },
        };
        if matches!(scheme, Scheme::Fifo | Scheme::Unix | Scheme::UnixSeqpacket)
            && !name.starts_with('/')
            && !name.starts_with("./")
            && !name.starts_with("../")
        {
            return Err(invalid(
                text,
                format!(
                    "{scheme_name}://{name} would be the relative path {name:?}, most likely a forgotten slash: \
                     write {scheme_name}:///{name} for /{name}, or {scheme_name}://./{name} for a path \
                     relative to the working directory"
                ),
            ));
        }
        if scheme == Scheme::Tcp {
            if parsed.host_str().is_none_or(str::is_empty) {
                let port = parsed.port().map_or("PORT".to_owned(), |p| p.to_string());
                return Err(invalid(
                    text,
                    format!(
                        "tcp:// needs a host: write tcp://0.0.0.0:{port} to listen on every address, \
                         or tcp://127.0.0.1:{port} for this host only"
                    ),
                ));
            }
            if parsed.port().is_none() {
                return Err(invalid(
                    text,
                    "tcp:// needs HOST:PORT (port 0 lets the kernel pick one for a listener)",
                ));
            }
            if !parsed.path().is_empty() {
                return Err(invalid(text, "tcp:// takes HOST:PORT and no path"));
            }
        }
        let mut config = Config::new();
        for (key, value) in parsed.query_pairs() {
            set_option(&mut config, &key, &value).map_err(|reason| invalid(text, reason))?;
        }
        let endpoint = match scheme {
            Scheme::Pipe => format!("{scheme_name}:"),
            _ => format!("{scheme_name}://{name}"),
        };
        Ok(Self {
            scheme,
            name,
            config,
            endpoint,
        })
    }
}

/// Parses `text` with the `url` crate, refusing what its parser would
/// quietly change: it drops tabs and newlines anywhere and spaces or
/// control characters at either end, so the URL would name another object
/// than the one written (and [`raw_name`] relies on the text being what
/// was parsed).
fn parse_strictly(text: &str) -> Result<url::Url, ConnectError> {
    let dropped: Cell<Option<SyntaxViolation>> = Cell::new(None);
    let note = |violation| {
        if matches!(
            violation,
            SyntaxViolation::TabOrNewlineIgnored | SyntaxViolation::C0SpaceIgnored
        ) {
            dropped.set(Some(violation));
        }
    };
    let parsed = url::Url::options()
        .syntax_violation_callback(Some(&note))
        .parse(text)
        .map_err(|error| invalid(text, parse_error_reason(error)))?;
    match dropped.get() {
        Some(SyntaxViolation::TabOrNewlineIgnored) => Err(invalid(
            text,
            "a tab or newline, which URL parsing drops: percent-encode it (%09, %0A, %0D)",
        )),
        Some(_) => Err(invalid(
            text,
            "a space or control character at an end, which URL parsing drops: percent-encode it (a space is %20)",
        )),
        None => Ok(parsed),
    }
}

/// What a URL the `url` crate cannot parse does wrong.
fn parse_error_reason(error: ParseError) -> String {
    match error {
        ParseError::RelativeUrlWithoutBase => {
            format!("no scheme: expected one of {}", scheme_list())
        }
        ParseError::InvalidPort => "invalid port number: a port is a number from 0 to 65535 \
             (write a `:` in a name as %3A)"
            .to_owned(),
        ParseError::InvalidDomainCharacter => "a character a name cannot hold as it is: \
             percent-encode it (a space is %20, `:` %3A, `@` %40)"
            .to_owned(),
        ParseError::EmptyHost => "no host: write tcp://0.0.0.0:5000 to listen on every address, \
             or tcp://127.0.0.1:5000 for this host only (a path scheme's name starts after `//`)"
            .to_owned(),
        other => format!("not a valid URL: {other}"),
    }
}

/// The name as written: the text between `scheme://` and the query or
/// fragment, still percent-encoded.
///
/// Cut by hand, not taken from the `url` crate's host and path: the crate
/// resolves `.` and `..` path segments by URL rules (`fifo://run/../x`
/// becomes `run/x`, and `fifo:///a/link/../x` drops `link` whatever it
/// points to), which names another file than the kernel resolves. Only
/// called on text the crate parsed with an authority and without dropping
/// characters ([`parse_strictly`]), so it starts with the scheme, `:` and
/// `//`.
fn raw_name<'a>(text: &'a str, scheme_name: &str) -> &'a str {
    let after_slashes = &text[scheme_name.len() + "://".len()..];
    after_slashes
        .split(['?', '#'])
        .next()
        .unwrap_or(after_slashes)
}

/// Decodes the `%XX` escapes of a name; the result must be UTF-8.
///
/// The check for malformed escapes is by hand: `percent_decode_str` keeps
/// `%zz` as it is, and the `url` crate reports one only in a path, not in
/// a name that is an authority (`fifo://%zz`), so a typo would quietly
/// name another object.
fn percent_decode_name(raw: &str) -> Result<String, String> {
    let malformed = raw.match_indices('%').any(|(at, _)| {
        !raw.get(at + 1..at + 3)
            .is_some_and(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()))
    });
    if malformed {
        return Err(format!("bad percent escape in {raw:?} (expected %XX)"));
    }
    percent_decode_str(raw)
        .decode_utf8()
        .map(|name| name.into_owned())
        .map_err(|_| format!("{raw:?} does not decode to UTF-8"))
}

/// Sets the option `key` from its text; the error says what is wrong.
fn set_option(config: &mut Config, key: &str, value: &str) -> Result<(), String> {
    fn number<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, String> {
        value
            .parse()
            .map_err(|_| format!("option {key}={value:?} is not a valid number"))
    }
    // Every known option checks this first: given once, with a value.
    let already = |set: bool| {
        if set {
            Err(format!("option {key} is given twice"))
        } else if value.is_empty() {
            Err(format!("option {key} has no value (key=value)"))
        } else {
            Ok(())
        }
    };
    match key {
        "max" => {
            already(config.max_message_size.is_some())?;
            config.max_message_size = Some(number(key, value)?);
        }
        "framing" => {
            already(config.framing.is_some())?;
            config.framing = Some(match value {
                "length" => Framing::Length,
                "lines" => Framing::Lines,
                _ => return Err(format!("framing={value:?}: expected length or lines")),
            });
        }
        "role" => {
            already(config.role.is_some())?;
            config.role = Some(match value {
                "listen" => Role::Listen,
                "connect" => Role::Connect,
                _ => return Err(format!("role={value:?}: expected listen or connect")),
            });
        }
        "timeout_ms" => {
            already(config.open_timeout.is_some())?;
            config.open_timeout = Some(Duration::from_millis(number(key, value)?));
        }
        // Permission bits everywhere but zenoh://, whose `mode` is Zenoh's
        // own (peer or client); each adapter refuses the other kind.
        "mode" => {
            already(config.mode.is_some() || config.zenoh_mode.is_some())?;
            match value {
                "peer" => config.zenoh_mode = Some(ZenohMode::Peer),
                "client" => config.zenoh_mode = Some(ZenohMode::Client),
                _ => {
                    config.mode = Some(
                        u32::from_str_radix(value.trim_start_matches("0o"), 8).map_err(|_| {
                            format!(
                                "mode={value:?} is not an octal number like 0600 (nor peer or client, for zenoh://)"
                            )
                        })?,
                    );
                }
            }
        }
        "connect" | "listen" => {
            let list = if key == "connect" {
                &mut config.connect
            } else {
                &mut config.listen
            };
            already(list.is_some())?;
            let endpoints: Vec<String> = value.split(',').map(str::to_owned).collect();
            if endpoints.iter().any(String::is_empty) {
                return Err(format!(
                    "{key}={value:?} has an empty endpoint (write {key}=tcp/HOST:PORT, comma-separated)"
                ));
            }
            *list = Some(endpoints);
        }
        "reliability" => {
            already(config.reliability.is_some())?;
            config.reliability = Some(match value {
                "reliable" => Reliability::Reliable,
                "best_effort" => Reliability::BestEffort,
                _ => {
                    return Err(format!(
                        "reliability={value:?}: expected reliable or best_effort"
                    ));
                }
            });
        }
        "capacity" => {
            already(config.capacity.is_some())?;
            config.capacity = Some(number(key, value)?);
        }
        "priority" => {
            already(config.priority.is_some())?;
            config.priority = Some(number(key, value)?);
        }
        "type" => {
            already(config.message_type.is_some())?;
            config.message_type = Some(number(key, value)?);
        }
        "persist" => {
            already(config.persist.is_some())?;
            config.persist = Some(match value {
                "1" | "true" => true,
                "0" | "false" => false,
                _ => return Err(format!("persist={value:?}: expected true or false")),
            });
        }
        "fd" => {
            already(config.fd.is_some())?;
            config.fd = Some(number(key, value)?);
        }
        "owner" => {
            already(config.owner.is_some())?;
            config.owner = Some(number(key, value)?);
        }
        "group" => {
            already(config.group.is_some())?;
            config.group = Some(number(key, value)?);
        }
        "peer_uid" => {
            already(config.peer_uid.is_some())?;
            config.peer_uid = Some(number(key, value)?);
        }
        "keepalive_s" => {
            already(config.keepalive.is_some())?;
            config.keepalive = Some(Duration::from_secs(number(key, value)?));
        }
        "user_timeout_ms" => {
            already(config.user_timeout.is_some())?;
            config.user_timeout = Some(Duration::from_millis(number(key, value)?));
        }
        _ => return Err(format!("unknown option {key:?} (known: {KEYS})")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(text: &str) -> String {
        match Url::parse(text) {
            Err(ConnectError::InvalidUrl { url, reason }) => {
                assert_eq!(url, text);
                reason
            }
            other => panic!("{text}: expected InvalidUrl, got {other:?}"),
        }
    }

    #[test]
    fn parses_every_scheme() {
        let url = Url::parse("fifo:///tmp/x?framing=lines&max=10").unwrap();
        assert_eq!(url.scheme, Scheme::Fifo);
        assert_eq!(url.name, "/tmp/x");
        assert_eq!(url.endpoint, "fifo:///tmp/x");
        assert_eq!(url.config.framing, Some(Framing::Lines));
        assert_eq!(url.config.max_message_size, Some(10));
        assert_eq!(Url::parse("fifo://./rel").unwrap().name, "./rel");
        assert!(Url::parse("fifo://rel").is_err(), "a forgotten slash");
        assert_eq!(Url::parse("mq:///jobs").unwrap().name, "/jobs");
        assert_eq!(
            Url::parse("sysvmq://0x1234").unwrap().scheme,
            Scheme::SysvMq
        );
        assert_eq!(
            Url::parse("unix+seqpacket:///s").unwrap().scheme,
            Scheme::UnixSeqpacket
        );
        assert_eq!(Url::parse("tcp://[::1]:80").unwrap().name, "[::1]:80");
        let pipe = Url::parse("pipe:?fd=3").unwrap();
        assert_eq!((pipe.scheme, pipe.config.fd), (Scheme::Pipe, Some(3)));
        assert_eq!(Url::parse("unix:///a%20b").unwrap().name, "/a b");
        let opts = Url::parse("mq:///q?mode=0640&persist=true&timeout_ms=5").unwrap();
        assert_eq!(opts.config.mode, Some(0o640));
        assert_eq!(opts.config.persist, Some(true));
        assert_eq!(opts.config.open_timeout, Some(Duration::from_millis(5)));
        let trust = Url::parse("unix:///s?owner=1000&group=100&peer_uid=7").unwrap();
        assert_eq!(
            (
                trust.config.owner,
                trust.config.group,
                trust.config.peer_uid
            ),
            (Some(1000), Some(100), Some(7))
        );
        assert!(reason("mq:///q?owner=me").contains("owner"));
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        assert!(reason("nonsense").contains("no scheme"));
        assert!(reason("pigeon://x").contains("unknown scheme \"pigeon\""));
        assert!(reason("fifo:/tmp/x").contains("fifo://"));
        assert!(reason("tcp://").contains("nothing after"));
        assert!(reason("pipe:x").contains("takes no name"));
        assert!(reason("fifo:///x?framing=words").contains("length or lines"));
        assert!(reason("fifo:///x?max=ten").contains("max"));
        assert!(reason("fifo:///x?colour=red").contains("unknown option \"colour\""));
        assert!(reason("fifo:///x?max=1&max=2").contains("twice"));
        assert!(reason("fifo:///x?max").contains("no value"));
        assert!(reason("fifo:///%zz").contains("percent"));
        assert!(reason("fifo://%zz").contains("percent"));
        assert!(reason("fifo:///x#y").contains("%23"));
        assert!(reason("fifo:///a\tb").contains("tab"));
        assert!(reason(" fifo:///x").contains("%20"));
        assert!(reason("tcp://localhost").contains("HOST:PORT"));
        assert!(reason("tcp://localhost:80/x").contains("no path"));
        assert!(reason("tcp://localhost:99999").contains("port"));
        assert!(reason("fifo://a b").contains("%20"));
        assert!(reason("fifo:///x?colour=").contains("unknown option"));
        assert!(reason("fifo:///x?max=").contains("no value"));
    }

    #[test]
    fn a_name_is_kept_as_written() {
        // `..` is the filesystem's to resolve, not URL rules'.
        assert_eq!(Url::parse("fifo://./run/../x").unwrap().name, "./run/../x");
        assert_eq!(
            Url::parse("unix:///a/./b/../c").unwrap().name,
            "/a/./b/../c"
        );
        assert_eq!(Url::parse("fifo:///a//b").unwrap().name, "/a//b");
        assert_eq!(Url::parse("fifo://./rel:80/x").unwrap().name, "./rel:80/x");
        assert_eq!(Url::parse("fifo:///%C3%A9").unwrap().name, "/\u{e9}");
        assert_eq!(Url::parse("fifo:///\u{e9}").unwrap().name, "/\u{e9}");
        assert_eq!(Url::parse("fifo:///a%3Ab").unwrap().name, "/a:b");
        assert_eq!(Url::parse("sysvmq://0X1F").unwrap().name, "0X1F");
        let upper = Url::parse("FIFO:///x").unwrap();
        assert_eq!(
            (upper.scheme, upper.endpoint.as_str()),
            (Scheme::Fifo, "fifo:///x")
        );
    }

    #[test]
    fn queries_are_form_encoded() {
        let url = Url::parse("mq:///q?&m%61x=12&&type=%33").unwrap();
        assert_eq!(url.config.max_message_size, Some(12));
        assert_eq!(url.config.message_type, Some(3));
        assert_eq!(url.endpoint, "mq:///q");
    }
}
