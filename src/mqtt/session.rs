//! The MQTT session task: connect, announce, send the outbox, track PUBACKs, reconnect.
//!
//! One task owns the connection and all session state, so nothing is shared but the outbox
//! directory and a few counters. Messages wait on disk; at most `inflight_window` of them are
//! read into memory and sent at a time. A lost connection puts the unacknowledged ones back
//! in line; on the next connection they are sent again with DUP set (MQTT 3.1.1, 4.4).
//! We connect with a clean session because the outbox, not the broker, is our session state.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::{interval, sleep, sleep_until, timeout, timeout_at, Instant, MissedTickBehavior};
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;

use super::codec::{self, ConnectCode, FrameReader, Incoming, MAX_INCOMING};
use super::outbox::{Entry, Outbox, ReadError};
use super::{Command, Counters, MqttSettings, Request, RetainedSet, Topics};

/// A connection that stayed up this long resets the reconnect backoff; shorter ones do not,
/// so a broker that accepts and then drops us (a duplicate client id) is not hammered.
const BACKOFF_RESET_AFTER: Duration = Duration::from_secs(5);

/// A byte stream to the broker, plain or TLS.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Everything the session task is built from.
pub(crate) struct SessionParts {
    pub settings: MqttSettings,
    pub tls: Option<TlsConnector>,
    pub topics: Topics,
    pub outbox: Arc<Outbox>,
    pub entries: Vec<Entry>,
    pub counters: Arc<Counters>,
    pub requests: mpsc::Receiver<Request>,
    pub now: watch::Receiver<Option<Vec<u8>>>,
    pub retained: watch::Receiver<RetainedSet>,
    pub commands: Option<broadcast::Sender<Command>>,
}

/// A Home Assistant discovery config: its topic and payload.
type DiscoveryConfig = (String, Vec<u8>);

/// A message sent and waiting for its PUBACK.
#[derive(Debug)]
struct Inflight {
    entry: Entry,
    sent_at: Instant,
}

/// One live connection.
struct Conn {
    rd: ReadHalf<Box<dyn Io>>,
    wr: WriteHalf<Box<dyn Io>>,
    frames: FrameReader,
    inflight: HashMap<u16, Inflight>,
    /// Acknowledged messages whose files are still to be removed (done in batches).
    acked: Vec<Entry>,
    last_write: Instant,
    ping_sent: Option<Instant>,
    sub_pid: Option<u16>,
    write_timeout: Duration,
}

impl Conn {
    /// Writes one whole packet, bounded in time so a stuck socket cannot stall us forever.
    async fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        let write = async {
            self.wr.write_all(bytes).await?;
            self.wr.flush().await
        };
        match timeout(self.write_timeout, write).await {
            Ok(Ok(())) => {
                self.last_write = Instant::now();
                Ok(())
            }
            Ok(Err(e)) => Err(format!("write failed: {e}")),
            Err(_) => Err("write timed out".to_string()),
        }
    }
}

/// How a connection ended.
enum End {
    /// Shutdown was asked for (or every handle dropped) and handled.
    Stopped,
    /// The connection broke; reconnect.
    Lost(String),
}

/// Exponential backoff with jitter: each delay is drawn from [d/2, d], d doubling to a cap.
#[derive(Debug)]
struct Backoff {
    min: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    fn next(&mut self) -> Duration {
        let factor = 1u32 << self.attempt.min(20);
        let full = self.min.saturating_mul(factor).min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let full_us = u64::try_from(full.as_micros()).unwrap_or(u64::MAX);
        Duration::from_micros(rand::rng().random_range(full_us / 2..=full_us))
    }

    fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// The session task's state.
pub(crate) struct Session {
    settings: Arc<MqttSettings>,
    tls: Option<TlsConnector>,
    topics: Topics,
    outbox: Arc<Outbox>,
    counters: Arc<Counters>,
    requests: mpsc::Receiver<Request>,
    requests_open: bool,
    now: watch::Receiver<Option<Vec<u8>>>,
    now_open: bool,
    now_dirty: bool,
    last_now_sent: Option<Instant>,
    retained: watch::Receiver<RetainedSet>,
    retained_open: bool,
    /// The retained payloads published on the current connection, by topic.
    retained_sent: HashMap<String, Arc<Vec<u8>>>,
    commands: Option<broadcast::Sender<Command>>,
    /// Messages on disk not yet sent on the current connection, by publishing order.
    pending: BTreeMap<u64, Entry>,
    /// Set once shutdown is asked for (or every handle is gone).
    stopping: Option<Instant>,
    shutdown_reply: Option<oneshot::Sender<()>>,
    next_pid: u16,
    /// (topic, payload) of the Home Assistant config and the HA status topic.
    /// Home Assistant discovery: each entity's config, and HA's status topic.
    ha: Option<(Vec<DiscoveryConfig>, String)>,
    /// Removes acknowledged files off the session's path; started on the first PUBACK.
    remover: Option<Remover>,
}

/// A blocking thread that unlinks acknowledged outbox files, batch by batch, in order.
struct Remover {
    tx: mpsc::UnboundedSender<Vec<Entry>>,
    done: tokio::task::JoinHandle<()>,
}

impl Remover {
    fn start(outbox: &Arc<Outbox>) -> Remover {
        let (tx, mut rx) = mpsc::unbounded_channel::<Vec<Entry>>();
        // Weak between batches, so that a dropped session releases the outbox lock at once.
        let outbox = Arc::downgrade(outbox);
        let done = tokio::task::spawn_blocking(move || {
            while let Some(batch) = rx.blocking_recv() {
                match outbox.upgrade() {
                    Some(outbox) => batch.iter().for_each(|entry| outbox.remove(entry)),
                    None => return,
                }
            }
        });
        Remover { tx, done }
    }

    /// Waits until every handed-over file is removed.
    async fn finish(self) {
        drop(self.tx);
        if let Err(e) = self.done.await {
            tracing::error!(error = %e, "outbox remover failed");
        }
    }
}

impl Session {
    /// Builds the session; nothing runs until [`Session::run`].
    pub fn new(p: SessionParts) -> Session {
        let ha = Some(&p.settings.home_assistant)
            .filter(|ha| ha.enabled)
            .and_then(|ha| {
                let mut configs = Vec::new();
                for (topic, payload) in ha.configs(&p.settings.device, &p.topics) {
                    match serde_json::to_vec(&payload) {
                        Ok(bytes) => configs.push((topic, bytes)),
                        Err(e) => {
                            tracing::error!(error = %e, "cannot serialise Home Assistant discovery config");
                            return None;
                        }
                    }
                }
                Some((configs, ha.status_topic()))
            });
        Session {
            settings: Arc::new(p.settings),
            tls: p.tls,
            topics: p.topics,
            outbox: p.outbox,
            counters: p.counters,
            requests: p.requests,
            requests_open: true,
            now: p.now,
            now_open: true,
            now_dirty: false,
            last_now_sent: None,
            retained: p.retained,
            retained_open: true,
            retained_sent: HashMap::new(),
            commands: p.commands,
            pending: p.entries.into_iter().map(|e| (e.seq, e)).collect(),
            stopping: None,
            shutdown_reply: None,
            next_pid: 0,
            ha,
            remover: None,
        }
    }

