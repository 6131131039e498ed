//! Archive clients: the polite HTTP layer (`http`), canonical request keys
//! (`key`), and the service clients built on them (Mashup, TAP, downloads).
//!
//! Services depend on `table` (results are tables) and nothing above `exec`.

pub mod auth;
pub mod cache;
pub mod caom;
pub mod download;
pub mod fetch;
pub mod http;
pub mod key;
pub mod mashup;
pub mod missions;
pub mod tap;
