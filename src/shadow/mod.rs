//! The shadow side: the ticket the data path holds for a shadowed request, the door that bounds it, the hand-off from the data path, one mirror task per shadowed request, the Socure client, the selection of applicants, the fleet's shared state, the shadow log.
//!
//! It never imports the data path (`proxy`, `ingress`, `upstream`): the data
//! path calls into it and never waits on it.

pub mod admission;
pub mod fleet;
pub mod handoff;
pub mod mirror;
pub mod selection;
pub mod side;
pub mod sink;
pub mod socure_client;
pub mod ticket;