    /// Runs until shutdown: connect, serve, and on loss wait a jittered backoff and retry.
    pub async fn run(mut self) {
        let mut backoff = Backoff {
            min: self.settings.reconnect_min,
            max: self.settings.reconnect_max,
            attempt: 0,
        };
        loop {
            if self.stopping.is_some() {
                break;
            }
            match self.connect_serving_requests().await {
                None => break,
                Some(Ok((stream, frames))) => {
                    let up_since = Instant::now();
                    let end = self.run_connection(stream, frames).await;
                    self.counters.connected.store(false, Ordering::Relaxed);
                    match end {
                        End::Stopped => break,
                        End::Lost(reason) => {
                            tracing::warn!(
                                reason = %reason,
                                up_ms = up_since.elapsed().as_millis() as u64,
                                outbox = self.outbox.len(),
                                sent = self.counters.sent.load(Ordering::Relaxed),
                                acked = self.counters.acked.load(Ordering::Relaxed),
                                "MQTT connection lost"
                            );
                            if up_since.elapsed() >= BACKOFF_RESET_AFTER {
                                backoff.reset();
                            }
                        }
                    }
                }
                Some(Err(reason)) => {
                    self.counters
                        .connect_failures
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        host = %self.settings.host,
                        port = self.settings.port,
                        reason = %reason,
                        outbox = self.outbox.len(),
                        "MQTT connect failed"
                    );
                }
            }
            let delay = backoff.next();
            tracing::info!(
                delay_ms = delay.as_millis() as u64,
                attempt = backoff.attempt,
                "MQTT reconnecting after delay"
            );
            if !self.sleep_serving_requests(delay).await {
                break;
            }
        }
        self.counters.connected.store(false, Ordering::Relaxed);
        if let Some(remover) = self.remover.take() {
            remover.finish().await;
        }
        tracing::info!(outbox = self.outbox.len(), "MQTT session stopped");
        if let Some(reply) = self.shutdown_reply.take() {
            let _ = reply.send(());
        }
    }

    /// Takes a request from a handle.
    fn on_request(&mut self, request: Option<Request>) {
        match request {
            Some(Request::Stored(entry)) => {
                self.pending.insert(entry.seq, entry);
            }
            Some(Request::Shutdown(reply)) => {
                self.shutdown_reply = Some(reply);
                self.stopping
                    .get_or_insert_with(|| Instant::now() + self.settings.shutdown_grace);
            }
            None => {
                // Every handle is gone: nobody can publish any more, so stop the same way.
                self.requests_open = false;
                self.stopping
                    .get_or_insert_with(|| Instant::now() + self.settings.shutdown_grace);
            }
        }
    }

    /// Connects while still accepting requests; `None` when shutdown came first.
    async fn connect_serving_requests(
        &mut self,
    ) -> Option<Result<(Box<dyn Io>, FrameReader), String>> {
        let attempt = connect(
            Arc::clone(&self.settings),
            self.tls.clone(),
            self.topics.status.clone(),
        );
        tokio::pin!(attempt);
        loop {
            tokio::select! {
                result = &mut attempt => return Some(result),
                request = self.requests.recv(), if self.requests_open => {
                    self.on_request(request);
                    if self.stopping.is_some() {
                        return None;
                    }
                }
            }
        }
    }

    /// Sleeps while still accepting requests; `false` when shutdown came first.
    async fn sleep_serving_requests(&mut self, delay: Duration) -> bool {
        let wake = sleep(delay);
        tokio::pin!(wake);
        loop {
            tokio::select! {
                () = &mut wake => return true,
                request = self.requests.recv(), if self.requests_open => {
                    self.on_request(request);
                    if self.stopping.is_some() {
                        return false;
                    }
                }
            }
        }
    }

    /// Serves one accepted connection until it breaks or shutdown completes.
    async fn run_connection(&mut self, stream: Box<dyn Io>, frames: FrameReader) -> End {
        let (rd, wr) = tokio::io::split(stream);
        let mut conn = Conn {
            rd,
            wr,
            frames,
            inflight: HashMap::new(),
            acked: Vec::new(),
            last_write: Instant::now(),
            ping_sent: None,
            sub_pid: None,
            write_timeout: self.settings.connect_timeout,
        };
        self.counters.connected.store(true, Ordering::Relaxed);
        let connects = self.counters.connects.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::info!(
            host = %self.settings.host,
            port = self.settings.port,
            connects,
            outbox = self.outbox.len(),
            "MQTT connected"
        );
        let end = match self.serve(&mut conn).await {
            Ok(end) => end,
            Err(reason) => End::Lost(reason),
        };
        // Acknowledged is acknowledged, whatever happened to the connection since.
        self.remove_acked(&mut conn);
        // Whatever was not acknowledged goes back in line, to be sent again with DUP.
        for (_, mut inflight) in conn.inflight.drain() {
            inflight.entry.sent_before = true;
            self.pending.insert(inflight.entry.seq, inflight.entry);
        }
        end
    }

