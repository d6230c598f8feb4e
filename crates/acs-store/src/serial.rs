//! The one serial-number rule, applied on every path a serial number comes in by (the API's
//! bodies, a CPE's Inform): 1 to [`MAX_SERIAL_LEN`] characters, no control character (NUL,
//! CR, LF, ...), no `/`, no surrounding white space (an Inform's serial number is trimmed
//! before it is checked, as it always was before it is stored). A device that could be stored could then always be
//! read and deleted through the API, and a serial number cannot forge a log line.

/// Longest serial number accepted anywhere, in characters (CWMP `DeviceIdStruct.SerialNumber`
/// is string(64); twice that leaves room for vendors that overrun it).
pub const MAX_SERIAL_LEN: usize = 128;

/// `Err` with what is wrong (a message for a client, naming no part of the value) when
/// `serial` breaks the rule.
pub fn check_serial_number(serial: &str) -> Result<(), &'static str> {
    if serial.is_empty() {
        return Err("the serial number is empty");
    }
    if serial.chars().count() > MAX_SERIAL_LEN {
        return Err("the serial number is longer than 128 characters");
    }
    if serial.chars().any(char::is_control) {
        return Err("the serial number contains a control character");
    }
    if serial.contains('/') {
        return Err("the serial number contains a slash");
    }
    if serial.trim() != serial {
        return Err("the serial number starts or ends with white space");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule() {
        assert!(check_serial_number("CP1234-5").is_ok());
        assert!(check_serial_number("s p a c e").is_ok());
        assert!(check_serial_number(" SN").is_err());
        assert!(check_serial_number(&"x".repeat(128)).is_ok());
        assert!(check_serial_number(&"é".repeat(128)).is_ok());
        for bad in ["", "a/b", "a\nb", "a\rb", "a\0b", "\u{7f}", "a\u{85}b"] {
            assert!(check_serial_number(bad).is_err(), "{bad:?}");
        }
        assert!(check_serial_number(&"x".repeat(129)).is_err());
    }
}
