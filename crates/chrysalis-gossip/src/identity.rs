//! Who a gossip member is: node id, address and incarnation, and foca's
//! codec over our canonical encoding.

use std::fmt;
use std::sync::Arc;

use bytes::{Buf, BufMut};
use chrysalis_types::NodeId;
use chrysalis_types::codec::{Decode, DecodeError, Encode, Limits, Reader, Writer};
use foca::{Header, Member, Message, State};

/// The most bytes a [`PeerAddr`] may hold.
pub const MAX_ADDR_BYTES: usize = 128;

/// An opaque network address.
///
/// The core never interprets it: the node shell puts `"ip:port"` text (or
/// any bytes its transport understands) in it, the simulator a process
/// index. Two members never share an address at the same time. Cloning is
/// a reference-count bump: foca clones and compares addresses on every
/// membership update.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerAddr(Arc<[u8]>);

impl PeerAddr {
    /// An address of at most [`MAX_ADDR_BYTES`] bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, AddrTooLong> {
        let bytes = bytes.into();
        if bytes.len() > MAX_ADDR_BYTES {
            return Err(AddrTooLong { len: bytes.len() });
        }
        Ok(Self(bytes.into()))
    }

    /// An address made of a number (as the simulator's process index).
    pub fn from_index(index: u32) -> Self {
        Self(Arc::from(index.to_le_bytes().as_slice()))
    }

    /// The number [`PeerAddr::from_index`] put in, if this is such an address.
    pub fn to_index(&self) -> Option<u32> {
        let bytes: [u8; 4] = self.0.as_ref().try_into().ok()?;
        Some(u32::from_le_bytes(bytes))
    }

    /// The address's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for PeerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match std::str::from_utf8(&self.0) {
            Ok(text) if !text.is_empty() && text.chars().all(|c| c.is_ascii_graphic()) => {
                write!(f, "{text}")
            }
            _ => match self.to_index() {
                Some(i) => write!(f, "#{i}"),
                None => write!(f, "0x{}", hex_string(&self.0)),
            },
        }
    }
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A [`PeerAddr`] longer than [`MAX_ADDR_BYTES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("peer address of {len} bytes is longer than {MAX_ADDR_BYTES}")]
pub struct AddrTooLong {
    /// The refused length.
    pub len: usize,
}

impl Encode for PeerAddr {
    fn encode(&self, w: &mut Writer) {
        w.put_bytes(&self.0);
    }
}

impl Decode for PeerAddr {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let bytes = r.bytes()?;
        if bytes.len() > MAX_ADDR_BYTES {
            return Err(DecodeError::Oversized {
                what: "peer address",
                len: bytes.len() as u64,
                max: MAX_ADDR_BYTES as u64,
            });
        }
        Ok(Self(Arc::from(bytes)))
    }
}

/// A member's identity in SWIM: its node id, its address, and a bump that
/// lets a node that was declared down rejoin at once under a fresh identity
/// (foca's `Identity::renew`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MemberId {
    /// The node's Ed25519 public key.
    pub node: NodeId,
    /// Where it listens.
    pub addr: PeerAddr,
    /// Raised on every rejoin; the higher bump wins an address conflict.
    pub bump: u16,
}

chrysalis_types::impl_codec!(MemberId { node, addr, bump });

impl fmt::Debug for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{:?}/{}", self.node, self.addr, self.bump)
    }
}

impl foca::Identity for MemberId {
    type Addr = PeerAddr;

    fn renew(&self) -> Option<Self> {
        Some(Self {
            node: self.node,
            addr: self.addr.clone(),
            bump: self.bump.wrapping_add(1),
        })
    }

    fn addr(&self) -> PeerAddr {
        self.addr.clone()
    }

    fn win_addr_conflict(&self, adversary: &Self) -> bool {
        // Wrapping comparison so a long-lived node's bump can roll over.
        let ahead = self.bump.wrapping_sub(adversary.bump);
        ahead != 0 && ahead < u16::MAX / 2
    }
}

/// foca's wire codec, written with the canonical encoding of
/// `chrysalis-types` (no serde, no bincode).
#[derive(Debug, Clone, Copy, Default)]
pub struct SwimCodec;

/// Bounds on SWIM packets: foca's own packets are small.
const SWIM_LIMITS: Limits = Limits {
    max_message_bytes: 1 << 16,
    max_len: 1 << 12,
};

fn put_member(w: &mut Writer, m: &Member<MemberId>) {
    w.put(m.id());
    w.put(&m.incarnation());
    w.put_u8(match m.state() {
        State::Alive => 0,
        State::Suspect => 1,
        State::Down => 2,
    });
}

fn put_message(w: &mut Writer, m: &Message<MemberId>) {
    let (tag, target, probe): (u8, Option<&MemberId>, Option<u8>) = match m {
        Message::Ping(p) => (0, None, Some(*p)),
        Message::Ack(p) => (1, None, Some(*p)),
        Message::PingReq {
            target,
            probe_number,
        } => (2, Some(target), Some(*probe_number)),
        Message::IndirectPing {
            origin,
            probe_number,
        } => (3, Some(origin), Some(*probe_number)),
        Message::IndirectAck {
            target,
            probe_number,
        } => (4, Some(target), Some(*probe_number)),
        Message::ForwardedAck {
            origin,
            probe_number,
        } => (5, Some(origin), Some(*probe_number)),
        Message::Announce => (6, None, None),
        Message::Feed => (7, None, None),
        Message::Gossip => (8, None, None),
        Message::Broadcast => (9, None, None),
        Message::TurnUndead => (10, None, None),
    };
    w.put_u8(tag);
    if let Some(t) = target {
        w.put(t);
    }
    if let Some(p) = probe {
        w.put(&p);
    }
}

fn get_message(r: &mut Reader<'_>) -> Result<Message<MemberId>, DecodeError> {
    let tag = r.u8()?;
    Ok(match tag {
        0 => Message::Ping(r.get()?),
        1 => Message::Ack(r.get()?),
        2 => Message::PingReq {
            target: r.get()?,
            probe_number: r.get()?,
        },
        3 => Message::IndirectPing {
            origin: r.get()?,
            probe_number: r.get()?,
        },
        4 => Message::IndirectAck {
            target: r.get()?,
            probe_number: r.get()?,
        },
        5 => Message::ForwardedAck {
            origin: r.get()?,
            probe_number: r.get()?,
        },
        6 => Message::Announce,
        7 => Message::Feed,
        8 => Message::Gossip,
        9 => Message::Broadcast,
        10 => Message::TurnUndead,
        other => return Err(r.invalid_tag("swim message", other)),
    })
}

/// Decodes one value from the front of `buf` and advances it past exactly
/// the bytes read.
fn decode_front<T>(
    mut buf: impl Buf,
    read: impl FnOnce(&mut Reader<'_>) -> Result<T, DecodeError>,
) -> Result<T, DecodeError> {
    let chunk = buf.chunk();
    let mut r = Reader::with_limits(chunk, SWIM_LIMITS);
    let value = read(&mut r)?;
    let used = r.offset();
    buf.advance(used);
    Ok(value)
}

impl foca::Codec<MemberId> for SwimCodec {
    type Error = DecodeError;

    fn encode_header(
        &mut self,
        header: &Header<MemberId>,
        mut buf: impl BufMut,
    ) -> Result<(), DecodeError> {
        let mut w = Writer::new();
        w.put(&header.src);
        w.put(&header.src_incarnation);
        w.put(&header.dst);
        put_message(&mut w, &header.message);
        buf.put_slice(w.as_bytes());
        Ok(())
    }

    fn decode_header(&mut self, buf: impl Buf) -> Result<Header<MemberId>, DecodeError> {
        decode_front(buf, |r| {
            Ok(Header {
                src: r.get()?,
                src_incarnation: r.get()?,
                dst: r.get()?,
                message: get_message(r)?,
            })
        })
    }

    fn encode_member(
        &mut self,
        member: &Member<MemberId>,
        mut buf: impl BufMut,
    ) -> Result<(), DecodeError> {
        let mut w = Writer::new();
        put_member(&mut w, member);
        if buf.remaining_mut() < w.as_bytes().len() {
            // foca treats an encode error as "no room left in this packet".
            return Err(DecodeError::Oversized {
                what: "swim member",
                len: w.as_bytes().len() as u64,
                max: buf.remaining_mut() as u64,
            });
        }
        buf.put_slice(w.as_bytes());
        Ok(())
    }

    fn decode_member(&mut self, buf: impl Buf) -> Result<Member<MemberId>, DecodeError> {
        decode_front(buf, |r| {
            let id: MemberId = r.get()?;
            let incarnation: u16 = r.get()?;
            let state = match r.u8()? {
                0 => State::Alive,
                1 => State::Suspect,
                2 => State::Down,
                other => return Err(r.invalid_tag("swim member state", other)),
            };
            Ok(Member::new(id, incarnation, state))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use foca::{Codec, Identity};

    fn member(i: u8) -> MemberId {
        MemberId {
            node: NodeId::new([i; 32]),
            addr: PeerAddr::from_index(u32::from(i)),
            bump: 3,
        }
    }

    #[test]
    fn header_round_trips_for_every_message() {
        let messages = [
            Message::Ping(1),
            Message::Ack(2),
            Message::PingReq {
                target: member(3),
                probe_number: 4,
            },
            Message::IndirectPing {
                origin: member(3),
                probe_number: 5,
            },
            Message::IndirectAck {
                target: member(3),
                probe_number: 6,
            },
            Message::ForwardedAck {
                origin: member(3),
                probe_number: 7,
            },
            Message::Announce,
            Message::Feed,
            Message::Gossip,
            Message::Broadcast,
            Message::TurnUndead,
        ];
        for message in messages {
            let header = Header {
                src: member(1),
                src_incarnation: 9,
                dst: member(2),
                message,
            };
            let mut buf = Vec::new();
            SwimCodec.encode_header(&header, &mut buf).unwrap();
            buf.extend_from_slice(b"rest");
            let mut slice = buf.as_slice();
            let back = SwimCodec.decode_header(&mut slice).unwrap();
            assert_eq!(back, header);
            assert_eq!(slice, b"rest", "decoder must consume exactly the header");
        }
    }

    #[test]
    fn member_round_trips_and_bad_state_is_refused() {
        for state in [State::Alive, State::Suspect, State::Down] {
            let m = Member::new(member(5), 7, state);
            let mut buf = Vec::new();
            SwimCodec.encode_member(&m, &mut buf).unwrap();
            let mut slice = buf.as_slice();
            assert_eq!(SwimCodec.decode_member(&mut slice).unwrap(), m);
            assert!(slice.is_empty());
            let last = buf.len() - 1;
            buf[last] = 9;
            assert!(SwimCodec.decode_member(buf.as_slice()).is_err());
        }
    }

    #[test]
    fn renew_wins_the_address_conflict() {
        let a = member(1);
        let b = a.renew().unwrap();
        assert!(b.win_addr_conflict(&a));
        assert!(!a.win_addr_conflict(&b));
        let wrapped = MemberId {
            bump: u16::MAX,
            ..a.clone()
        };
        assert!(wrapped.renew().unwrap().win_addr_conflict(&wrapped));
    }

    #[test]
    fn addresses_are_bounded_and_printable() {
        assert!(PeerAddr::new(vec![0u8; MAX_ADDR_BYTES + 1]).is_err());
        let a = PeerAddr::new("10.0.0.1:7000").unwrap();
        assert_eq!(format!("{a:?}"), "10.0.0.1:7000");
        assert_eq!(format!("{:?}", PeerAddr::from_index(7)), "#7");
        let long = vec![1u8; MAX_ADDR_BYTES + 1];
        let mut w = Writer::new();
        w.put_bytes(&long);
        assert!(PeerAddr::from_body(w.as_bytes()).is_err());
    }
}
