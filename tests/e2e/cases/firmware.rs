//! Use case 5, a firmware campaign: an image uploaded through the API, assigned to a set of
//! devices, fetched by each from the CPE listener's `/files/`, reported with TransferComplete.

use serde_json::json;

use super::common::{register, wait_settled, wait_up};
use crate::support::{Env, SimConfig, wait, wait::secs};

pub async fn firmware_campaign(env: Env) {
    let (acs, api) = env.start();
    let serials: Vec<String> = (0..4).map(|i| format!("FW{i}")).collect();
    for s in &serials {
        register(&api, s, json!({})).await;
    }
    let sim = SimConfig {
        acs_url: &acs.acs_url(),
        serial_pattern: "FW{}",
        devices: 4,
        inform_interval: 300,
        extra: vec![],
    }
    .start();
    wait_up(&api, &serials, secs(60)).await;
    // their first sessions (which set their connection-request credentials) are over
    for s in &serials {
        sim.wait_sessions(s, 1).await;
    }
    let before = api.device("FW3").await["software_version"].clone();
    assert!(before.is_string(), "FW3 reported a version: {before}");

    // An image of a size no default would match, with varied bytes.
    let image: Vec<u8> = (0u32..70_001)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let r = api
        .post_multipart(
            "/firmware_images/",
            &[("version", "2.0.0")],
            ("file", "sim-fw-2.0.0.bin", &image),
        )
        .await;
    assert_eq!(r.status, 201, "upload: {}", r.text);
    let fw = r.json;
    assert_eq!(fw["size"], image.len());
    let file_name = fw["file_name"].as_str().expect("file_name").to_owned();
    let stem = file_name.trim_end_matches(".bin").to_owned();
    let id = fw["id"].as_i64().expect("image id");

    let campaign = &serials[..3];
    for s in campaign {
        let d = api.patch_device(s, json!({ "firmware_image": id })).await;
        assert_eq!(d["firmware_image"], id);
        assert_eq!(d["firmware_image_is_pending"], true);
        assert_eq!(d["pending_settings"], "firmware_upgrade");
    }
    for s in campaign {
        wait::until_true(&format!("{s} to download the image"), secs(60), || async {
            !sim.events_of(s, "downloaded").is_empty()
        })
        .await;
        let dl = &sim.events_of(s, "downloaded")[0];
        assert_eq!(dl["fault_code"], 0, "{s}: {dl}");
        assert_eq!(dl["bytes"], image.len(), "{s}: {dl}");
        // cpe-sim boots a version named after the uploaded file (acs's name without its
        // `<sha256>-` prefix, without extension).
        let expected_version = dl["software_version"]
            .as_str()
            .expect("a version")
            .to_owned();
        assert!(
            !expected_version.is_empty()
                && stem.split_once('-').map(|(_, name)| name) == Some(expected_version.as_str()),
            "{s}: version {expected_version:?} from {file_name}"
        );
        // Fetched from the CPE listener's file server.
        assert_eq!(
            dl["url"].as_str(),
            Some(format!("http://{}/files/firmware/{file_name}", acs.cwmp).as_str()),
            "{s}: {dl}"
        );
        wait::until_true(
            &format!("{s} to report 7 TRANSFER COMPLETE + M Download"),
            secs(60),
            || async { sim.informed(s, &["7 TRANSFER COMPLETE", "M Download"]) },
        )
        .await;
        let d = wait::until(
            &format!("{s}: software_version {expected_version} and the image no longer pending"),
            secs(30),
            || async {
                let d = api.device(s).await;
                (d["software_version"] == expected_version.as_str()
                    && d["firmware_image_is_pending"] == false)
                    .then_some(d)
            },
        )
        .await;
        assert_eq!(d["firmware_image"], id);
        wait_settled(&api, s, secs(30)).await;
    }
    // The device outside the campaign kept its firmware.
    assert!(sim.events_of("FW3", "downloaded").is_empty());
    assert_eq!(api.device("FW3").await["software_version"], before);
    drop(sim);
    drop(acs);
}
