//! A small MQTT 3.1.1 test client on mqttrs (plain TCP, loopback): connect, subscribe at
//! QoS 1, publish, receive with PUBACK. Plus a `Collector` that stays subscribed across
//! broker restarts. Every wait is bounded.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use mqttrs::{
    decode_slice, encode_slice, Connect, Packet, Pid, Protocol, Publish, QoS, QosPid, Subscribe,
    SubscribeTopic,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{timeout, timeout_at, Instant};

/// How the test client connects.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Client id.
    pub client_id: String,
    /// `false` keeps the subscription (and queued QoS 1 messages) across disconnects.
    pub clean_session: bool,
    /// User name.
    pub username: Option<String>,
    /// Password.
    pub password: Option<String>,
}

impl ClientOptions {
    /// Anonymous clean-session client.
    pub fn new(client_id: &str) -> Self {
        ClientOptions {
            client_id: client_id.to_string(),
            clean_session: true,
            username: None,
            password: None,
        }
    }
}

/// A received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Topic name.
    pub topic: String,
    /// Payload bytes.
    pub payload: Vec<u8>,
    /// Retain flag as delivered.
    pub retain: bool,
    /// DUP flag as delivered.
    pub dup: bool,
}

impl Message {
    /// The payload as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.payload)
            .unwrap_or_else(|e| panic!("payload on {} is not JSON: {e}", self.topic))
    }

    /// The payload as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.payload).into_owned()
    }
}

/// One connection to the broker.
pub struct TestClient {
    stream: TcpStream,
    buf: BytesMut,
    next_pid: u16,
    queued: VecDeque<Message>,
}

fn encode(packet: &Packet<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; 1 << 16];
    let n = encode_slice(packet, &mut buf).expect("encode test packet");
    buf.truncate(n);
    buf
}

/// A packet read from the broker, owned.
enum Got {
    Connack(bool),
    Publish(Message, Option<u16>),
    Suback,
    Other,
}

impl TestClient {
    /// Connects and waits for CONNACK (errors, including refusals, come back as text).
    pub async fn connect(port: u16, options: &ClientOptions) -> Result<TestClient, String> {
        let stream = timeout(
            Duration::from_secs(2),
            TcpStream::connect(("127.0.0.1", port)),
        )
        .await
        .map_err(|_| "connect timed out".to_string())?
        .map_err(|e| e.to_string())?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let mut client = TestClient {
            stream,
            buf: BytesMut::new(),
            next_pid: 1,
            queued: VecDeque::new(),
        };
        let connect = encode(&Packet::Connect(Connect {
            protocol: Protocol::MQTT311,
            keep_alive: 60,
            client_id: &options.client_id,
            clean_session: options.clean_session,
            last_will: None,
            username: options.username.as_deref(),
            password: options.password.as_deref().map(str::as_bytes),
        }));
        client.write(&connect).await?;
        let deadline = Instant::now() + Duration::from_secs(3);
        match client.read_packet(deadline).await? {
            Some(Got::Connack(true)) => Ok(client),
            Some(Got::Connack(false)) => Err("connection refused".to_string()),
            _ => Err("no CONNACK".to_string()),
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        timeout(Duration::from_secs(2), self.stream.write_all(bytes))
            .await
            .map_err(|_| "write timed out".to_string())?
            .map_err(|e| e.to_string())
    }

    /// Reads one packet before `deadline`; `Ok(None)` on timeout, `Err` when the link broke.
    async fn read_packet(&mut self, deadline: Instant) -> Result<Option<Got>, String> {
        loop {
            let decoded = match decode_slice(&self.buf) {
                Ok(Some(packet)) => {
                    let got = match &packet {
                        Packet::Connack(c) => {
                            Got::Connack(c.code == mqttrs::ConnectReturnCode::Accepted)
                        }
                        Packet::Publish(p) => Got::Publish(
                            Message {
                                topic: p.topic_name.to_string(),
                                payload: p.payload.to_vec(),
                                retain: p.retain,
                                dup: p.dup,
                            },
                            p.qospid.pid().map(Pid::get),
                        ),
                        Packet::Suback(_) => Got::Suback,
                        _ => Got::Other,
                    };
                    Some(got)
                }
                Ok(None) => None,
                Err(e) => return Err(format!("decode: {e:?}")),
            };
            if let Some(got) = decoded {
                // mqttrs decodes from the front; find the frame length to drop it.
                let len = frame_len(&self.buf).expect("whole frame");
                self.buf.advance(len);
                if let Got::Publish(_, Some(pid)) = &got {
                    let ack = encode(&Packet::Puback(Pid::try_from(*pid).expect("pid")));
                    self.write(&ack).await?;
                }
                return Ok(Some(got));
            }
            match timeout_at(deadline, self.stream.read_buf(&mut self.buf)).await {
                Err(_) => return Ok(None),
                Ok(Ok(0)) => return Err("connection closed".to_string()),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(e.to_string()),
            }
        }
    }

    /// Subscribes at QoS 1 and waits for SUBACK (messages arriving meanwhile are kept).
    pub async fn subscribe(&mut self, filters: &[&str]) -> Result<(), String> {
        let pid = self.next_pid;
        self.next_pid += 1;
        let packet = encode(&Packet::Subscribe(Subscribe {
            pid: Pid::try_from(pid).expect("pid"),
            topics: filters
                .iter()
                .map(|f| SubscribeTopic {
                    topic_path: f.to_string(),
                    qos: QoS::AtLeastOnce,
                })
                .collect(),
        }));
        self.write(&packet).await?;
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            match self.read_packet(deadline).await? {
                Some(Got::Suback) => return Ok(()),
                Some(Got::Publish(m, _)) => self.queued.push_back(m),
                Some(_) => {}
                None => return Err("no SUBACK".to_string()),
            }
        }
    }

