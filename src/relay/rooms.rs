//! Who is in which room, and forwarding a frame to everyone else in it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;
use tokio_tungstenite::tungstenite::Bytes;

use super::RoomId;

/// One connection as its room sees it: where to put frames for it, and how to tell it that it fell
/// too far behind.
#[derive(Debug)]
pub(crate) struct Member {
    pub(crate) id: u64,
    pub(crate) frames: mpsc::Sender<Bytes>,
    /// Bytes sitting in `frames`; the connection subtracts what it writes out.
    pub(crate) queued: Arc<AtomicUsize>,
    pub(crate) too_slow: Option<oneshot::Sender<()>>,
}

/// The connections in one room.
#[derive(Debug, Default)]
pub(crate) struct Room {
    members: Mutex<Vec<Member>>,
    /// The task carrying this room's frames in from other relays, while the room has members.
    bridge: Mutex<Option<AbortHandle>>,
}

/// What happened to one forwarded frame.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Forwarded {
    /// Connections it was queued for.
    pub(crate) queued: usize,
    /// Connections closed because their queue was full.
    pub(crate) too_slow: usize,
}

impl Room {
    fn members(&self) -> MutexGuard<'_, Vec<Member>> {
        // Nothing panics while holding the lock; if something ever did, the member list is still
        // a valid list.
        self.members.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queue `frame` for every member but `from`. A member whose queue is full (by frames or by
    /// `max_queue_bytes`) is taken out of the room and told it was too slow; the others get the
    /// frame regardless.
    pub(crate) fn forward(&self, from: u64, frame: &Bytes, max_queue_bytes: usize) -> Forwarded {
        let mut out = Forwarded::default();
        let mut members = self.members();
        members.retain_mut(|m| {
            if m.id == from {
                return true;
            }
            let before = m.queued.fetch_add(frame.len(), Ordering::AcqRel);
            let fits = before + frame.len() <= max_queue_bytes;
            if fits && m.frames.try_send(frame.clone()).is_ok() {
                out.queued += 1;
                return true;
            }
            m.queued.fetch_sub(frame.len(), Ordering::AcqRel);
            if let Some(tell) = m.too_slow.take() {
                let _ = tell.send(());
            }
            out.too_slow += 1;
            false
        });
        out
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.members().len()
    }
}

/// All rooms with at least one connection.
#[derive(Debug, Default)]
pub(crate) struct Rooms {
    rooms: Mutex<HashMap<RoomId, Arc<Room>>>,
}

/// A room already holds the most connections allowed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct RoomFull;

impl Rooms {
    fn rooms(&self) -> MutexGuard<'_, HashMap<RoomId, Arc<Room>>> {
        self.rooms.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Put `member` in room `id` (creating it) unless it already has `max_per_room` connections.
    /// Returns the room and how many are in it now. `open` is called once when the room is
    /// created (under the rooms lock, so that it pairs exactly with the room's end); what it
    /// returns is aborted when the room is forgotten.
    pub(crate) fn join(
        &self,
        id: RoomId,
        member: Member,
        max_per_room: usize,
        open: impl FnOnce(&Arc<Room>) -> Option<AbortHandle>,
    ) -> Result<(Arc<Room>, usize), RoomFull> {
        let mut rooms = self.rooms();
        let room = rooms.entry(id).or_default().clone();
        let mut members = room.members();
        if members.len() >= max_per_room {
            let empty = members.is_empty();
            drop(members);
            if empty {
                rooms.remove(&id);
            }
            return Err(RoomFull);
        }
        if members.is_empty() {
            let bridge = open(&room);
            *room.bridge.lock().unwrap_or_else(PoisonError::into_inner) = bridge;
        }
        members.push(member);
        let n = members.len();
        drop(members);
        Ok((room, n))
    }

    /// Take connection `member` out of room `id` (if it is still there) and forget the room once
    /// it is empty. Returns how many are left in it.
    pub(crate) fn leave(&self, id: &RoomId, member: u64) -> usize {
        let mut rooms = self.rooms();
        let Some(room) = rooms.get(id) else {
            return 0;
        };
        let mut members = room.members();
        members.retain(|m| m.id != member);
        let left = members.len();
        drop(members);
        if left == 0 {
            if let Some(bridge) = room
                .bridge
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
            {
                bridge.abort();
            }
            rooms.remove(id);
        }
        left
    }

