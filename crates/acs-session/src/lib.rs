//! The CWMP session engine (DESIGN §2, §3).
//!
//! - [`auth`]: CPE -> ACS authentication (none, Basic, Digest with stateless nonces), pure.
//! - [`connection_request`]: ACS -> CPE connection requests (HTTP GET with digest), async.
//! - [`cookie`]: lenient `Cookie` parsing and the session `Set-Cookie`, pure.
//! - [`file_url`]: signed per-download firmware URLs, pure.
//! - [`task`]: what can be queued for a device, shared by the REST API and the engine.
//! - [`Secret`] and [`Credentials`]: passwords that never print.
//!
//! - [`engine`]: the session state machine (Inform, CPE requests, task dispatch, completion by
//!   events) over a [`engine::SessionBackend`], and [`engine::wake::wake_device`].

pub mod auth;
pub mod connection_request;
pub mod cookie;
pub mod engine;
pub mod file_url;
mod secret;
pub mod task;

pub use secret::{Credentials, Secret};
