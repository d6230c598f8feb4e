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

const DEVICES: u32 = 12;

/// Runs `DEVICES` devices, all due at once, for one session each against an ACS that holds
/// every Inform for 100 ms; returns the most sessions it saw at once and the sessions done.
async fn bootstrap_wave(sessions: Option<Arc<Semaphore>>) -> (usize, usize) {
    let acs = FakeAcs::start().await;
    acs.delay_informs(Duration::from_millis(100));
    let mut s = Settings::new(&acs.url).unwrap();
    s.http_timeout = Duration::from_secs(10);
    let settings = Arc::new(s);
    let pattern = SerialPattern::parse("L{:04}").unwrap();
    let devices = fleet::build(Model::Tr181, DEVICES, &pattern, &settings, None).unwrap();
    let (_stop, shutdown) = watch::channel(false);
    let tasks: Vec<_> = devices
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
    for t in tasks {
        t.await.unwrap();
    }
    let bootstraps = acs
        .take()
        .iter()
        .filter_map(|seen| seen.envelope())
        .filter(|e| match &e.body {
            cwmp::Body::Inform(i) => i.event.iter().any(|ev| ev.event_code == "0 BOOTSTRAP"),
            _ => false,
        })
        .count();
    (acs.max_informs_at_once(), bootstraps)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_the_limit_of_sessions_are_open_at_once() {
    let (at_once, bootstraps) = bootstrap_wave(Some(Arc::new(Semaphore::new(3)))).await;
    assert_eq!(bootstraps, DEVICES as usize, "every device bootstraps");
    assert!(
        at_once == 3,
        "{at_once} sessions were open at once with a limit of 3"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_limit_every_due_device_opens_its_session_at_once() {
    let (at_once, bootstraps) = bootstrap_wave(None).await;
    assert_eq!(bootstraps, DEVICES as usize);
    // The check above can fail: unlimited, the 100 ms Informs all overlap.
    assert!(
        at_once > 3,
        "only {at_once} sessions were open at once without a limit"
    );
}

#[tokio::test]
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