    /// Publishes at QoS 0.
    pub async fn publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        retain: bool,
    ) -> Result<(), String> {
        let packet = encode(&Packet::Publish(Publish {
            dup: false,
            qospid: QosPid::AtMostOnce,
            retain,
            topic_name: topic,
            payload,
        }));
        self.write(&packet).await
    }

    /// The next message within `wait`; `Ok(None)` on timeout.
    pub async fn recv(&mut self, wait: Duration) -> Result<Option<Message>, String> {
        if let Some(m) = self.queued.pop_front() {
            return Ok(Some(m));
        }
        let deadline = Instant::now() + wait;
        loop {
            match self.read_packet(deadline).await? {
                Some(Got::Publish(m, _)) => return Ok(Some(m)),
                Some(_) => {}
                None => return Ok(None),
            }
        }
    }

    /// Sends DISCONNECT and closes.
    pub async fn disconnect(mut self) {
        let _ = self.write(&encode(&Packet::Disconnect)).await;
        let _ = self.stream.shutdown().await;
    }
}

/// Length of the first whole frame in `buf`.
fn frame_len(buf: &[u8]) -> Option<usize> {
    let mut len = 0usize;
    for pos in 0..4 {
        let byte = *buf.get(1 + pos)?;
        len |= usize::from(byte & 0x7f) << (7 * pos);
        if byte & 0x80 == 0 {
            return Some(2 + pos + len);
        }
    }
    None
}

/// Keeps a subscription alive across broker restarts and forwards every message received.
pub struct Collector {
    rx: mpsc::UnboundedReceiver<Message>,
    stop: Arc<AtomicBool>,
    task: JoinHandle<()>,
    /// Every message received so far, in order.
    pub seen: Vec<Message>,
}

impl Collector {
    /// Connects, subscribes (waiting for the first SUBACK), then keeps reconnecting with the
    /// same options until stopped or `lifetime` has passed.
    pub async fn start(
        port: u16,
        options: ClientOptions,
        filters: &[&str],
        lifetime: Duration,
    ) -> Collector {
        let filters: Vec<String> = filters.iter().map(|f| f.to_string()).collect();
        let (tx, rx) = mpsc::unbounded_channel();
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let task = {
            let stop = Arc::clone(&stop);
            tokio::spawn(async move {
                let end = Instant::now() + lifetime;
                let mut ready = Some(ready_tx);
                while !stop.load(Ordering::Relaxed) && Instant::now() < end {
                    let mut client = match TestClient::connect(port, &options).await {
                        Ok(c) => c,
                        Err(_) => {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let refs: Vec<&str> = filters.iter().map(String::as_str).collect();
                    if client.subscribe(&refs).await.is_err() {
                        continue;
                    }
                    if let Some(r) = ready.take() {
                        let _ = r.send(());
                    }
                    while !stop.load(Ordering::Relaxed) && Instant::now() < end {
                        match client.recv(Duration::from_millis(100)).await {
                            Ok(Some(m)) => {
                                if tx.send(m).is_err() {
                                    return;
                                }
                            }
                            Ok(None) => {}
                            Err(_) => break,
                        }
                    }
                    if stop.load(Ordering::Relaxed) {
                        client.disconnect().await;
                    }
                }
            })
        };
        timeout(Duration::from_secs(10), ready_rx)
            .await
            .expect("collector subscribed in time")
            .expect("collector task alive");
        Collector {
            rx,
            stop,
            task,
            seen: Vec::new(),
        }
    }

    /// Receives until `done(seen)` holds or `wait` passes; returns whether it held.
    pub async fn wait_for(
        &mut self,
        wait: Duration,
        mut done: impl FnMut(&[Message]) -> bool,
    ) -> bool {
        let deadline = Instant::now() + wait;
        loop {
            if done(&self.seen) {
                return true;
            }
            match timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(m)) => self.seen.push(m),
                Ok(None) | Err(_) => return done(&self.seen),
            }
        }
    }

    /// Messages seen on one topic.
    pub fn on(&self, topic: &str) -> Vec<&Message> {
        self.seen.iter().filter(|m| m.topic == topic).collect()
    }

    /// Stops the background client (DISCONNECT) and waits for it.
    pub async fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = timeout(Duration::from_secs(3), self.task).await;
    }
}
