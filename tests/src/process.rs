//! `boomerang-local` as its own process (the debug binary `make test`
//! builds), for what only a process can show: a SIGKILL, a SIGTERM, its
//! resident memory.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};

use crate::lambda::debug_bootstrap;
use crate::DEADLINE;

pub struct LocalProcess {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`, from its ready line.
    pub url: String,
}

impl LocalProcess {
    /// Starts it on `addr` with `data_dir` and `env` (quiet logs), and
    /// waits for its ready line.
    pub fn start(addr: &str, data_dir: &Path, env: &[(&str, &str)]) -> Self {
        let mut child =
            crate::dies_with_test(&mut Command::new(debug_bootstrap("boomerang-local")))
                .env("BOOMERANG_ADDR", addr)
                .env("BOOMERANG_DATA_DIR", data_dir)
                .env("RUST_LOG", "warn")
                .envs(env.iter().copied())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("boomerang-local starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("ready: ") {
                    let _ = tx.send(url.to_owned());
                }
            }
        });
        let url = rx.recv_timeout(DEADLINE).expect("a ready line");
        Self {
            child: Some(child),
            url,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// SIGKILL, as a crash would: nothing gets to run.
    pub fn kill(mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// Sends SIGTERM (a clean stop) without waiting.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for it to exit.
    pub fn wait(mut self) -> ExitStatus {
        self.child.take().expect("running").wait().unwrap()
    }
}

impl Drop for LocalProcess {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
