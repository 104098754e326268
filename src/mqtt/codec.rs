//! Framing over mqttrs: encode our packets, cut and check incoming frames before decoding.
//!
//! mqttrs 0.4 indexes its input without bounds checks in a few places (packet ids, CONNACK
//! flags) when a frame is shorter than its type needs, so every frame is cut to its declared
//! length and its minimum size checked here before mqttrs sees it: a broken broker or a
//! hostile peer makes a protocol error, never a panic.

use bytes::{Buf, BytesMut};
use mqttrs::{
    decode_slice, encode_slice, Connect, ConnectReturnCode, LastWill, Packet, Pid, Protocol,
    Publish, QoS, QosPid, Subscribe, SubscribeReturnCodes, SubscribeTopic,
};

/// Largest incoming packet we accept; bigger ones are skipped, byte for byte.
pub(crate) const MAX_INCOMING: usize = 1 << 20;

/// A decoded packet from the broker, owning its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Incoming {
    /// Answer to CONNECT.
    Connack {
        /// Whether the broker kept a session for us.
        session_present: bool,
        /// 0 when accepted, otherwise the refusal reason.
        code: ConnectCode,
    },
    /// A message on a subscribed topic.
    Publish {
        /// Topic name.
        topic: String,
        /// Payload bytes.
        payload: Vec<u8>,
        /// Packet id when QoS > 0 (needs an acknowledgement).
        pid: Option<u16>,
        /// QoS level 0, 1 or 2.
        qos: u8,
        /// Set when the broker delivers a retained message on subscription.
        retain: bool,
    },
    /// A QoS 1 publish was received by the broker.
    Puback(u16),
    /// Answer to SUBSCRIBE: the packet id and how many filters were refused.
    Suback {
        /// Packet id of the SUBSCRIBE.
        pid: u16,
        /// Number of refused filters.
        refused: usize,
    },
    /// Answer to PINGREQ.
    Pingresp,
    /// A packet a client should never receive (named for the log).
    Unexpected(&'static str),
}

/// CONNACK return codes, owned and printable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnectCode {
    Accepted,
    RefusedProtocolVersion,
    RefusedIdentifierRejected,
    ServerUnavailable,
    BadUsernamePassword,
    NotAuthorized,
}

impl From<ConnectReturnCode> for ConnectCode {
    fn from(c: ConnectReturnCode) -> Self {
        match c {
            ConnectReturnCode::Accepted => ConnectCode::Accepted,
            ConnectReturnCode::RefusedProtocolVersion => ConnectCode::RefusedProtocolVersion,
            ConnectReturnCode::RefusedIdentifierRejected => ConnectCode::RefusedIdentifierRejected,
            ConnectReturnCode::ServerUnavailable => ConnectCode::ServerUnavailable,
            ConnectReturnCode::BadUsernamePassword => ConnectCode::BadUsernamePassword,
            ConnectReturnCode::NotAuthorized => ConnectCode::NotAuthorized,
        }
    }
}

impl std::fmt::Display for ConnectCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ConnectCode::Accepted => "accepted",
            ConnectCode::RefusedProtocolVersion => "unacceptable protocol version",
            ConnectCode::RefusedIdentifierRejected => "client identifier rejected",
            ConnectCode::ServerUnavailable => "server unavailable",
            ConnectCode::BadUsernamePassword => "bad user name or password",
            ConnectCode::NotAuthorized => "not authorised",
        })
    }
}

/// Buffers bytes from the broker and yields whole, checked packets.
#[derive(Debug)]
pub(crate) struct FrameReader {
    buf: BytesMut,
    /// Bytes still to drop from an oversize packet.
    skip: usize,
    max: usize,
}

impl FrameReader {
    /// A reader that skips packets larger than `max` bytes.
    pub fn new(max: usize) -> Self {
        FrameReader {
            buf: BytesMut::with_capacity(4096),
            skip: 0,
            max,
        }
    }

