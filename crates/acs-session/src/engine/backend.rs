//! What the session engine needs from the outside world, as one async trait: the store on
//! a real node ([`StoreBackend`]), an in-memory fake in the engine's tests.
//!
//! Every call on the session path runs under a timeout in [`StoreBackend`], so a stuck
//! database answers the CPE with a retry fault instead of wedging the session.

use std::future::Future;
use std::time::Duration;

use acs_store::{
    CrProvision, Device, DevicePassword, DeviceType, FirmwareImage, Inform, InformOutcome,
    InformWriter, NewTask, ParameterValue, SessionStart, SessionStartOutcome, SessionTurn, Store,
    Task, TaskOutcome,
};
use chrono::{DateTime, Utc};

/// A store call failed or took too long; the message never carries a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("store: {0}")]
pub struct BackendError(pub String);

pub type BackendResult<T> = Result<T, BackendError>;

/// The store operations of a CWMP session.
pub trait SessionBackend: Send + Sync + 'static {
    fn inform(&self, inform: Inform) -> impl Future<Output = BackendResult<InformOutcome>> + Send;
    fn acquire_lease(
        &self,
        serial: &str,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> impl Future<Output = BackendResult<bool>> + Send;
    fn release_lease(
        &self,
        serial: &str,
        holder: &str,
    ) -> impl Future<Output = BackendResult<()>> + Send;
    /// When the session lease on `serial` runs out, if anyone holds it (the `Retry-After` of
    /// an Inform refused while another node's session runs). `None` where unknown.
    fn lease_expiry(
        &self,
        serial: &str,
    ) -> impl Future<Output = BackendResult<Option<DateTime<Utc>>>> + Send {
        let _ = serial;
        async { Ok(None) }
    }
    /// A session's start: the lease, then the Inform (for a BOOTSTRAP its parameters replace
    /// the stored ones). `Busy` writes nothing; a refused device's lease is given back.
    /// The store does it in one batched transaction; this default spells out its meaning.
    fn start_session(
        &self,
        start: SessionStart,
    ) -> impl Future<Output = BackendResult<SessionStartOutcome>> + Send {
        async move {
            let serial = start.inform.serial_number.clone();
            let now = start.inform.now;
            if !self
                .acquire_lease(&serial, &start.holder, now, start.lease_ttl)
                .await?
            {
                return Ok(SessionStartOutcome::Busy);
            }
            let params = start
                .replace_parameters
                .then(|| start.inform.parameters.clone());
            let outcome = match self.inform(start.inform).await {
                Ok(o) => o,
                Err(e) => {
                    let _ = self.release_lease(&serial, &start.holder).await;
                    return Err(e);
                }
            };
            match outcome {
                InformOutcome::Accepted { device_id, .. } => {
                    if let Some(params) = params {
                        self.clear_parameters(device_id).await?;
                        self.store_parameters(device_id, params, now).await?;
                    }
                }
                InformOutcome::Inactive { .. }
                | InformOutcome::Unknown
                | InformOutcome::IdentityConflict { .. } => {
                    self.release_lease(&serial, &start.holder).await?;
                }
            }
            Ok(SessionStartOutcome::Started(outcome))
        }
    }
    /// A session's turn: the next due task, claimed while the session holds the lease (which
    /// it renews), or `None`: nothing due, the lease is given back and the session is over.
    fn session_turn(
        &self,
        turn: SessionTurn,
    ) -> impl Future<Output = BackendResult<Option<Task>>> + Send {
        async move {
            let task = self
                .claim_next_task(turn.device_id, &turn.holder, turn.now, turn.claim_ttl)
                .await?;
            match task {
                Some(task) => {
                    self.acquire_lease(&turn.serial_number, &turn.holder, turn.now, turn.lease_ttl)
                        .await?;
                    Ok(Some(task))
                }
                None => {
                    self.release_lease(&turn.serial_number, &turn.holder)
                        .await?;
                    Ok(None)
                }
            }
        }
    }
    fn claim_next_task(
        &self,
        device_id: i64,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> impl Future<Output = BackendResult<Option<Task>>> + Send;
    fn settle_task(
        &self,
        task_id: i64,
        holder: &str,
        outcome: TaskOutcome,
        now: DateTime<Utc>,
    ) -> impl Future<Output = BackendResult<()>> + Send;
    /// Settles the device's in-flight task with this CommandKey/ParameterKey, if any.
    fn settle_by_command_key(
        &self,
        device_id: i64,
        command_key: &str,
        outcome: TaskOutcome,
        now: DateTime<Utc>,
    ) -> impl Future<Output = BackendResult<Option<Task>>> + Send;
    /// The device's most recent task of `kind` that ended done, with its `result`.
    fn last_done_task(
        &self,
        device_id: i64,
        kind: &str,
    ) -> impl Future<Output = BackendResult<Option<Task>>> + Send;
    /// The device's open (pending or in-flight) tasks, oldest first.
    fn open_tasks(&self, device_id: i64) -> impl Future<Output = BackendResult<Vec<Task>>> + Send;
    fn device(&self, device_id: i64) -> impl Future<Output = BackendResult<Option<Device>>> + Send;
    fn device_password(
        &self,
        device_id: i64,
    ) -> impl Future<Output = BackendResult<Option<DevicePassword>>> + Send;
    fn device_type(
        &self,
        type_id: i64,
    ) -> impl Future<Output = BackendResult<Option<DeviceType>>> + Send;
    fn firmware_image(
        &self,
        id: i64,
    ) -> impl Future<Output = BackendResult<Option<FirmwareImage>>> + Send;
    fn store_parameters(
        &self,
        device_id: i64,
        params: Vec<ParameterValue>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = BackendResult<()>> + Send;
    /// Drops every stored parameter of the device (a factory reset forgot them).
    fn clear_parameters(&self, device_id: i64) -> impl Future<Output = BackendResult<()>> + Send;
    /// A device that bootstrapped or has no connection-request username: records `generated`
    /// as its pair when it has none, and queues `task` (sending the pair) unless one of its
    /// kind is open. See [`Store::provision_cr_credentials`].
    fn provision_cr_credentials(
        &self,
        device_id: i64,
        generated: Option<(String, DevicePassword)>,
        task: NewTask,
        now: DateTime<Utc>,
    ) -> impl Future<Output = BackendResult<CrProvision>> + Send;
    /// The connection-request pair about to go out in the SetParameterValues `command_key`.
    fn offer_cr_credentials(
        &self,
        device_id: i64,
        command_key: &str,
        username: &str,
        password: Option<DevicePassword>,
    ) -> impl Future<Output = BackendResult<()>> + Send;
    /// The CPE applied the SetParameterValues `command_key`: its pair is the one connection
    /// requests use from now on.
    fn accept_cr_credentials(
        &self,
        device_id: i64,
        command_key: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = BackendResult<bool>> + Send;
}

/// The real backend: the store, with a session's lease, Inform and turns going through the
/// batched writer (one transaction for many sessions' steps).
#[derive(Clone, Debug)]
pub struct StoreBackend {
    store: Store,
    writer: InformWriter,
    timeout: Duration,
}

impl StoreBackend {
    /// `timeout` bounds every call (the session must answer a CPE within its own timeout).
    pub fn new(store: Store, writer: InformWriter, timeout: Duration) -> Self {
        StoreBackend {
            store,
            writer,
            timeout,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    async fn run<T>(
        &self,
        what: &str,
        fut: impl Future<Output = acs_store::Result<T>>,
    ) -> BackendResult<T> {
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(BackendError(format!("{what}: {e}"))),
            Err(_) => Err(BackendError(format!(
                "{what}: no answer within {} ms",
                self.timeout.as_millis()
            ))),
        }
    }
}

impl SessionBackend for StoreBackend {
    async fn inform(&self, inform: Inform) -> BackendResult<InformOutcome> {
        self.run("inform", self.writer.submit(inform)).await
    }

    async fn acquire_lease(
        &self,
        serial: &str,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> BackendResult<bool> {
        self.run(
            "session lease",
            self.store.acquire_session_lease(serial, holder, now, ttl),
        )
        .await
    }

    async fn release_lease(&self, serial: &str, holder: &str) -> BackendResult<()> {
        self.run(
            "session lease release",
            self.writer
                .release_lease(serial.to_owned(), holder.to_owned()),
        )
        .await
    }

    async fn lease_expiry(&self, serial: &str) -> BackendResult<Option<DateTime<Utc>>> {
        self.run(
            "session lease expiry",
            self.store.session_lease_expiry(serial),
        )
        .await
    }

    async fn start_session(&self, start: SessionStart) -> BackendResult<SessionStartOutcome> {
        self.run("session start", self.writer.start_session(start))
            .await
    }

    async fn session_turn(&self, turn: SessionTurn) -> BackendResult<Option<Task>> {
        self.run("session turn", self.writer.session_turn(turn))
            .await
    }

    async fn claim_next_task(
        &self,
        device_id: i64,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> BackendResult<Option<Task>> {
        self.run(
            "task claim",
            self.store.claim_next_task(device_id, holder, now, ttl),
        )
        .await
    }

    async fn settle_task(
        &self,
        task_id: i64,
        holder: &str,
        outcome: TaskOutcome,
        now: DateTime<Utc>,
    ) -> BackendResult<()> {
        match tokio::time::timeout(
            self.timeout,
            self.store.settle_task(task_id, holder, &outcome, now),
        )
        .await
        {
            Ok(Ok(_)) => Ok(()),
            // the claim expired and another session took the task: its result wins
            Ok(Err(acs_store::StoreError::NotFound { .. })) => Ok(()),
            Ok(Err(e)) => Err(BackendError(format!("settle task {task_id}: {e}"))),
            Err(_) => Err(BackendError(format!("settle task {task_id}: timed out"))),
        }
    }

    async fn settle_by_command_key(
        &self,
        device_id: i64,
        command_key: &str,
        outcome: TaskOutcome,
        now: DateTime<Utc>,
    ) -> BackendResult<Option<Task>> {
        self.run(
            "settle by command key",
            self.store
                .settle_task_by_command_key(device_id, command_key, &outcome, now),
        )
        .await
    }

    async fn last_done_task(&self, device_id: i64, kind: &str) -> BackendResult<Option<Task>> {
        self.run("last done task", self.store.last_done_task(device_id, kind))
            .await
    }

    async fn open_tasks(&self, device_id: i64) -> BackendResult<Vec<Task>> {
        self.run("open tasks", self.store.list_tasks(device_id, true))
            .await
    }

    async fn device(&self, device_id: i64) -> BackendResult<Option<Device>> {
        self.run("device", self.store.device_by_id(device_id)).await
    }

    async fn device_password(&self, device_id: i64) -> BackendResult<Option<DevicePassword>> {
        self.run("device password", self.store.device_password(device_id))
            .await
    }

    async fn device_type(&self, type_id: i64) -> BackendResult<Option<DeviceType>> {
        self.run("device type", self.store.device_type(type_id))
            .await
    }

    async fn firmware_image(&self, id: i64) -> BackendResult<Option<FirmwareImage>> {
        self.run("firmware image", self.store.firmware_image(id))
            .await
    }

    async fn store_parameters(
        &self,
        device_id: i64,
        params: Vec<ParameterValue>,
        now: DateTime<Utc>,
    ) -> BackendResult<()> {
        self.run(
            "parameters",
            self.store.upsert_parameters(device_id, &params, now),
        )
        .await
    }

    async fn clear_parameters(&self, device_id: i64) -> BackendResult<()> {
        self.run("parameters", self.store.delete_parameters(device_id, ""))
            .await
            .map(|_| ())
    }

    async fn provision_cr_credentials(
        &self,
        device_id: i64,
        generated: Option<(String, DevicePassword)>,
        task: NewTask,
        now: DateTime<Utc>,
    ) -> BackendResult<CrProvision> {
        let generated = generated.as_ref().map(|(u, p)| (u.as_str(), p));
        self.run(
            "connection-request credentials",
            self.store
                .provision_cr_credentials(device_id, generated, &task, now),
        )
        .await
    }

    async fn offer_cr_credentials(
        &self,
        device_id: i64,
        command_key: &str,
        username: &str,
        password: Option<DevicePassword>,
    ) -> BackendResult<()> {
        self.run(
            "connection-request credentials offer",
            self.store
                .offer_cr_credentials(device_id, command_key, username, password.as_ref()),
        )
        .await
    }

    async fn accept_cr_credentials(
        &self,
        device_id: i64,
        command_key: &str,
        now: DateTime<Utc>,
    ) -> BackendResult<bool> {
        self.run(
            "connection-request credentials accepted",
            self.store
                .accept_cr_credentials(device_id, command_key, now),
        )
        .await
    }
}
