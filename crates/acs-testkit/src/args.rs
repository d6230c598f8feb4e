//! The libtest command line, as far as a per-backend harness honours it: name filters,
//! `--skip`, `--exact`, `--list`. Everything else libtest accepts is skipped, values included,
//! so `--test-threads 2` does not turn `2` into a name filter.

/// libtest options that take a value as the next argument (or after `=`).
const WITH_VALUE: &[&str] = &[
    "--test-threads",
    "--skip",
    "--format",
    "--color",
    "--logfile",
    "--shuffle-seed",
    "-Z",
];

#[derive(Debug, Default, PartialEq)]
pub(crate) struct Args {
    pub list: bool,
    pub exact: bool,
    pub filters: Vec<String>,
    pub skip: Vec<String>,
}

impl Args {
    pub fn parse(args: impl IntoIterator<Item = String>) -> Args {
        let mut parsed = Args::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            if !arg.starts_with('-') {
                parsed.filters.push(arg);
                continue;
            }
            let (option, inline) = match arg.split_once('=') {
                Some((o, v)) => (o, Some(v.to_owned())),
                None => (arg.as_str(), None),
            };
            // `-Zunstable-options` carries its value glued on
            let glued = option.starts_with("-Z") && option.len() > 2;
            let value = if WITH_VALUE.contains(&option) && inline.is_none() && !glued {
                args.next()
            } else {
                inline
            };
            match option {
                "--list" => parsed.list = true,
                "--exact" => parsed.exact = true,
                "--skip" => parsed.skip.extend(value),
                _ => {}
            }
        }
        parsed
    }

    /// Whether the case `name` is run (or listed).
    pub fn keeps(&self, name: &str) -> bool {
        let hit = |pattern: &String| {
            if self.exact {
                name == pattern
            } else {
                name.contains(pattern.as_str())
            }
        };
        (self.filters.is_empty() || self.filters.iter().any(hit)) && !self.skip.iter().any(hit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Args {
        Args::parse(line.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn option_values_are_not_filters() {
        let a = parse(
            "--test-threads 2 --color never --format pretty -Z unstable-options --logfile x.log lease",
        );
        assert_eq!(a.filters, ["lease"]);
        let a = parse("--test-threads=2 -Zunstable-options --nocapture --report-time lease");
        assert_eq!(a.filters, ["lease"]);
    }

    #[test]
    fn filters_skip_and_exact() {
        let a = parse("lease --skip postgres");
        assert!(a.keeps("sqlite::session_lease"));
        assert!(!a.keeps("postgres::session_lease"));
        assert!(!a.keeps("sqlite::tokens"));
        let a = parse("--exact sqlite::lease");
        assert!(a.keeps("sqlite::lease"));
        assert!(!a.keeps("sqlite::lease_expires"));
        let a = parse("--list --skip=sqlite");
        assert!(a.list);
        assert!(a.keeps("postgres::x"));
        assert!(!a.keeps("sqlite::x"));
    }
}
