//! Whether a fault the CPE reports is worth sending the task again (PROTOCOL §5, TR-069
//! Annex A fault table). A fault the CPE will answer the same way next time fails the task at
//! once; sending it again would only repeat the fault (and, for a transfer, the download).

/// What a fault does to its task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// The CPE will answer the same: failed for good at once.
    Never,
    /// May pass (the network, a busy CPE): sent again with backoff while attempts last.
    Backoff,
    /// Cannot tell: sent again with backoff, and failed for good once the CPE reports the
    /// same code twice in a row (then it is the file or the CPE, not chance).
    UntilRepeated,
}

/// Transfer faults, for the same file and URL: a TransferComplete's `FaultStruct`, or a
/// fault answering Download, Upload or ScheduleDownload. Codes not listed (vendor codes
/// 9800-9899 among them) are [`Retry::UntilRepeated`].
pub const TRANSFER_FAULTS: &[(u32, Retry)] = &[
    // request denied: the CPE refuses this transfer; one agent reports it after every
    // intact download (PROTOCOL §16.8), identically on every retry
    (9001, Retry::Never),
    // internal error: anything
    (9002, Retry::UntilRepeated),
    // invalid arguments: the same request is invalid again
    (9003, Retry::Never),
    // resources exceeded (no room for the image): may be freed, mostly is not
    (9004, Retry::UntilRepeated),
    // download failure, the generic code: a dropped connection, or an image the CPE
    // rejects every time (one agent without a vendor header, PROTOCOL §16.8)
    (9010, Retry::UntilRepeated),
    // upload failure, the generic code
    (9011, Retry::UntilRepeated),
    // the file server refused the credentials: the same ones are refused again
    (9012, Retry::Never),
    // unsupported transfer protocol: the URL's scheme stays unsupported
    (9013, Retry::Never),
    // could not join the multicast group: the network
    (9014, Retry::Backoff),
    // could not contact the file server: the network or the server, which may come back
    (9015, Retry::Backoff),
    // could not access the file: missing or forbidden at that URL
    (9016, Retry::Never),
    // could not complete the download: interrupted, timed out
    (9017, Retry::Backoff),
    // file corrupted (size or checksum wrong): the same file is corrupt again
    (9018, Retry::Never),
    // file authentication failure: its signature does not change
    (9019, Retry::Never),
    // the time windows passed: sending it again would move windows the operator chose
    (9020, Retry::Never),
];

/// The RPCs whose faults [`TRANSFER_FAULTS`] rules.
const TRANSFER_METHODS: [&str; 3] = ["Download", "Upload", "ScheduleDownload"];

/// How a fault answering `method` (or reported by its TransferComplete) settles the task.
pub fn retry_of(method: &str, code: i64) -> Retry {
    let code = u32::try_from(code).unwrap_or(0);
    if TRANSFER_METHODS.contains(&method) {
        return TRANSFER_FAULTS
            .iter()
            .find(|(c, _)| *c == code)
            .map_or(Retry::UntilRepeated, |(_, r)| *r);
    }
    match code {
        // a method the CPE lacks, a name, type or value it refuses, a transfer it cannot
        // cancel or a deployment-unit request it rejects will not work next time
        9000 | 9003 | 9005..=9008 | 9021..=9026 | 9028..=9032 => Retry::Never,
        _ => Retry::Backoff,
    }
}

/// Whether the task goes out again after fault `code`, the task having last faulted with
/// `previous` (its stored fault code).
pub fn retryable(method: &str, code: i64, previous: Option<i64>) -> bool {
    match retry_of(method, code) {
        Retry::Never => false,
        Retry::Backoff => true,
        Retry::UntilRepeated => previous != Some(code),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfer_faults_the_cpe_repeats_fail_and_the_others_retry_a_bounded_number_of_times() {
        for code in [9001, 9003, 9012, 9013, 9016, 9018, 9019, 9020] {
            assert!(!retryable("Download", code, None), "{code}");
        }
        for code in [9014, 9015, 9017] {
            assert!(retryable("Download", code, Some(code)), "{code}");
        }
        for code in [9002, 9004, 9010, 9011, 9850, 12345] {
            assert!(retryable("Upload", code, None), "{code}");
            assert!(retryable("Upload", code, Some(9015)), "{code}");
            assert!(!retryable("Upload", code, Some(code)), "{code} twice");
        }
    }

    #[test]
    fn other_rpcs_keep_their_rule() {
        assert!(!retryable("SetParameterValues", 9007, None));
        assert!(retryable("SetParameterValues", 9002, Some(9002)));
        assert!(!retryable("CancelTransfer", 9021, None));
        // a Reboot refused as busy goes again
        assert!(retryable("Reboot", 9001, None));
    }

    #[test]
    fn every_listed_code_is_a_transfer_code_of_the_tables() {
        for (code, _) in TRANSFER_FAULTS {
            assert!(cwmp::FaultCode(*code).meaning().is_some(), "{code}");
        }
    }
}
