//! The HTTP/1.1 client both vendors' calls stand on: where a connection goes and how it is opened (TCP, TLS), the connections kept between requests, and the raw exchange on one.
//!
//! Below the data path and the shadow side alike: the forward lane's pool
//! to LexisNexis and the Socure client each build their own from it and
//! share no connection, no lock and no task.

pub mod connect;
pub mod idle;
pub mod wire;
