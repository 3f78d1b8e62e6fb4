//! `zenoh://KEYEXPR`: messages published on a Zenoh key expression, for a
//! receiver on another host (cargo feature `zenoh`). A sender declares a
//! publisher on the key, a receiver subscribes to it; Zenoh routes the
//! messages between sessions over TCP (or whatever its endpoints name).
//!
//! * Each end opens its own Zenoh session. `?mode=peer` (the default) or
//!   `?mode=client`; `?connect=tcp/HOST:PORT` (comma-separated for more)
//!   and `?listen=tcp/HOST:PORT` say where. With neither, the session finds
//!   its peers by Zenoh's multicast scouting; with either, scouting is off
//!   and only the endpoints given are used, so nothing beyond them is
//!   reached. An endpoint to connect to that does not answer within
//!   `?timeout_ms=` (default 10 s) is [`ConnectError::Unreachable`]; one
//!   that cannot be listened on, [`ConnectError::AddrInUse`] or `Io`.
//! * A sender publishes only on a key without wildcards
//!   ([`ConnectError::InvalidName`] otherwise). A receiver may subscribe to
//!   a pattern (`md/**`): it then hears every sender on it and its stream
//!   never ends (as [`serve`](super::serve)); on a plain key the stream is
//!   the sender's, and ends where it closes.
//! * As with a FIFO or `shm://`, opening a sender waits until a receiver is
//!   subscribed (`?timeout_ms=` bounds it), so the first message is not
//!   published to nobody. Once the last receiver has gone, a send is
//!   [`SendError::Disconnected`].
//! * Closing a sender (or dropping it) publishes a delete on the key, the
//!   end marker, behind the messages: the receiver of that key gets
//!   [`RecvError::Disconnected`] after the last one (once every sender it
//!   knows has ended). A sender whose process dies without closing is seen
//!   by its liveliness token going away: the receiver gets what arrived,
//!   then [`RecvError::Reset`] (after a grace of a second from the last
//!   message, for messages still on the way).
//! * `?max=` (default 64 KiB) is checked by both ends: a longer message is
//!   [`SendError::MessageTooLarge`] at the sender, and one that arrives is
//!   dropped with [`RecvError::MessageTooLarge`] while the channel goes on.
//! * `?reliability=reliable` (the default): a congested link makes the
//!   send wait (Zenoh's `CongestionControl::Block`), and messages arrive in
//!   order, each once, while the link holds. `best_effort`: a congested
//!   link drops the message instead (`CongestionControl::Drop`). Either
//!   way a send waits for the link as Zenoh does, whatever its deadline
//!   (`try_send` included): a reliable one at most 5 s, after which Zenoh
//!   closes the congested link (its `wait_before_close`).
//!
//! Zenoh runs its sessions on its own tokio runtime; the calls here block
//! on it, so use them from plain threads (the async ends,
//! `transport::async_sender`, do that for you).

use std::collections::HashSet;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use ::zenoh::Wait;
use ::zenoh::handlers::FifoChannelHandler;
use ::zenoh::key_expr::KeyExpr;
use ::zenoh::liveliness::LivelinessToken;
use ::zenoh::matching::{MatchingListener, MatchingStatus};
use ::zenoh::pubsub::{Publisher, Subscriber};
use ::zenoh::qos::CongestionControl;
use ::zenoh::query::{ConsolidationMode, QueryTarget, Queryable};
use ::zenoh::sample::{Sample, SampleKind};
use ::zenoh::{Config as ZenohConfig, Session};

use super::config::{Config, DEFAULT_TCP_CONNECT_TIMEOUT, Reliability, ZenohMode};
use super::{Adapter, ConnectError, Deadline, RecvError, SendError};

pub(crate) const ADAPTER: Adapter = Adapter {
    sender: |url| Ok(Box::new(ZenohSender::open(&url.name, &url.config)?)),
    receiver: |url| Ok(Box::new(ZenohReceiver::open(&url.name, &url.config)?)),
    pair: None,
    connect: None,
    listen: None,
};

