//! `cpe-sim`: thousands of virtual TR-069 CPEs in one process, for CI, demos and load tests.
//!
//! * [`datamodel`]: the parameter tree of one CPE and the TR-069 semantics of operating on it
//!   (no I/O).
//! * [`cpe`]: one CPE's CWMP session as the CPE side runs it, and what it does afterwards
//!   (reboot, factory reset, downloads, uploads, deployment units); [`answer`] maps each ACS
//!   request onto the data model, the [`transfers`] queue and the [`software`] modules.
//! * [`transport`] and [`digest`]: the CPE's HTTP client (cookies, 401 challenges, quirks on
//!   the wire) and its own digest implementation.
//! * [`behaviour`]: vendor behaviour profiles, what deployed third-party agents do
//!   differently (PROTOCOL §16).
//! * [`run`], [`cr`], [`load`], [`baseline`]: the `run`, connection-request, `load` and
//!   `baseline` parts of the binary ([`server`]: the accept loop of its two servers);
//!   [`summary`]: what a `run` tells its user at the end.
//!
//! Depends on `cwmp` only among the project's crates: it is an independent check of the
//! server (DESIGN §2).

pub mod answer;
pub mod baseline;
pub mod behaviour;
pub mod cpe;
pub mod cr;
pub mod datamodel;
pub mod digest;
pub mod events;
pub mod fleet;
pub mod load;
pub mod run;
pub mod server;
pub mod settings;
pub mod software;
pub mod summary;
pub mod transfers;
pub mod transport;
