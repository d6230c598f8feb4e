//! The CWMP session state machine (DESIGN §3, PROTOCOL §3).
//!
//! [`Engine::handle`] takes one decoded message of a session, the session's state and `now`,
//! and returns what to answer. All I/O goes through [`SessionBackend`], so the whole flow is
//! tested by feeding messages to an in-memory backend (`tests/engine.rs`); the HTTP layer in
//! the `acs` binary only frames bytes, authenticates and finds the [`Session`].
//!
//! Rules kept here:
//! - an Inform always starts a new session (whatever cookie came with it): the previous
//!   one on that connection/cookie is ended first, its in-flight task returned to pending
//!   and counted as unanswered (after [`acs_store::MAX_UNANSWERED`] such ends it fails);
//! - a session holds the device's store lease; a second concurrent session is refused;
//! - one ACS request outstanding at a time, and its result is in the store before the next
//!   RPC goes out;
//! - an RPC the CPE cannot know (newer than its CWMP version, or missing from the method list
//!   it reported to GetRPCMethods) is never sent: its task fails for good with 9000;
//! - the CPE's own requests are answered wherever they arrive, also between an ACS request
//!   and its response, which stays outstanding; `HoldRequests` is never set (the 204 that
//!   ends a session could not lift it: see ARCHITECTURE.md);
//! - every envelope uses the wire format of the device's type (profile `xml_declaration`,
//!   `boolean_style`) from the InformResponse on;
//! - completions by what the CPE reports later, one table ([`completion::COMPLETION_RULES`]):
//!   a Reboot by `1 BOOT` or `M Reboot`, a FactoryReset by `0 BOOTSTRAP` or `1 BOOT`, a
//!   transfer by its TransferComplete (an empty CommandKey names the one transfer awaited;
//!   a Download/Upload waits its DelaySeconds on top, a ScheduleDownload past the end of
//!   its last time window), ChangeDUState by DUStateChangeComplete (its results kept on the
//!   task; a failed operation fails it for good), `M ScheduleInform`, and a ParameterKey
//!   equal to a sent SPV's key (the session broke after the CPE applied it). A task the
//!   CPE accepted is never sent again: without its report it ends `unconfirmed`;
//! - transfer faults by one table ([`faults::TRANSFER_FAULTS`]): permanent for the same
//!   file fails at once, the others retry with backoff, some only until they repeat;
//! - a CancelTransfer the CPE accepted ends the cancelled transfer's task (`cancelled`,
//!   "cancelled by ..."); Get(All)QueuedTransfers lists become the task's result.

pub mod backend;
pub mod completion;
pub mod dispatch;
pub mod faults;
pub mod metrics;
mod session;
pub mod wake;

pub use backend::{BackendError, BackendResult, SessionBackend, StoreBackend};
pub use metrics::Metrics;
pub use session::{DebugTrace, Engine, EngineConfig, Reply, RequestContext, Session};