/// The URL options `zenoh://` takes.
const OPTIONS: &[&str] = &[
    "max",
    "timeout_ms",
    "mode=peer|client",
    "connect",
    "listen",
    "reliability",
];

/// A Zenoh error as an I/O error, for the error enums' `source`.
fn io(error: ::zenoh::Error) -> std::io::Error {
    std::io::Error::other(error.to_string())
}

/// What both ends make of a URL: the session's configuration, the key
/// and the largest message.
struct Plan {
    endpoint: Arc<str>,
    key: KeyExpr<'static>,
    session: ZenohConfig,
    max: usize,
}

impl Plan {
    fn new(name: &str, config: &Config) -> Result<Self, ConnectError> {
        let endpoint = format!("zenoh://{name}");
        config.check(OPTIONS, &endpoint)?;
        let max = config.max_or(super::DEFAULT_MAX_MESSAGE_SIZE, &endpoint)?;
        let key =
            KeyExpr::try_from(name.to_owned()).map_err(|error| ConnectError::InvalidName {
                endpoint: endpoint.clone(),
                reason: format!("not a Zenoh key expression: {error}"),
            })?;
        let session = session_config(config, &endpoint)?;
        Ok(Self {
            endpoint: endpoint.into(),
            key,
            session,
            max,
        })
    }

    /// A Zenoh call `op` of this end that failed.
    fn failed(&self, op: &'static str, error: ::zenoh::Error) -> ConnectError {
        ConnectError::Io {
            endpoint: self.endpoint.to_string(),
            op,
            source: io(error),
        }
    }

    /// Opens the session; an endpoint that does not answer in time is
    /// `Unreachable`.
    fn open_session(&self) -> Result<Session, ConnectError> {
        ::zenoh::open(self.session.clone()).wait().map_err(|error| {
            let text = error.to_string();
            let endpoint = self.endpoint.to_string();
            if text.contains("Can not create a new TCP listener")
                || text.contains("Address already in use")
            {
                ConnectError::AddrInUse {
                    endpoint,
                    source: io(error),
                }
            } else if text.contains("connect") {
                ConnectError::Unreachable {
                    endpoint,
                    source: io(error),
                }
            } else {
                self.failed("zenoh::open", error)
            }
        })
    }
}

/// The Zenoh session configuration a URL's options make.
fn session_config(config: &Config, endpoint: &str) -> Result<ZenohConfig, ConnectError> {
    let invalid = |reason: String| ConnectError::InvalidConfig {
        endpoint: endpoint.to_owned(),
        reason,
    };
    let json = |items: &[String]| {
        let quoted: Vec<String> = items.iter().map(|item| format!("{item:?}")).collect();
        format!("[{}]", quoted.join(","))
    };
    let mut session = ZenohConfig::default();
    let mut set = |key: &str, value: String| {
        session
            .insert_json5(key, &value)
            .map_err(|error| invalid(format!("{key}={value}: {error}")))
    };
    set(
        "mode",
        match config.zenoh_mode.unwrap_or_default() {
            ZenohMode::Peer => "\"peer\"",
            ZenohMode::Client => "\"client\"",
        }
        .to_owned(),
    )?;
    if config.connect.is_some() || config.listen.is_some() {
        // Told where to go: reach only that. Without gossip too, peers
        // that meet through a listener do not also connect to each other
        // (a mesh forming under a live stream lost a message in testing).
        set("scouting/multicast/enabled", "false".to_owned())?;
        set("scouting/gossip/enabled", "false".to_owned())?;
    }
    for endpoint in config.connect.iter().chain(&config.listen).flatten() {
        if !endpoint.starts_with("tcp/") {
            return Err(invalid(format!(
                "endpoint {endpoint:?}: this build carries Zenoh's TCP links only (tcp/HOST:PORT)"
            )));
        }
    }
    if let Some(connect) = &config.connect {
        let timeout = config.open_timeout.unwrap_or(DEFAULT_TCP_CONNECT_TIMEOUT);
        set("connect/endpoints", json(connect))?;
        // Fail the open, rather than go on alone, when an endpoint does
        // not answer in time.
        set("connect/timeout_ms", timeout.as_millis().to_string())?;
        set("connect/exit_on_failure", "true".to_owned())?;
    }
    if let Some(listen) = &config.listen {
        set("listen/endpoints", json(listen))?;
        set("listen/exit_on_failure", "true".to_owned())?;
    }
    Ok(session)
}