    /// The buffer to read socket bytes into.
    pub fn buffer_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// The next whole packet, `Ok(None)` when more bytes are needed.
    pub fn next_packet(&mut self) -> Result<Option<Incoming>, String> {
        loop {
            if self.skip > 0 {
                let n = self.skip.min(self.buf.len());
                self.buf.advance(n);
                self.skip -= n;
                if self.skip > 0 {
                    return Ok(None);
                }
            }
            let Some((header_len, remaining)) = fixed_header(&self.buf)? else {
                return Ok(None);
            };
            let frame_len = header_len + remaining;
            if frame_len > self.max {
                tracing::warn!(
                    bytes = frame_len,
                    limit = self.max,
                    "skipping oversize MQTT packet"
                );
                self.skip = frame_len;
                continue;
            }
            if self.buf.len() < frame_len {
                // Keep reads large enough for the frame we are waiting for.
                self.buf.reserve(frame_len - self.buf.len());
                return Ok(None);
            }
            let packet = decode_frame(&self.buf[..frame_len], header_len, remaining);
            self.buf.advance(frame_len);
            return packet.map(Some);
        }
    }
}

/// Parses the fixed header: (its length, the remaining length), or `None` if incomplete.
fn fixed_header(buf: &[u8]) -> Result<Option<(usize, usize)>, String> {
    let mut remaining = 0usize;
    for pos in 0..4 {
        let Some(&byte) = buf.get(1 + pos) else {
            return Ok(None);
        };
        remaining |= usize::from(byte & 0x7f) << (7 * pos);
        if byte & 0x80 == 0 {
            return Ok(Some((2 + pos, remaining)));
        }
    }
    Err("remaining length longer than 4 bytes".to_string())
}

/// Checks a whole frame's size for its type, then decodes it with mqttrs.
fn decode_frame(frame: &[u8], header_len: usize, remaining: usize) -> Result<Incoming, String> {
    let first = frame.first().copied().unwrap_or(0);
    let kind = first >> 4;
    let body = &frame[header_len..];
    let ok = match kind {
        2 | 4 | 11 => remaining == 2,
        3 => {
            let qos = (first >> 1) & 3;
            let topic_len = match body {
                [hi, lo, ..] => usize::from(*hi) << 8 | usize::from(*lo),
                _ => return Err("PUBLISH shorter than its topic length".to_string()),
            };
            2 + topic_len + if qos > 0 { 2 } else { 0 } <= remaining
        }
        9 => remaining >= 3,
        13 => remaining == 0,
        1 => return Ok(Incoming::Unexpected("CONNECT")),
        5 => return Ok(Incoming::Unexpected("PUBREC")),
        6 => return Ok(Incoming::Unexpected("PUBREL")),
        7 => return Ok(Incoming::Unexpected("PUBCOMP")),
        8 => return Ok(Incoming::Unexpected("SUBSCRIBE")),
        10 => return Ok(Incoming::Unexpected("UNSUBSCRIBE")),
        12 => return Ok(Incoming::Unexpected("PINGREQ")),
        14 => return Ok(Incoming::Unexpected("DISCONNECT")),
        _ => return Err(format!("reserved packet type {kind}")),
    };
    if !ok {
        return Err(format!(
            "packet type {kind} with a remaining length of {remaining} is malformed"
        ));
    }
    let packet = match decode_slice(frame) {
        Ok(Some(p)) => p,
        Ok(None) => return Err(format!("packet type {kind} incomplete after framing")),
        Err(e) => return Err(format!("packet type {kind}: {e}")),
    };
    Ok(match packet {
        Packet::Connack(c) => Incoming::Connack {
            session_present: c.session_present,
            code: c.code.into(),
        },
        Packet::Publish(p) => Incoming::Publish {
            topic: p.topic_name.to_string(),
            payload: p.payload.to_vec(),
            pid: p.qospid.pid().map(Pid::get),
            qos: match p.qospid {
                QosPid::AtMostOnce => 0,
                QosPid::AtLeastOnce(_) => 1,
                QosPid::ExactlyOnce(_) => 2,
            },
            retain: p.retain,
        },
        Packet::Puback(pid) => Incoming::Puback(pid.get()),
        Packet::Suback(s) => Incoming::Suback {
            pid: s.pid.get(),
            refused: s
                .return_codes
                .iter()
                .filter(|c| matches!(c, SubscribeReturnCodes::Failure))
                .count(),
        },
        Packet::Unsuback(_) => Incoming::Unexpected("UNSUBACK"),
        Packet::Pingresp => Incoming::Pingresp,
        // Every other type was answered before decoding.
        _ => Incoming::Unexpected("unexpected packet"),
    })
}

