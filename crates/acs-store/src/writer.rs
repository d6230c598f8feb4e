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

use crate::error::{Result, StoreError};
use crate::inform::{Inform, InformOutcome};
use crate::session::{
    HeldConnection, SessionOp, SessionOpOutcome, SessionStart, SessionStartOutcome, SessionTurn,
};
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
            // no waiting for company: what queues while a batch is written is the next batch
            // (group commit), so a lone session never waits and a busy node still batches
            max_delay: Duration::ZERO,
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

/// The writer's background work; await [`WriterTask::join`] after dropping every handle to
/// know the queue is drained.
#[derive(Debug)]
pub struct WriterTask(WriterWork);

#[derive(Debug)]
enum WriterWork {
    /// SQLite: the thread drops the sender when its flushers are done (or if one panicked,
    /// having failed its waiting callers with WriterStopped).
    Thread(oneshot::Receiver<()>),
    /// PostgreSQL: flushers on the caller's runtime.
    Tasks(Vec<tokio::task::JoinHandle<()>>),
}

impl WriterTask {
    pub async fn join(self) {
        match self.0 {
            WriterWork::Thread(done) => {
                let _ = done.await;
            }
            WriterWork::Tasks(flushers) => {
                for flusher in flushers {
                    let _ = flusher.await;
                }
            }
        }
    }
}

impl InformWriter {
    /// Starts the writer: on SQLite on a thread of its own with a single-threaded tokio
    /// runtime, on PostgreSQL as tasks of the current runtime.
    ///
    /// On SQLite the thread writes each batch synchronously through its own connection
    /// (`sqlite_sync`): one uninterrupted run of SQLite calls, not a dozen hand-offs to sqlx's
    /// worker thread, each of which waits for the scheduler on a busy node. Its runtime only
    /// gathers the queue. PostgreSQL connections are sockets bound to the runtime that opened
    /// them, so its flushers stay on the caller's runtime.
    pub fn spawn(store: Store, config: WriterConfig) -> (InformWriter, WriterTask) {
        let (tx, rx) = mpsc::channel(config.queue.max(1));
        let rx = Arc::new(Mutex::new(rx));
        let flushers = config.flushers.max(1);
        if store.dialect() == Dialect::Postgres {
            let tasks = (0..flushers)
                .map(|_| tokio::spawn(run(store.clone(), config, rx.clone())))
                .collect();
            return (InformWriter { tx }, WriterTask(WriterWork::Tasks(tasks)));
        }
        let (done_tx, done_rx) = oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        match runtime {
            Ok(runtime) => {
                let spawned = std::thread::Builder::new()
                    .name("acs-store-writer".into())
                    .spawn(move || {
                        runtime.block_on(async move {
                            let tasks: Vec<_> = (0..flushers)
                                .map(|_| tokio::spawn(run(store.clone(), config, rx.clone())))
                                .collect();
                            for task in tasks {
                                let _ = task.await;
                            }
                        });
                        drop(done_tx);
                    });
                if let Err(e) = spawned {
                    tracing::error!(error = %e, "cannot start the store writer thread");
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot start the store writer runtime"),
        }
        (InformWriter { tx }, WriterTask(WriterWork::Thread(done_rx)))
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
    // the flusher's own connection, kept between batches (see `HeldConnection`)
    let mut conn: Option<HeldConnection> = None;
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
        write(&store, &mut conn, &mut batch).await;
    }
}

/// Applies `ops` in one transaction: on SQLite synchronously on this thread, through the
/// writer's own connection; on PostgreSQL on the flusher's kept connection.
async fn apply(
    store: &Store,
    conn: &mut Option<HeldConnection>,
    ops: &[&SessionOp],
) -> Result<Vec<SessionOpOutcome>> {
    if let Some(written) = store.sqlite_session_ops(ops) {
        return written;
    }
    if conn.is_none() {
        *conn = store.hold_connection().await.ok().flatten();
    }
    let written = match conn.as_mut() {
        Some(held) => held.session_ops(ops).await,
        None => store.session_ops(ops).await,
    };
    if written.is_err() {
        // the connection may be what failed: take a fresh one next time
        *conn = None;
    }
    written
}

async fn write(store: &Store, conn: &mut Option<HeldConnection>, batch: &mut Vec<Job>) {
    let ops: Vec<&SessionOp> = batch.iter().map(|(op, _)| op).collect();
    let started = std::time::Instant::now();
    let written = apply(store, conn, &ops).await;
    tracing::trace!(
        size = ops.len(),
        micros = started.elapsed().as_micros() as u64,
        "session write batch"
    );
    match written {
        Ok(outcomes) => {
            for ((_, reply), outcome) in batch.drain(..).zip(outcomes) {
                let _ = reply.send(Ok(outcome));
            }
        }
        Err(err) => {
            tracing::warn!(size = batch.len(), error = %err, "session write batch failed; retrying one by one");
            for (op, reply) in batch.drain(..) {
                let outcome = apply(store, conn, &[&op])
                    .await
                    .map(|mut o| o.pop().expect("one outcome per op"));
                let _ = reply.send(outcome);
            }
        }
    }
}