/// The sending end of a `zenoh://` channel.
pub struct ZenohSender {
    /// `None` once closed.
    publisher: Option<Publisher<'static>>,
    /// Tells when receivers come and go.
    matching: MatchingListener<FifoChannelHandler<MatchingStatus>>,
    /// Whether a receiver was subscribed at the last look.
    receivers: bool,
    /// This sender's liveliness token (see [`sender_token`]); its id
    /// marks the end marker.
    _token: LivelinessToken,
    id: String,
    max: usize,
    endpoint: Arc<str>,
    /// Last: the publisher and the listener are undeclared before it
    /// closes.
    session: Session,
}

impl std::fmt::Debug for ZenohSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZenohSender")
            .field("endpoint", &self.endpoint)
            .field("zid", &self.session.zid())
            .finish_non_exhaustive()
    }
}

/// A `zenoh://` sender that is open but waits for a receiver.
pub(crate) struct PendingSender {
    sender: ZenohSender,
}

impl PendingSender {
    pub(crate) fn start(name: &str, config: &Config) -> Result<Self, ConnectError> {
        let plan = Plan::new(name, config)?;
        if is_pattern(&plan.key) {
            return Err(ConnectError::InvalidName {
                endpoint: plan.endpoint.to_string(),
                reason: "a sender publishes on one key, without wildcards (a receiver may subscribe to a pattern)".into(),
            });
        }
        let session = plan.open_session()?;
        let congestion = match config.reliability.unwrap_or_default() {
            Reliability::Reliable => CongestionControl::Block,
            Reliability::BestEffort => CongestionControl::Drop,
        };
        let publisher = session
            .declare_publisher(plan.key.clone())
            .congestion_control(congestion)
            .wait()
            .map_err(|e| plan.failed("declare_publisher", e))?;
        // The listener first, then the status: a receiver that subscribes
        // in between is in one or the other.
        let matching = publisher
            .matching_listener()
            .wait()
            .map_err(|e| plan.failed("matching_listener", e))?;
        let receivers = publisher
            .matching_status()
            .wait()
            .map_err(|e| plan.failed("matching_status", e))?
            .matching();
        let id = session.zid().to_string();
        let token = session
            .liveliness()
            .declare_token(sender_token(&id, plan.key.as_str()))
            .wait()
            .map_err(|e| plan.failed("liveliness token", e))?;
        Ok(Self {
            sender: ZenohSender {
                publisher: Some(publisher),
                matching,
                receivers,
                _token: token,
                id,
                max: plan.max,
                endpoint: plan.endpoint,
                session,
            },
        })
    }

    /// Waits until a receiver is subscribed (`true`) or `deadline` passes;
    /// then introduces this sender to the receivers of its key.
    pub(crate) fn wait_until(&mut self, deadline: Deadline) -> bool {
        if !self.await_receiver(deadline) {
            return false;
        }
        self.sender.introduce();
        true
    }

    fn await_receiver(&mut self, deadline: Deadline) -> bool {
        let sender = &mut self.sender;
        while !sender.receivers {
            let status = match deadline {
                Deadline::Now => sender.matching.try_recv().ok().flatten(),
                Deadline::At(at) => sender.matching.recv_deadline(at).ok().flatten(),
                Deadline::Never => sender.matching.recv().ok(),
            };
            match status {
                Some(status) => sender.receivers = status.matching(),
                None => return false,
            }
        }
        true
    }

    pub(crate) fn finish(self) -> ZenohSender {
        self.sender
    }

    pub(crate) fn endpoint(&self) -> &str {
        &self.sender.endpoint
    }
}