/// Encodes a packet into a buffer of exactly its size (`hint` is an upper bound guess).
fn encode(packet: &Packet<'_>, hint: usize) -> Result<Vec<u8>, String> {
    let mut size = hint.max(16);
    loop {
        let mut buf = vec![0u8; size];
        match encode_slice(packet, &mut buf) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf);
            }
            Err(mqttrs::Error::WriteZero) if size < (1 << 28) => size *= 2,
            Err(e) => return Err(format!("encoding {:?}: {e}", packet.get_type())),
        }
    }
}

/// What goes into CONNECT.
pub(crate) struct ConnectParams<'a> {
    pub client_id: &'a str,
    pub keep_alive: u16,
    pub username: Option<&'a str>,
    pub password: Option<&'a str>,
    pub will_topic: &'a str,
    pub will_message: &'a [u8],
}

/// CONNECT with a clean session and a retained QoS 1 last will.
pub(crate) fn connect(p: &ConnectParams<'_>) -> Result<Vec<u8>, String> {
    let hint = 32
        + p.client_id.len()
        + p.will_topic.len()
        + p.will_message.len()
        + p.username.map_or(0, str::len)
        + p.password.map_or(0, str::len);
    encode(
        &Packet::Connect(Connect {
            protocol: Protocol::MQTT311,
            keep_alive: p.keep_alive,
            client_id: p.client_id,
            // The outbox is our session state; the broker need not keep any for us.
            clean_session: true,
            last_will: Some(LastWill {
                topic: p.will_topic,
                message: p.will_message,
                qos: QoS::AtLeastOnce,
                retain: true,
            }),
            username: p.username,
            password: p.password.map(str::as_bytes),
        }),
        hint,
    )
}

/// PUBLISH; `pid` set means QoS 1.
pub(crate) fn publish(
    topic: &str,
    payload: &[u8],
    pid: Option<u16>,
    retain: bool,
    dup: bool,
) -> Result<Vec<u8>, String> {
    if topic.len() > usize::from(u16::MAX) {
        return Err(format!("topic of {} bytes is too long", topic.len()));
    }
    let qospid = match pid {
        None => QosPid::AtMostOnce,
        Some(n) => {
            QosPid::AtLeastOnce(Pid::try_from(n).map_err(|e| format!("packet id {n}: {e}"))?)
        }
    };
    encode(
        &Packet::Publish(Publish {
            dup: dup && pid.is_some(),
            qospid,
            retain,
            topic_name: topic,
            payload,
        }),
        topic.len() + payload.len() + 16,
    )
}

/// SUBSCRIBE to filters at QoS 1.
pub(crate) fn subscribe(pid: u16, filters: &[String]) -> Result<Vec<u8>, String> {
    let pid = Pid::try_from(pid).map_err(|e| format!("packet id {pid}: {e}"))?;
    let topics = filters
        .iter()
        .map(|f| SubscribeTopic {
            topic_path: f.clone(),
            qos: QoS::AtLeastOnce,
        })
        .collect();
    let hint = 16 + filters.iter().map(|f| f.len() + 3).sum::<usize>();
    encode(&Packet::Subscribe(Subscribe { pid, topics }), hint)
}

/// PUBACK for an incoming QoS 1 message.
pub(crate) fn puback(pid: u16) -> Result<Vec<u8>, String> {
    let pid = Pid::try_from(pid).map_err(|e| format!("packet id {pid}: {e}"))?;
    encode(&Packet::Puback(pid), 4)
}

