//! Transport URLs: `scheme://name?key=value&...`, parsed once into a
//! [`Scheme`], the mechanism's name for the object and a [`Config`].
//!
//! Adding a mechanism is one row in [`SCHEMES`] and one arm in
//! `super::open`.

use std::time::Duration;

use super::ConnectError;
use super::config::{Config, Framing, Role};

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
];

/// A parsed transport URL.
#[derive(Debug, Clone)]
pub(crate) struct Url {
    pub(crate) scheme: Scheme,
    /// What follows `scheme://` up to the query, percent-decoded: a path
    /// (`/tmp/x`, or relative `x`), a queue name (`/jobs`), a key, or
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
const KEYS: &str = "max, framing, role, timeout_ms, mode, capacity, priority, type, persist, fd";

impl Url {
    pub(crate) fn parse(text: &str) -> Result<Self, ConnectError> {
        let Some((scheme_text, rest)) = text.split_once(':') else {
            return Err(invalid(
                text,
                format!("no scheme: expected one of {}", scheme_list()),
            ));
        };
        let Some(&(_, scheme)) = SCHEMES.iter().find(|(name, _)| *name == scheme_text) else {
            return Err(invalid(
                text,
                format!(
                    "unknown scheme {scheme_text:?}: expected one of {}",
                    scheme_list()
                ),
            ));
        };
        let (body, query) = match rest.split_once('?') {
            Some((body, query)) => (body, Some(query)),
            None => (rest, None),
        };
        let name = match (scheme, body.strip_prefix("//")) {
            (Scheme::Pipe, _) if body.is_empty() => String::new(),
            (Scheme::Pipe, _) => {
                return Err(invalid(
                    text,
                    "pipe: takes no name: write `pipe:` (stdin/stdout) or `pipe:?fd=N`",
                ));
            }
            (_, None) => {
                return Err(invalid(
                    text,
                    format!("expected `{scheme_text}://` followed by a name"),
                ));
            }
            (_, Some("")) => {
                return Err(invalid(
                    text,
                    format!("nothing after `{scheme_text}://`: a name, path or address is needed"),
                ));
            }
            (_, Some(name)) => percent_decode(name).map_err(|reason| invalid(text, reason))?,
        };
        let mut config = Config::new();
        for pair in query
            .into_iter()
            .flat_map(|q| q.split('&'))
            .filter(|p| !p.is_empty())
        {
            let Some((key, value)) = pair.split_once('=') else {
                return Err(invalid(
                    text,
                    format!("option {pair:?} has no value (key=value)"),
                ));
            };
            let value = percent_decode(value).map_err(|reason| invalid(text, reason))?;
            set_option(&mut config, key, &value).map_err(|reason| invalid(text, reason))?;
        }
        let endpoint = match scheme {
            Scheme::Pipe => format!("{scheme_text}:"),
            _ => format!("{scheme_text}://{name}"),
        };
        Ok(Self {
            scheme,
            name,
            config,
            endpoint,
        })
    }
}

/// Sets the option `key` from its text; the error says what is wrong.
fn set_option(config: &mut Config, key: &str, value: &str) -> Result<(), String> {
    fn number<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, String> {
        value
            .parse()
            .map_err(|_| format!("option {key}={value:?} is not a valid number"))
    }
    let already = |set: bool| {
        if set {
            Err(format!("option {key} is given twice"))
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
        "mode" => {
            already(config.mode.is_some())?;
            config.mode = Some(
                u32::from_str_radix(value.trim_start_matches("0o"), 8)
                    .map_err(|_| format!("mode={value:?} is not an octal number like 0600"))?,
            );
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
        _ => return Err(format!("unknown option {key:?} (known: {KEYS})")),
    }
    Ok(())
}

/// Decodes `%XX` escapes; the result must be UTF-8.
fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent escape in {text:?} (expected %XX)"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{text:?} does not decode to UTF-8"))
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
        assert_eq!(Url::parse("fifo://rel").unwrap().name, "rel");
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
    }
}