impl ZenohSender {
    /// Opens the session and the publisher, then waits for a receiver (up
    /// to `?timeout_ms=`).
    pub fn open(name: &str, config: &Config) -> Result<Self, ConnectError> {
        let deadline = config.open_timeout.map_or(Deadline::Never, Deadline::after);
        let mut pending = PendingSender::start(name, config)?;
        if pending.wait_until(deadline) {
            return Ok(pending.finish());
        }
        Err(ConnectError::Timeout {
            endpoint: pending.endpoint().to_owned(),
            what: "waiting for a receiver to subscribe",
            waited_ms: config
                .open_timeout
                .map_or(0, |t| t.as_millis().try_into().unwrap_or(u64::MAX)),
        })
    }

    /// This end's Zenoh session id (for messages and logs).
    pub fn zid(&self) -> String {
        self.session.zid().to_string()
    }

    /// Tells the receivers of this key (those that follow their senders: a
    /// plain key, not a pattern) that this sender exists, and waits for
    /// their answers: once it returns, each of them counts this sender
    /// before anything it sends, so another sender's end cannot end their
    /// stream while this one is still to come. (Its liveliness token says
    /// the same, but from another path, in no order with the others'
    /// messages.) A receiver that does not answer within [`INTRODUCTION`]
    /// learns of it by the token.
    fn introduce(&mut self) {
        // Its own limit, not the caller's slice: receivers answer within
        // milliseconds, and a slice cut short would skip the introduction.
        let limit = INTRODUCTION;
        let Ok(replies) = self
            .session
            .get(receivers_of(self.key()))
            .payload(self.id.as_str())
            .target(QueryTarget::All)
            .consolidation(ConsolidationMode::None)
            .timeout(limit)
            .wait()
        else {
            return;
        };
        // Ends (Err) once every receiver answered or the limit passed.
        while replies.recv().is_ok() {}
    }

    fn key(&self) -> &str {
        self.publisher
            .as_ref()
            .map_or("", |publisher| publisher.key_expr().as_str())
    }

    /// Takes in what the matching listener reported since the last look.
    fn look_for_receivers(&mut self) {
        while let Ok(Some(status)) = self.matching.try_recv() {
            self.receivers = status.matching();
        }
    }
}

impl super::Sender for ZenohSender {
    fn send_deadline(&mut self, msg: &[u8], _deadline: Deadline) -> Result<(), SendError> {
        SendError::check_len(msg.len(), self.max, &self.endpoint)?;
        self.look_for_receivers();
        let endpoint = &self.endpoint;
        let Some(publisher) = &self.publisher else {
            return Err(SendError::Closed {
                endpoint: endpoint.clone(),
            });
        };
        if !self.receivers {
            return Err(SendError::Disconnected {
                endpoint: endpoint.clone(),
            });
        }
        // Zenoh's put waits for room itself (congestion control) and has
        // no deadline of its own: a reliable send waits as the link does.
        publisher.put(msg).wait().map_err(|error| SendError::Io {
            endpoint: endpoint.clone(),
            op: "put",
            source: io(error),
        })
    }

    fn max_message_size(&self) -> usize {
        self.max
    }

    fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn close_deadline(&mut self, _deadline: Deadline) -> Result<(), SendError> {
        let Some(publisher) = &self.publisher else {
            return Ok(());
        };
        // Through the session, always with congestion control Block: a
        // best-effort publisher could drop the end marker on a congested
        // link, and a clean end would read as a crash. Same key and
        // priority as the messages, so it stays behind them.
        self.session
            .delete(publisher.key_expr().clone())
            .congestion_control(CongestionControl::Block)
            .attachment(self.id.as_str())
            .wait()
            .map_err(|error| SendError::Io {
                endpoint: self.endpoint.clone(),
                op: "delete (end marker)",
                source: io(error),
            })?;
        self.publisher = None;
        Ok(())
    }
}

impl Drop for ZenohSender {
    fn drop(&mut self) {
        // The end marker, once; an error here has nobody to tell.
        let _ = super::Sender::close(self);
    }
}

/// The liveliness key of sender `id` on `key`: a receiver of `key` sees
/// its senders come and go (a crashed one's token goes with its session).
fn sender_token(id: &str, key: &str) -> String {
    format!("{SENDERS}/{id}/{key}")
}