    async fn serve(&mut self, conn: &mut Conn) -> Result<End, String> {
        let mut filters = Vec::new();
        if self.commands.is_some() {
            filters.push(format!("{}#", self.topics.cmd_prefix));
        }
        if let Some((_, ha_status)) = &self.ha {
            filters.push(ha_status.clone());
        }
        if !filters.is_empty() {
            let pid = self.alloc_pid(conn);
            conn.write(&codec::subscribe(pid, &filters)?).await?;
            conn.sub_pid = Some(pid);
        }
        self.announce(conn).await?;
        // Diagnostics and health are re-sent on every connection: a restarted broker that
        // lost its retained messages has them again.
        self.retained_sent.clear();
        self.publish_retained(conn).await?;
        // The latest provisional tags are re-sent (retained) so a restarted broker has them.
        self.now_dirty = self.now.borrow().is_some();

        let keep_alive = Duration::from_secs(u64::from(self.settings.keep_alive_secs));
        let mut tick = interval(Duration::from_millis(500));
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            if let Some(deadline) = self.stopping {
                let drained = conn.inflight.is_empty() && self.pending.is_empty();
                if drained || Instant::now() >= deadline {
                    return self.say_goodbye(conn, drained).await;
                }
            }
            self.fill_window(conn).await?;
            let now_due = self
                .last_now_sent
                .map_or_else(Instant::now, |t| t + self.settings.now_min_interval);
            let stop_at = self.stopping.unwrap_or_else(Instant::now);
            tokio::select! {
                read = conn.rd.read_buf(conn.frames.buffer_mut()) => {
                    match read {
                        Ok(0) => return Err("broker closed the connection".to_string()),
                        Ok(_) => {}
                        Err(e) => return Err(format!("read failed: {e}")),
                    }
                    while let Some(packet) = conn.frames.next_packet().map_err(|e| format!("protocol error: {e}"))? {
                        self.handle(conn, packet).await?;
                    }
                    self.remove_acked(conn);
                }
                request = self.requests.recv(), if self.requests_open => self.on_request(request),
                changed = self.now.changed(), if self.now_open => {
                    if changed.is_ok() {
                        self.now_dirty = true;
                    } else {
                        self.now_open = false;
                    }
                }
                changed = self.retained.changed(), if self.retained_open => {
                    if changed.is_ok() {
                        self.publish_retained(conn).await?;
                    } else {
                        self.retained_open = false;
                    }
                }
                () = sleep_until(now_due), if self.now_dirty => {
                    self.now_dirty = false;
                    let latest = self.now.borrow_and_update().clone();
                    if let Some(bytes) = latest {
                        conn.write(&codec::publish(&self.topics.now, &bytes, None, true, false)?).await?;
                        self.last_now_sent = Some(Instant::now());
                    }
                }
                _ = tick.tick() => {
                    if !keep_alive.is_zero() {
                        if let Some(sent) = conn.ping_sent {
                            if sent.elapsed() > keep_alive {
                                return Err("no PINGRESP within the keep-alive".to_string());
                            }
                        } else if conn.last_write.elapsed() >= keep_alive * 3 / 4 {
                            conn.write(&codec::PINGREQ).await?;
                            conn.ping_sent = Some(Instant::now());
                        }
                    }
                }
                () = sleep_until(stop_at), if self.stopping.is_some() => {}
            }
        }
    }

    /// Publishes `online` and the Home Assistant config (both retained).
    /// Publishes (retained, QoS 0) every retained payload this connection has not sent yet.
    async fn publish_retained(&mut self, conn: &mut Conn) -> Result<(), String> {
        let latest = self.retained.borrow_and_update().clone();
        for (topic, bytes) in latest {
            if self
                .retained_sent
                .get(&topic)
                .is_some_and(|sent| Arc::ptr_eq(sent, &bytes))
            {
                continue;
            }
            conn.write(&codec::publish(&topic, &bytes, None, true, false)?)
                .await?;
            self.retained_sent.insert(topic, bytes);
        }
        Ok(())
    }

    async fn announce(&mut self, conn: &mut Conn) -> Result<(), String> {
        conn.write(&codec::publish(
            &self.topics.status,
            b"online",
            None,
            true,
            false,
        )?)
        .await?;
        if let Some((configs, _)) = &self.ha {
            for (topic, payload) in configs {
                conn.write(&codec::publish(topic, payload, None, true, false)?)
                    .await?;
            }
        }
        Ok(())
    }

    /// Publishes `offline` (retained) and DISCONNECT; the broker then drops the last will.
    async fn say_goodbye(&mut self, conn: &mut Conn, drained: bool) -> Result<End, String> {
        if !drained {
            tracing::warn!(
                inflight = conn.inflight.len(),
                outbox = self.outbox.len(),
                "shutdown grace over; unacknowledged messages stay in the outbox"
            );
        }
        conn.write(&codec::publish(
            &self.topics.status,
            b"offline",
            None,
            true,
            false,
        )?)
        .await?;
        conn.write(&codec::DISCONNECT).await?;
        let _ = timeout(Duration::from_secs(1), conn.wr.shutdown()).await;
        tracing::info!(outbox = self.outbox.len(), "MQTT disconnected cleanly");
        Ok(End::Stopped)
    }

    /// The next packet id not in use on this connection.
    fn alloc_pid(&mut self, conn: &Conn) -> u16 {
        loop {
            self.next_pid = self.next_pid.checked_add(1).unwrap_or(1);
            if !conn.inflight.contains_key(&self.next_pid) && conn.sub_pid != Some(self.next_pid) {
                return self.next_pid;
            }
        }
    }

    /// Hands the files of acknowledged messages to the remover thread. Unlinking can be slow
    /// (a few ms each on an SSD mounted with online discard), so sending does not wait for it.
    fn remove_acked(&mut self, conn: &mut Conn) {
        if conn.acked.is_empty() {
            return;
        }
        let acked = std::mem::take(&mut conn.acked);
        let remover = self
            .remover
            .get_or_insert_with(|| Remover::start(&self.outbox));
        if let Err(mpsc::error::SendError(acked)) = remover.tx.send(acked) {
            // The remover thread is gone (it panicked): remove them here instead.
            tracing::error!("outbox remover stopped; removing acknowledged files inline");
            acked.iter().for_each(|entry| self.outbox.remove(entry));
        }
    }

    /// Sends waiting messages until the in-flight window is full. Refills only once half the
    /// window is free, so a busy drain reads and writes in batches rather than one by one.
    async fn fill_window(&mut self, conn: &mut Conn) -> Result<(), String> {
        let window = self.settings.inflight_window;
        while conn.inflight.len() < window && !self.pending.is_empty() {
            let room = window - conn.inflight.len();
            let mut batch = Vec::with_capacity(room.min(self.pending.len()));
            while batch.len() < room {
                match self.pending.pop_first() {
                    Some((_, entry)) => batch.push(entry),
                    None => break,
                }
            }
            let outbox = Arc::clone(&self.outbox);
            let loaded = tokio::task::spawn_blocking(move || {
                batch
                    .into_iter()
                    .filter_map(|entry| match outbox.read(&entry) {
                        Ok(stored) => Some((entry, stored)),
                        Err(ReadError::Gone) => {
                            outbox.forget(&entry);
                            None
                        }
                        Err(ReadError::Corrupt(reason)) => {
                            outbox.quarantine(&entry, &reason);
                            None
                        }
                    })
                    .collect::<Vec<_>>()
            })
            .await
            .map_err(|e| format!("outbox reader task failed: {e}"))?;
            let mut packets = Vec::new();
            let mut pids = Vec::new();
            let mut resends = 0;
            let mut count = 0;
            for (entry, stored) in loaded {
                let pid = self.alloc_pid(conn);
                let topic = self.topics.for_suffix(&stored.suffix);
                let packet = match codec::publish(
                    &topic,
                    &stored.payload,
                    Some(pid),
                    false,
                    entry.sent_before,
                ) {
                    Ok(p) => p,
                    Err(reason) => {
                        let outbox = Arc::clone(&self.outbox);
                        let _ =
                            tokio::task::spawn_blocking(move || outbox.quarantine(&entry, &reason))
                                .await;
                        continue;
                    }
                };
                resends += u64::from(entry.sent_before);
                count += 1;
                packets.extend_from_slice(&packet);
                pids.push(pid);
                // Registered before writing so that a failed write still puts it back in line.
                conn.inflight.insert(
                    pid,
                    Inflight {
                        entry,
                        sent_at: Instant::now(),
                    },
                );
            }
            if packets.is_empty() {
                continue;
            }
            conn.write(&packets).await?;
            let written = Instant::now();
            for pid in pids {
                if let Some(inflight) = conn.inflight.get_mut(&pid) {
                    inflight.sent_at = written;
                }
            }
            self.counters.sent.fetch_add(count, Ordering::Relaxed);
            self.counters.resent.fetch_add(resends, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Acts on one packet from the broker.
    async fn handle(&mut self, conn: &mut Conn, packet: Incoming) -> Result<(), String> {
        match packet {
            Incoming::Puback(pid) => match conn.inflight.remove(&pid) {
                Some(inflight) => {
                    let rtt = inflight.sent_at.elapsed();
                    self.counters.last_ack_rtt_us.store(
                        u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX),
                        Ordering::Relaxed,
                    );
                    self.counters.acked.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(id = %inflight.entry.id, rtt_us = rtt.as_micros() as u64, "PUBACK");
                    conn.acked.push(inflight.entry);
                }
                None => tracing::warn!(pid, "PUBACK for a packet id not in flight"),
            },
            Incoming::Suback { pid, refused } => {
                if conn.sub_pid == Some(pid) {
                    conn.sub_pid = None;
                }
                if refused > 0 {
                    tracing::error!(
                        refused,
                        "broker refused some subscriptions (commands / Home Assistant status)"
                    );
                }
            }
            Incoming::Pingresp => conn.ping_sent = None,
            Incoming::Publish {
                topic,
                payload,
                pid,
                qos,
                retain,
            } => {
                if qos == 2 {
                    // We subscribe at QoS 1; a QoS 2 delivery breaks the protocol.
                    return Err(format!(
                        "QoS 2 message on {topic} though we subscribed at QoS 1"
                    ));
                }
                if let Some(pid) = pid {
                    conn.write(&codec::puback(pid)?).await?;
                }
                self.on_message(conn, &topic, &payload, retain).await?;
            }
            Incoming::Connack { code, .. } => {
                return Err(format!("second CONNACK ({code}) on an open connection"));
            }
            Incoming::Unexpected(kind) => {
                return Err(format!(
                    "broker sent {kind}, which a client must never receive"
                ));
            }
        }
        Ok(())
    }

    /// Routes a message on one of our subscriptions.
    async fn on_message(
        &mut self,
        conn: &mut Conn,
        topic: &str,
        payload: &[u8],
        retain: bool,
    ) -> Result<(), String> {
        if self.ha.as_ref().is_some_and(|(_, status)| status == topic) {
            if payload == b"online" {
                tracing::info!("Home Assistant came online; re-announcing discovery");
                self.announce(conn).await?;
            }
            return Ok(());
        }
        if let Some(name) = topic.strip_prefix(&self.topics.cmd_prefix) {
            if retain {
                // A retained command would fire again on every reconnect.
                tracing::warn!(topic, "ignoring retained command");
                return Ok(());
            }
            match (Command::from_suffix(name), &self.commands) {
                (Some(command), Some(tx)) => {
                    tracing::info!(?command, "command received");
                    if tx.send(command).is_err() {
                        tracing::warn!(?command, "command received but nobody listens");
                    }
                }
                (None, _) => tracing::warn!(topic, "unknown command"),
                (Some(_), None) => tracing::warn!(topic, "command received but commands are off"),
            }
            return Ok(());
        }
        tracing::debug!(topic, "message on an unexpected topic ignored");
        Ok(())
    }
}

/// TCP (+ TLS) connect, CONNECT, and wait for an accepting CONNACK, all bounded in time.
async fn connect(
    settings: Arc<MqttSettings>,
    tls: Option<TlsConnector>,
    will_topic: String,
) -> Result<(Box<dyn Io>, FrameReader), String> {
    let deadline = Instant::now() + settings.connect_timeout;
    let tcp = timeout_at(
        deadline,
        TcpStream::connect((settings.host.as_str(), settings.port)),
    )
    .await
    .map_err(|_| "TCP connect timed out".to_string())?
    .map_err(|e| format!("TCP connect: {e}"))?;
    // Small packets (PUBACK-paced publishes) must not wait for Nagle.
    tcp.set_nodelay(true)
        .map_err(|e| format!("TCP_NODELAY: {e}"))?;
    let mut stream: Box<dyn Io> = match tls {
        Some(connector) => {
            let name = ServerName::try_from(settings.host.clone()).map_err(|e| {
                format!(
                    "host {:?} is not a valid TLS server name: {e}",
                    settings.host
                )
            })?;
            let tls_stream = timeout_at(deadline, connector.connect(name, tcp))
                .await
                .map_err(|_| "TLS handshake timed out".to_string())?
                .map_err(|e| format!("TLS handshake: {e}"))?;
            Box::new(tls_stream)
        }
        None => Box::new(tcp),
    };
    let packet = codec::connect(&codec::ConnectParams {
        client_id: &settings.client_id,
        keep_alive: settings.keep_alive_secs,
        username: settings.username.as_deref(),
        password: settings.password.as_deref(),
        will_topic: &will_topic,
        will_message: b"offline",
    })?;
    timeout_at(deadline, async {
        stream.write_all(&packet).await?;
        stream.flush().await
    })
    .await
    .map_err(|_| "sending CONNECT timed out".to_string())?
    .map_err(|e| format!("sending CONNECT: {e}"))?;

    let mut frames = FrameReader::new(MAX_INCOMING);
    loop {
        match frames
            .next_packet()
            .map_err(|e| format!("protocol error before CONNACK: {e}"))?
        {
            Some(Incoming::Connack {
                code: ConnectCode::Accepted,
                ..
            }) => return Ok((stream, frames)),
            Some(Incoming::Connack { code, .. }) => {
                return Err(format!("broker refused the connection: {code}"))
            }
            Some(other) => return Err(format!("expected CONNACK, got {other:?}")),
            None => {
                let n = timeout_at(deadline, stream.read_buf(frames.buffer_mut()))
                    .await
                    .map_err(|_| "no CONNACK in time".to_string())?
                    .map_err(|e| format!("reading CONNACK: {e}"))?;
                if n == 0 {
                    return Err("broker closed the connection before CONNACK".to_string());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let mut b = Backoff {
            min: Duration::from_millis(500),
            max: Duration::from_secs(30),
            attempt: 0,
        };
        let mut expected = Duration::from_millis(500);
        for _ in 0..12 {
            let d = b.next();
            assert!(
                d >= expected / 2 && d <= expected,
                "{d:?} outside [{:?}, {expected:?}]",
                expected / 2
            );
            expected = (expected * 2).min(Duration::from_secs(30));
        }
        // After many attempts it never exceeds the cap and jitter still spreads it.
        let draws: Vec<_> = (0..50).map(|_| b.next()).collect();
        assert!(draws
            .iter()
            .all(|d| *d <= Duration::from_secs(30) && *d >= Duration::from_secs(15)));
        assert!(draws.iter().any(|d| *d != draws[0]), "jitter must vary");
        b.reset();
        assert!(b.next() <= Duration::from_millis(500));
    }
}
