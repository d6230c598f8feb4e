//! `cpe-sim run --concurrency`: a fleet that is due all at once opens at most that many
//! sessions at a time, and every device still gets its session.

mod fake_acs;

use std::sync::Arc;
use std::time::Duration;

use cpe_sim::datamodel::Model;
use cpe_sim::fleet::{self, SerialPattern};
use cpe_sim::run::{LoopOptions, device_loop};
use cpe_sim::settings::Settings;
use fake_acs::FakeAcs;
use tokio::sync::{Semaphore, watch};

const DEVICES: usize = 12;
const LIMIT: usize = 3;

/// `DEVICES` devices, all due at once, each running one session against an ACS that holds
/// every Inform until the test answers it: how long sessions overlap is the test's choice, not
/// the machine's speed.
struct Wave {
    acs: FakeAcs,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Kept so that the devices' shutdown channel stays open.
    _stop: watch::Sender<bool>,
}

impl Wave {
    async fn start(sessions: Option<Arc<Semaphore>>) -> Wave {
        let acs = FakeAcs::start().await;
        acs.hold_informs();
        let mut s = Settings::new(&acs.url).unwrap();
        s.http_timeout = Duration::from_secs(10);
        let settings = Arc::new(s);
        let pattern = SerialPattern::parse("L{:04}").unwrap();
        let devices =
            fleet::build(Model::Tr181, DEVICES as u32, &pattern, &settings, None).unwrap();
        let (stop, shutdown) = watch::channel(false);
        let tasks = devices
            .into_iter()
            .map(|cpe| {
                let options = LoopOptions {
                    first_delay: Duration::ZERO,
                    once: true,
                    sessions: sessions.clone(),
                    stats: None,
                };
                tokio::spawn(device_loop(
                    cpe,
                    settings.clone(),
                    shutdown.clone(),
                    options,
                ))
            })
            .collect();
        Wave {
            acs,
            tasks,
            _stop: stop,
        }
    }

    /// Waits for every device to end its session; returns the most sessions (Informs waiting
    /// for their answer) that were open at once and the BOOTSTRAPs the ACS saw.
    async fn finish(self) -> (usize, usize) {
        for t in self.tasks {
            t.await.unwrap();
        }
        let bootstraps = self
            .acs
            .take()
            .iter()
            .filter_map(|seen| seen.envelope())
            .filter(|e| match &e.body {
                cwmp::Body::Inform(i) => i.event.iter().any(|ev| ev.event_code == "0 BOOTSTRAP"),
                _ => false,
            })
            .count();
        (self.acs.max_informs_at_once(), bootstraps)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_the_limit_of_sessions_are_open_at_once() {
    let gate = Arc::new(Semaphore::new(LIMIT));
    let wave = Wave::start(Some(gate.clone())).await;
    // Round by round: `LIMIT` sessions get in and are held there, the others wait for a
    // permit; answering the held ones lets the next `LIMIT` in.
    for round in 1..=DEVICES / LIMIT {
        wave.acs.informs_arrived(round * LIMIT).await;
        assert_eq!(
            gate.available_permits(),
            0,
            "round {round}: the sessions in flight hold every permit"
        );
        wave.acs.answer_informs(LIMIT);
    }
    let (at_once, bootstraps) = wave.finish().await;
    assert_eq!(bootstraps, DEVICES, "every device bootstraps");
    assert_eq!(
        at_once, LIMIT,
        "{at_once} sessions were open at once with a limit of {LIMIT}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_limit_every_due_device_opens_its_session_at_once() {
    let wave = Wave::start(None).await;
    // Nothing is answered before every device has its Inform in: they are all open at once.
    wave.acs.informs_arrived(DEVICES).await;
    wave.acs.answer_informs(DEVICES);
    let (at_once, bootstraps) = wave.finish().await;
    assert_eq!(bootstraps, DEVICES);
    assert_eq!(at_once, DEVICES, "sessions open at once without a limit");
}

// A paused clock: the sleep below ends only once every task is idle, so the device has
// reached its wait for a permit whatever the machine's speed.
#[tokio::test(start_paused = true)]
async fn a_device_waiting_for_its_turn_stops_on_shutdown() {
    let acs = FakeAcs::start().await;
    let settings = Arc::new(Settings::new(&acs.url).unwrap());
    let pattern = SerialPattern::parse("W{:04}").unwrap();
    let cpe = fleet::build(Model::Tr181, 1, &pattern, &settings, None)
        .unwrap()
        .remove(0);
    // Every permit is taken: the device can only wait.
    let gate = Arc::new(Semaphore::new(1));
    let _held = gate.clone().acquire_owned().await.unwrap();
    let (stop, shutdown) = watch::channel(false);
    let options = LoopOptions {
        first_delay: Duration::ZERO,
        once: false,
        sessions: Some(gate),
        stats: None,
    };
    let task = tokio::spawn(device_loop(cpe, settings, shutdown, options));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!task.is_finished(), "the device waits for a permit");
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the waiting device stops on shutdown")
        .unwrap();
    assert!(
        acs.take().is_empty(),
        "no session was opened without a permit"
    );
}