/// Where senders' liveliness tokens live.
const SENDERS: &str = "shmlane/senders";

/// The key on which the receivers of `key` answer a new sender's
/// introduction (see [`ZenohSender::introduce`]).
fn receivers_of(key: &str) -> String {
    format!("shmlane/receivers/{key}")
}

/// The longest a sender's open waits for receivers to answer its
/// introduction.
const INTRODUCTION: Duration = Duration::from_secs(5);

/// How long a receiver whose last sender vanished without its end marker
/// keeps waiting for it: the token's removal can overtake the sender's last
/// messages (Zenoh sends declarations ahead of data).
const VANISHED_GRACE: Duration = Duration::from_secs(1);

/// What reaches a receiver: a sample, or news of a sender (from its
/// introduction or its token).
enum Event {
    Sample(Sample),
    /// A sender's token appeared (its id).
    Alive(String),
    /// A sender's token went away (its id).
    Gone(String),
}

/// Messages a receiver may hold before Zenoh waits for it, as Zenoh's own
/// FIFO handler does: the channel pushes back on the link, so a slow
/// receiver slows the sender rather than growing without bound. (A receiver
/// that stops reading for longer than Zenoh's `wait_before_close`, 5 s,
/// makes a reliable sender's link close; news of senders never waits
/// behind the messages: `SenderNews`.)
const QUEUE: usize = 256;

/// How a Zenoh callback tells a receiver of a sender coming or going: on a
/// channel of its own, unbounded (a few words per sender), so that it never
/// waits behind messages nor blocks Zenoh, with a nudge in the message
/// channel to wake a receiver that waits there.
#[derive(Clone)]
struct SenderNews {
    news: mpsc::Sender<Event>,
    nudge: mpsc::SyncSender<Option<Sample>>,
}

impl SenderNews {
    fn tell(&self, event: Event) {
        // Err: the receiver is gone. A full message channel needs no
        // nudge: the receiver looks at the news before each message.
        if self.news.send(event).is_ok() {
            let _ = self.nudge.try_send(None);
        }
    }
}

/// The receiving end of a `zenoh://` channel.
pub struct ZenohReceiver {
    /// The subscriber's samples (`None`: news in `senders`, look there).
    samples: mpsc::Receiver<Option<Sample>>,
    /// Senders coming and going, ahead of the samples.
    senders: mpsc::Receiver<Event>,
    /// A subscription to one key (not a pattern): its senders' end markers
    /// end the stream.
    ends: bool,
    /// Senders whose token is up and that have not ended.
    live: HashSet<String>,
    /// Senders that ended (end marker seen).
    ended: HashSet<String>,
    /// Senders whose token went without an end marker, and since when the
    /// last such went.
    vanished: HashSet<String>,
    vanished_at: Option<Instant>,
    /// The stream is over: `Disconnected` (false) or `Reset` (true).
    over: Option<bool>,
    max: usize,
    endpoint: Arc<str>,
    /// Undeclared when dropped, before the session closes.
    _subscriber: Subscriber<()>,
    _tokens: Option<Subscriber<()>>,
    _introductions: Option<Queryable<()>>,
    session: Session,
}

impl std::fmt::Debug for ZenohReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZenohReceiver")
            .field("endpoint", &self.endpoint)
            .field("zid", &self.session.zid())
            .finish_non_exhaustive()
    }
}

