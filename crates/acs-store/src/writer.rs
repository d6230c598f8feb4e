//! The batched session writer: groups concurrent sessions' writes into one transaction.
//!
//! SQLite has one writer; a transaction per write caps throughput at the commit rate, and
//! pooled connections racing for the write lock sleep in SQLite's busy handler. The writer
//! task takes whatever is queued (up to `max_batch`, waiting at most `max_delay` for more):
//! Inform upserts, and the session steps of [`crate::SessionOp`] (start = lease + Inform,
//! turn = claim the next task or give the lease back, release). It writes them in one
//! transaction, in submission order, and answers every caller with its own outcome. If the
//! batch transaction fails, each step is retried alone, so one bad Inform never fails its
//! neighbours. Nothing accepted by a submit is dropped: when the last handle goes away the
//! task drains the queue before it ends.
//!
//! PostgreSQL takes concurrent writers: there several flushers each gather and write their
//! own batch, so one batch is being written while the next is gathered. Two batches that
//! touch one device in opposite order may deadlock; PostgreSQL aborts one, and its steps
//! are retried one by one like any failed batch.

use std::time::Duration;

use std::sync::Arc;

use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::error::{Result, StoreError};
use crate::inform::{Inform, InformOutcome};
use crate::session::{SessionOp, SessionOpOutcome, SessionStart, SessionStartOutcome, SessionTurn};
use crate::task::Task;
use crate::{Dialect, Store};

#[derive(Clone, Copy, Debug)]
pub struct WriterConfig {
    /// Most steps per transaction.
    pub max_batch: usize,
    /// How long the first step of a batch waits for company. Zero: write what is queued.
    pub max_delay: Duration,
    /// Queue capacity; `submit` waits (backpressure) when it is full.
    pub queue: usize,
    /// Batches written concurrently. 1 for SQLite (one writer anyway).
    pub flushers: usize,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            max_batch: 256,
            max_delay: Duration::from_millis(2),
            queue: 4096,
            flushers: 1,
        }
    }
}

impl WriterConfig {
    /// The defaults, with concurrent flushers where the backend has concurrent writers.
    pub fn for_dialect(dialect: Dialect) -> Self {
        let flushers = match dialect {
            Dialect::Sqlite => 1,
            Dialect::Postgres => 4,
        };
        WriterConfig {
            flushers,
            ..WriterConfig::default()
        }
    }
}

type Job = (SessionOp, oneshot::Sender<Result<SessionOpOutcome>>);

/// A handle for submitting Informs and session steps. Clone it freely; the writer ends when all are dropped.
#[derive(Clone, Debug)]
pub struct InformWriter {
    tx: mpsc::Sender<Job>,
}

/// The writer's background task; await [`WriterTask::join`] after dropping every handle to
/// know the queue is drained.
#[derive(Debug)]
pub struct WriterTask(Vec<JoinHandle<()>>);

impl WriterTask {
    pub async fn join(self) {
        for flusher in self.0 {
            // a panic in a flusher already failed its waiting callers with WriterStopped
            let _ = flusher.await;
        }
    }
}

impl InformWriter {
    /// Starts the writer on the current tokio runtime.
    pub fn spawn(store: Store, config: WriterConfig) -> (InformWriter, WriterTask) {
        let (tx, rx) = mpsc::channel(config.queue.max(1));
        let rx = Arc::new(Mutex::new(rx));
        let flushers = (0..config.flushers.max(1))
            .map(|_| tokio::spawn(run(store.clone(), config, rx.clone())))
            .collect();
        (InformWriter { tx }, WriterTask(flushers))
    }

    /// Queues one Inform and waits for its own outcome.
    pub async fn submit(&self, inform: Inform) -> Result<InformOutcome> {
        match self.op(SessionOp::Inform(inform)).await? {
            SessionOpOutcome::Inform(outcome) => Ok(outcome),
            other => unreachable!("an inform answered {other:?}"),
        }
    }

    /// Queues a session start (lease, then Inform): [`Store::start_session`], batched.
    pub async fn start_session(&self, start: SessionStart) -> Result<SessionStartOutcome> {
        match self.op(SessionOp::Start(start)).await? {
            SessionOpOutcome::Start(outcome) => Ok(outcome),
            other => unreachable!("a start answered {other:?}"),
        }
    }

    /// Queues a session turn (claim the next task, or end): [`Store::session_turn`], batched.
    pub async fn session_turn(&self, turn: SessionTurn) -> Result<Option<Task>> {
        match self.op(SessionOp::Turn(turn)).await? {
            SessionOpOutcome::Turn(task) => Ok(task),
            other => unreachable!("a turn answered {other:?}"),
        }
    }

    /// Queues giving the session lease of `serial_number` up, if `holder` still has it.
    pub async fn release_lease(&self, serial_number: String, holder: String) -> Result<()> {
        self.op(SessionOp::Release {
            serial_number,
            holder,
        })
        .await
        .map(|_| ())
    }

    async fn op(&self, op: SessionOp) -> Result<SessionOpOutcome> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((op, reply))
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        answer.await.map_err(|_| StoreError::WriterStopped)?
    }
}

async fn run(store: Store, config: WriterConfig, rx: Arc<Mutex<mpsc::Receiver<Job>>>) {
    let max_batch = config.max_batch.max(1);
    let mut batch: Vec<Job> = Vec::with_capacity(max_batch);
    loop {
        // gather under the lock, write after releasing it
        let mut rx = rx.lock().await;
        let Some(first) = rx.recv().await else { break };
        batch.push(first);
        let deadline = tokio::time::Instant::now() + config.max_delay;
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(mpsc::error::TryRecvError::Disconnected) => break,
                Err(mpsc::error::TryRecvError::Empty) => {
                    if config.max_delay.is_zero() {
                        break;
                    }
                    match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(Some(job)) => batch.push(job),
                        Ok(None) | Err(_) => break,
                    }
                }
            }
        }
        drop(rx);
        write(&store, &mut batch).await;
    }
}

async fn write(store: &Store, batch: &mut Vec<Job>) {
    let ops: Vec<&SessionOp> = batch.iter().map(|(op, _)| op).collect();
    match store.session_ops(&ops).await {
        Ok(outcomes) => {
            for ((_, reply), outcome) in batch.drain(..).zip(outcomes) {
                let _ = reply.send(Ok(outcome));
            }
        }
        Err(err) => {
            tracing::warn!(size = batch.len(), error = %err, "session write batch failed; retrying one by one");
            for (op, reply) in batch.drain(..) {
                let outcome = store
                    .session_ops(&[&op])
                    .await
                    .map(|mut o| o.pop().expect("one outcome per op"));
                let _ = reply.send(outcome);
            }
        }
    }
}