/// PINGREQ.
pub(crate) const PINGREQ: [u8; 2] = [0xc0, 0x00];
/// DISCONNECT.
pub(crate) const DISCONNECT: [u8; 2] = [0xe0, 0x00];

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(bytes: &[u8]) -> Vec<Result<Option<Incoming>, String>> {
        let mut r = FrameReader::new(64);
        r.buffer_mut().extend_from_slice(bytes);
        let mut out = Vec::new();
        for _ in 0..10 {
            let p = r.next_packet();
            let stop = !matches!(p, Ok(Some(_)));
            out.push(p);
            if stop {
                break;
            }
        }
        out
    }

    #[test]
    fn decodes_what_a_broker_sends() {
        let p = publish("a/b", b"hi", Some(7), true, false).unwrap();
        let mut bytes = vec![
            0x20, 0x02, 0x00, 0x00, 0x40, 0x02, 0x00, 0x07, 0x90, 0x03, 0x00, 0x01, 0x80, 0xd0,
            0x00,
        ];
        bytes.extend_from_slice(&p);
        let out = feed(&bytes);
        assert_eq!(
            out[0],
            Ok(Some(Incoming::Connack {
                session_present: false,
                code: ConnectCode::Accepted
            }))
        );
        assert_eq!(out[1], Ok(Some(Incoming::Puback(7))));
        assert_eq!(out[2], Ok(Some(Incoming::Suback { pid: 1, refused: 1 })));
        assert_eq!(out[3], Ok(Some(Incoming::Pingresp)));
        assert_eq!(
            out[4],
            Ok(Some(Incoming::Publish {
                topic: "a/b".into(),
                payload: b"hi".to_vec(),
                pid: Some(7),
                qos: 1,
                retain: true
            }))
        );
        assert_eq!(out[5], Ok(None));
    }

    #[test]
    fn partial_frames_wait_for_more_bytes() {
        let p = publish("topic", b"payload", None, false, false).unwrap();
        let mut r = FrameReader::new(1024);
        for (i, b) in p.iter().enumerate() {
            r.buffer_mut().extend_from_slice(&[*b]);
            let got = r.next_packet().unwrap();
            assert_eq!(got.is_some(), i == p.len() - 1);
        }
    }

    #[test]
    fn malformed_frames_are_errors_not_panics() {
        // PUBACK, CONNACK, SUBACK too short; PUBLISH whose topic runs past the frame;
        // QoS 1 PUBLISH with no room for its packet id; a 5-byte remaining length; pid 0.
        let cases: &[&[u8]] = &[
            &[0x40, 0x00],
            &[0x40, 0x01, 0x00],
            &[0x20, 0x00],
            &[0x20, 0x01, 0x00],
            &[0x90, 0x02, 0x00, 0x01],
            &[0x30, 0x03, 0x00, 0x09, b'a'],
            &[0x32, 0x03, 0x00, 0x01, b'a'],
            &[0x30, 0x01, 0x00],
            &[0x30, 0xff, 0xff, 0xff, 0xff, 0x01],
            &[0x40, 0x02, 0x00, 0x00],
            &[0x36, 0x05, 0x00, 0x01, b'a', 0x00, 0x01],
            &[0xf0, 0x00],
        ];
        for case in cases {
            let out = feed(case);
            assert!(out[0].is_err(), "{case:?} gave {:?}", out[0]);
        }
        assert_eq!(
            feed(&[0x62, 0x02, 0x00, 0x01])[0],
            Ok(Some(Incoming::Unexpected("PUBREL")))
        );
    }

    #[test]
    fn oversize_packets_are_skipped() {
        let big = publish("t", &[b'x'; 200], None, false, false).unwrap();
        let small = publish("t", b"ok", None, false, false).unwrap();
        let mut r = FrameReader::new(64);
        // Deliver the big one in pieces, then the small one.
        r.buffer_mut().extend_from_slice(&big[..50]);
        assert_eq!(r.next_packet(), Ok(None));
        r.buffer_mut().extend_from_slice(&big[50..]);
        r.buffer_mut().extend_from_slice(&small);
        match r.next_packet() {
            Ok(Some(Incoming::Publish { payload, .. })) => assert_eq!(payload, b"ok"),
            other => panic!("expected the small publish, got {other:?}"),
        }
    }

    #[test]
    fn encodes_connect_with_will_and_credentials() {
        let bytes = connect(&ConnectParams {
            client_id: "hark-x",
            keep_alive: 30,
            username: Some("u"),
            password: Some("p"),
            will_topic: "hark/x/status",
            will_message: b"offline",
        })
        .unwrap();
        let Ok(Some(Packet::Connect(c))) = decode_slice(&bytes) else {
            panic!("not a CONNECT")
        };
        assert_eq!(c.client_id, "hark-x");
        assert_eq!(c.username, Some("u"));
        assert_eq!(c.password, Some(&b"p"[..]));
        let will = c.last_will.unwrap();
        assert!(will.retain);
        assert_eq!(will.message, b"offline");
        assert_eq!(will.qos, QoS::AtLeastOnce);
    }

    #[test]
    fn dup_is_only_set_on_qos1() {
        let b = publish("t", b"x", Some(1), false, true).unwrap();
        assert_eq!(b[0], 0x3a);
        let b = publish("t", b"x", None, false, true).unwrap();
        assert_eq!(b[0], 0x30);
    }
}