impl ZenohReceiver {
    /// Opens the session and subscribes: messages published from now on
    /// are received.
    pub fn open(name: &str, config: &Config) -> Result<Self, ConnectError> {
        let plan = Plan::new(name, config)?;
        let session = plan.open_session()?;
        let ends = !is_pattern(&plan.key);
        let (samples_in, samples) = mpsc::sync_channel(QUEUE);
        let (senders_in, senders) = mpsc::channel();
        let news = SenderNews {
            news: senders_in,
            nudge: samples_in.clone(),
        };
        // Before the subscriber: a sender that sees the subscriber has
        // seen this too (declarations keep their order on a link).
        let introductions = if ends {
            let news = news.clone();
            let queryable = session
                .declare_queryable(receivers_of(plan.key.as_str()))
                .callback(move |query| {
                    if let Some(id) = query.payload().and_then(|p| p.try_to_string().ok()) {
                        // Counted before the answer leaves.
                        news.tell(Event::Alive(id.into_owned()));
                    }
                    let _ = query.reply(query.key_expr().clone(), "").wait();
                })
                .wait()
                .map_err(|e| plan.failed("declare_queryable", e))?;
            Some(queryable)
        } else {
            None
        };
        let subscriber = session
            .declare_subscriber(plan.key.clone())
            .callback(move |sample| {
                // Err: the receiver is gone, and the sample with it.
                let _ = samples_in.send(Some(sample));
            })
            .wait()
            .map_err(|e| plan.failed("declare_subscriber", e))?;
        // A pattern's stream never ends: no senders to follow.
        let tokens = if ends && !tokens_ignored() {
            let prefix = format!("{SENDERS}/");
            let tokens = session
                .liveliness()
                .declare_subscriber(sender_token("*", plan.key.as_str()))
                .history(true)
                .callback(move |sample| {
                    let Some(id) = sample
                        .key_expr()
                        .as_str()
                        .strip_prefix(&prefix)
                        .and_then(|rest| rest.split('/').next())
                    else {
                        return;
                    };
                    let id = id.to_owned();
                    news.tell(match sample.kind() {
                        SampleKind::Put => Event::Alive(id),
                        SampleKind::Delete => Event::Gone(id),
                    });
                })
                .wait()
                .map_err(|e| plan.failed("liveliness subscriber", e))?;
            Some(tokens)
        } else {
            None
        };
        Ok(Self {
            samples,
            senders,
            ends,
            live: HashSet::new(),
            ended: HashSet::new(),
            vanished: HashSet::new(),
            vanished_at: None,
            over: None,
            max: plan.max,
            endpoint: plan.endpoint,
            _subscriber: subscriber,
            _tokens: tokens,
            _introductions: introductions,
            session,
        })
    }

    /// This end's Zenoh session id.
    pub fn zid(&self) -> String {
        self.session.zid().to_string()
    }

    /// The next event, news of senders first, waiting until `deadline`
    /// (or, while the last sender has vanished and no other is up, until
    /// its grace ends): `Err(true)` once the grace has ended, `Err(false)`
    /// if `deadline` passed.
    fn next_event(&self, deadline: Deadline) -> Result<Option<Event>, bool> {
        let grace_end = self
            .vanished_at
            .filter(|_| self.live.is_empty())
            .map(|at| at + VANISHED_GRACE);
        loop {
            if let Ok(news) = self.senders.try_recv() {
                return Ok(Some(news));
            }
            let until = match (deadline, grace_end) {
                (Deadline::At(at), Some(grace)) if grace < at => Some((grace, true)),
                (Deadline::Never | Deadline::Now, Some(grace)) => Some((grace, true)),
                (Deadline::At(at), _) => Some((at, false)),
                (Deadline::Now | Deadline::Never, None) => None,
            };
            let sample = match (deadline, until) {
                (Deadline::Now, until) => match self.samples.try_recv() {
                    Ok(sample) => Ok(sample),
                    Err(mpsc::TryRecvError::Empty) => {
                        let graced = until.is_some_and(|(at, _)| Instant::now() >= at);
                        return Err(graced);
                    }
                    Err(mpsc::TryRecvError::Disconnected) => Err(()),
                },
                (_, Some((until, by_grace))) => {
                    let wait = until.saturating_duration_since(Instant::now());
                    match self.samples.recv_timeout(wait) {
                        Ok(sample) => Ok(sample),
                        Err(mpsc::RecvTimeoutError::Timeout) => return Err(by_grace),
                        Err(mpsc::RecvTimeoutError::Disconnected) => Err(()),
                    }
                }
                (_, None) => self.samples.recv().map_err(|_| ()),
            };
            match sample {
                Ok(Some(sample)) => return Ok(Some(Event::Sample(sample))),
                // A nudge: news arrived.
                Ok(None) => {}
                // The session's callbacks are gone: nothing more comes.
                Err(()) => return Ok(self.senders.try_recv().ok()),
            }
        }
    }