    /// Number of rooms with someone in them.
    pub(crate) fn count(&self) -> usize {
        self.rooms().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: u64, capacity: usize) -> (Member, mpsc::Receiver<Bytes>, oneshot::Receiver<()>) {
        let (tx, rx) = mpsc::channel(capacity);
        let (slow_tx, slow_rx) = oneshot::channel();
        (
            Member {
                id,
                frames: tx,
                queued: Arc::new(AtomicUsize::new(0)),
                too_slow: Some(slow_tx),
            },
            rx,
            slow_rx,
        )
    }

    const A: RoomId = RoomId([1; 32]);
    const B: RoomId = RoomId([2; 32]);

    #[test]
    fn frames_go_to_everyone_else_in_the_room_only() {
        let rooms = Rooms::default();
        let (m1, mut r1, _s1) = member(1, 8);
        let (m2, mut r2, _s2) = member(2, 8);
        let (m3, mut r3, _s3) = member(3, 8);
        let (room_a, _) = rooms.join(A, m1, 10, |_| None).unwrap();
        rooms.join(A, m2, 10, |_| None).unwrap();
        rooms.join(B, m3, 10, |_| None).unwrap();
        let f = Bytes::from_static(b"frame");
        assert_eq!(
            room_a.forward(1, &f, 1024),
            Forwarded {
                queued: 1,
                too_slow: 0
            }
        );
        assert_eq!(r2.try_recv().unwrap(), f);
        assert!(
            r1.try_recv().is_err(),
            "the sender does not get its own frame"
        );
        assert!(r3.try_recv().is_err(), "another room gets nothing");
    }

    #[test]
    fn a_full_room_refuses_and_an_empty_room_is_forgotten() {
        let rooms = Rooms::default();
        let (m1, _r1, _s1) = member(1, 8);
        let (m2, _r2, _s2) = member(2, 8);
        let (m3, _r3, _s3) = member(3, 8);
        rooms.join(A, m1, 2, |_| None).unwrap();
        rooms.join(A, m2, 2, |_| None).unwrap();
        assert_eq!(rooms.join(A, m3, 2, |_| None).err(), Some(RoomFull));
        assert_eq!(rooms.leave(&A, 1), 1);
        assert_eq!(rooms.count(), 1);
        assert_eq!(rooms.leave(&A, 2), 0);
        assert_eq!(rooms.count(), 0);
        assert_eq!(rooms.leave(&A, 2), 0, "leaving twice is harmless");
    }

    #[test]
    fn a_full_queue_takes_that_member_out_and_tells_it() {
        let rooms = Rooms::default();
        let (m1, _r1, _s1) = member(1, 8);
        let (m2, mut r2, mut slow2) = member(2, 1);
        let (m3, mut r3, mut slow3) = member(3, 8);
        let (room, _) = rooms.join(A, m1, 10, |_| None).unwrap();
        rooms.join(A, m2, 10, |_| None).unwrap();
        rooms.join(A, m3, 10, |_| None).unwrap();
        let f = Bytes::from_static(b"x");
        assert_eq!(room.forward(1, &f, 1024).queued, 2);
        let second = room.forward(1, &f, 1024);
        assert_eq!(
            second,
            Forwarded {
                queued: 1,
                too_slow: 1
            }
        );
        assert!(slow2.try_recv().is_ok(), "member 2 was told it is too slow");
        assert!(slow3.try_recv().is_err());
        assert_eq!(room.len(), 2);
        assert_eq!(r2.try_recv().unwrap(), f);
        assert!(r2.try_recv().is_err());
        assert_eq!(r3.try_recv().unwrap(), f);
        assert_eq!(r3.try_recv().unwrap(), f);
    }

    #[test]
    fn the_byte_bound_counts_too() {
        let rooms = Rooms::default();
        let (m1, _r1, _s1) = member(1, 8);
        let (m2, _r2, mut slow2) = member(2, 100);
        let (room, _) = rooms.join(A, m1, 10, |_| None).unwrap();
        rooms.join(A, m2, 10, |_| None).unwrap();
        let f = Bytes::from(vec![0u8; 400]);
        assert_eq!(room.forward(1, &f, 1000).queued, 1);
        assert_eq!(room.forward(1, &f, 1000).queued, 1);
        assert_eq!(room.forward(1, &f, 1000).too_slow, 1);
        assert!(slow2.try_recv().is_ok());
    }
}
