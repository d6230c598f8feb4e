//! The CWMP session engine (DESIGN §2, §3): so far the HTTP edges of a CWMP session.
//!
//! - [`auth`]: CPE -> ACS authentication (none, Basic, Digest with stateless nonces), pure.
//! - [`connection_request`]: ACS -> CPE connection requests (HTTP GET with digest), async.
//! - [`cookie`]: lenient `Cookie` parsing and the session `Set-Cookie`, pure.
//! - [`task`]: what can be queued for a device, shared by the REST API and the engine.
//! - [`Secret`] and [`Credentials`]: passwords that never print.
//!
//! The session state machine (Inform handling, task dispatch) comes later and builds on these.

pub mod auth;
pub mod connection_request;
mod constant_time;
pub mod cookie;
mod secret;
pub mod task;

pub use secret::{Credentials, Secret};