    /// Looks whether the stream is over once sender `id` ended or
    /// vanished: no sender left up, and at least one seen.
    fn look_for_the_end(&mut self) {
        if !self.ends || !self.live.is_empty() {
            return;
        }
        if self.vanished.is_empty() {
            self.over = Some(false);
        } else {
            self.vanished_at.get_or_insert_with(Instant::now);
        }
    }
}

/// Set by `test_support::zenoh_receivers_ignore_tokens`: receivers opened
/// from then on in this process follow their senders by introductions and
/// end markers alone, so a test can show what the introductions do.
#[cfg(feature = "test-support")]
pub(crate) static IGNORE_TOKENS: crate::sync::PerProcess = crate::sync::PerProcess::new();

fn tokens_ignored() -> bool {
    #[cfg(feature = "test-support")]
    return IGNORE_TOKENS.get() == Some(1);
    #[cfg(not(feature = "test-support"))]
    false
}

/// Whether `key` holds wildcards (a receiver then hears many keys).
fn is_pattern(key: &KeyExpr<'_>) -> bool {
    key.as_str().contains(['*', '$'])
}

impl super::Receiver for ZenohReceiver {
    fn recv_deadline(&mut self, buf: &mut Vec<u8>, deadline: Deadline) -> Result<usize, RecvError> {
        loop {
            match self.over {
                Some(false) => {
                    return Err(RecvError::Disconnected {
                        endpoint: self.endpoint.clone(),
                    });
                }
                Some(true) => {
                    return Err(RecvError::Reset {
                        endpoint: self.endpoint.clone(),
                    });
                }
                None => {}
            }
            let event = match self.next_event(deadline) {
                Ok(Some(event)) => event,
                // The session's callbacks are gone: nothing more comes.
                Ok(None) => {
                    self.over = Some(false);
                    continue;
                }
                Err(true) => {
                    // The vanished sender's end marker never came.
                    self.over = Some(true);
                    continue;
                }
                Err(false) if deadline == Deadline::Now => return Err(RecvError::Empty),
                Err(false) => return Err(RecvError::Timeout),
            };
            let sample = match event {
                Event::Alive(id) => {
                    if !self.ended.contains(&id) {
                        // Back (a reconnect) or new: not vanished, and no
                        // grace runs while a sender is up.
                        self.vanished.remove(&id);
                        self.live.insert(id);
                    }
                    continue;
                }
                Event::Gone(id) => {
                    if self.live.remove(&id) {
                        self.vanished.insert(id);
                        self.look_for_the_end();
                    }
                    continue;
                }
                Event::Sample(sample) => {
                    // A vanished sender's messages still arriving: its grace
                    // counts from the last one (its token's removal travels
                    // ahead of its messages).
                    if let Some(at) = self.vanished_at.as_mut() {
                        *at = Instant::now();
                    }
                    sample
                }
            };
            if sample.kind() == SampleKind::Delete {
                // An end marker: its attachment names the sender.
                let id = sample
                    .attachment()
                    .and_then(|a| a.try_to_string().ok().map(|id| id.into_owned()));
                if let Some(id) = id.filter(|_| self.ends) {
                    self.live.remove(&id);
                    self.vanished.remove(&id);
                    if self.vanished.is_empty() {
                        self.vanished_at = None;
                    }
                    self.ended.insert(id);
                    self.look_for_the_end();
                }
                continue;
            }
            let payload = sample.payload();
            if payload.len() > self.max {
                return Err(RecvError::MessageTooLarge {
                    len: payload.len(),
                    max: self.max,
                    endpoint: self.endpoint.clone(),
                });
            }
            buf.clear();
            buf.extend_from_slice(&payload.to_bytes());
            return Ok(buf.len());
        }
    }

    fn max_message_size(&self) -> usize {
        self.max
    }

    fn endpoint(&self) -> &str {
        &self.endpoint
    }
}
