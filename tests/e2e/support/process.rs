//! Child processes whose output is kept line by line, killed on drop (on panic too), with
//! their last lines printed when a test fails so the failure says what the server saw.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Lines a process printed, stdout and stderr apart.
#[derive(Default)]
pub struct Output {
    pub stdout: Vec<String>,
    pub stderr: Vec<String>,
}

pub struct Proc {
    name: String,
    child: Child,
    pub output: Arc<Mutex<Output>>,
}

impl Proc {
    pub fn spawn(name: &str, mut cmd: Command) -> Proc {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let output = Arc::new(Mutex::new(Output::default()));
        let out = child.stdout.take().expect("piped stdout");
        let err = child.stderr.take().expect("piped stderr");
        collect(out, output.clone(), false);
        collect(err, output.clone(), true);
        Proc {
            name: name.to_owned(),
            child,
            output,
        }
    }

    /// Waits (blocking, bounded) for a line on stderr or stdout that `pick` accepts. Called
    /// from the cases' async code: the runtime is told this worker blocks for a while.
    pub fn wait_line<T>(
        &mut self,
        what: &str,
        timeout: Duration,
        pick: impl Fn(&str) -> Option<T>,
    ) -> T {
        tokio::task::block_in_place(|| self.wait_line_blocking(what, timeout, pick))
    }

    fn wait_line_blocking<T>(
        &mut self,
        what: &str,
        timeout: Duration,
        pick: impl Fn(&str) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let o = self.output.lock().unwrap();
                if let Some(v) = o.stderr.iter().chain(&o.stdout).find_map(|l| pick(l)) {
                    return v;
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{} exited ({status}) before {what}", self.name);
            }
            assert!(
                Instant::now() < deadline,
                "{} did not print {what} within {timeout:?}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the process (SIGKILL: nothing is flushed or handed back) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            let o = self.output.lock().unwrap_or_else(|e| e.into_inner());
            let tail = |v: &[String]| v[v.len().saturating_sub(40)..].join("\n");
            eprintln!(
                "---- last output of {} ----\n[stderr]\n{}\n[stdout]\n{}",
                self.name,
                tail(&o.stderr),
                tail(&o.stdout)
            );
        }
    }
}

fn collect(stream: impl Read + Send + 'static, output: Arc<Mutex<Output>>, is_err: bool) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            let mut o = output.lock().unwrap_or_else(|e| e.into_inner());
            if is_err {
                o.stderr.push(line);
            } else {
                o.stdout.push(line);
            }
        }
    });
}
