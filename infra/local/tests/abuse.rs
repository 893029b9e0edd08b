//! The `boomerang-local` binary under the attacks of the third security
//! review (contract v4, "The local stack holds under abuse"): each is run
//! against the real process, with its real listener and open-file limit,
//! and `/healthz` must still answer within the contract's 2 s (given 5 s
//! here: a CI machine's slowness is not the stack's).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The contract's 2 s, with room for a slow machine.
const HEALTHZ_DEADLINE: Duration = Duration::from_secs(5);

/// A running binary, killed when dropped.
struct Local {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Local {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary with `env`, and `open_files` as its soft and hard
/// open-file limit if given; waits for its ready line.
fn start(env: &[(&str, &str)], open_files: Option<u64>) -> Local {
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_boomerang-local"));
    command
        .env("BOOMERANG_ADDR", "127.0.0.1:0")
        .env("BOOMERANG_DATA_DIR", dir.path())
        .env_remove("BOOMERANG_THIRD_PARTY_URL")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(n) = open_files {
        // SAFETY: setrlimit is async-signal-safe; nothing else runs
        // between fork and exec here.
        unsafe {
            command.pre_exec(move || {
                let lim = libc::rlimit {
                    rlim_cur: n,
                    rlim_max: n,
                };
                match libc::setrlimit(libc::RLIMIT_NOFILE, &lim) {
                    0 => Ok(()),
                    _ => Err(std::io::Error::last_os_error()),
                }
            });
        }
    }
    let mut child = command.spawn().expect("binary starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
    let ready = lines
        .find_map(|l| l.strip_prefix("ready: ").map(str::to_owned))
        .expect("a ready line");
    // Keep reading, so the banner's pipe never fills.
    std::thread::spawn(move || lines.for_each(drop));
    let addr = ready.trim_start_matches("http://").parse().unwrap();
    Local {
        child,
        addr,
        _dir: dir,
    }
}

/// `GET /healthz` on a new connection: its status line, if it came
/// within the deadline, counted from the connect (`None`: it did not).
fn healthz(addr: SocketAddr) -> Option<String> {
    let until = std::time::Instant::now() + HEALTHZ_DEADLINE;
    let left = || until.saturating_duration_since(std::time::Instant::now());
    let mut s = TcpStream::connect_timeout(&addr, HEALTHZ_DEADLINE).ok()?;
    s.set_write_timeout(Some(left().max(Duration::from_millis(1))))
        .unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .ok()?;
    s.set_read_timeout(Some(left().max(Duration::from_millis(1))))
        .unwrap();
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).ok()?;
    let line = line.trim_end().to_owned();
    (!line.is_empty() && !left().is_zero()).then_some(line)
}

/// This test process may open as many files as its hard limit allows.
fn raise_own_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write `lim`.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
}

#[test]
fn http2_without_tls_is_not_spoken() {
    // GIVEN the stack
    let local = start(&[], None);
    // WHEN a client opens with HTTP/2's prior-knowledge preface and SETTINGS
    let mut s = TcpStream::connect(local.addr).unwrap();
    s.set_read_timeout(Some(HEALTHZ_DEADLINE)).unwrap();
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .unwrap();
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    // THEN no HTTP/2 frame comes back: an HTTP/1.1 refusal, or a close
    assert!(
        reply.is_empty() || reply.starts_with(b"HTTP/1.1 "),
        "{:?}",
        String::from_utf8_lossy(&reply[..reply.len().min(64)])
    );
    // AND the stack still serves
    assert_eq!(healthz(local.addr).as_deref(), Some("HTTP/1.1 200 OK"));
}

#[test]
fn bodies_trickled_after_a_refusal_never_keep_a_slot_from_a_new_client() {
    // GIVEN a stack serving 4 connections at once, with a long body timeout
    let local = start(
        &[
            ("BOOMERANG_MAX_HTTP_CONNECTIONS", "4"),
            ("BOOMERANG_HTTP_BODY_TIMEOUT_MS", "60000"),
        ],
        None,
    );
    // WHEN 4 clients each declare a 10 MB body, are refused before it is
    // read (no token), and go on sending it a byte at a time
    let mut tricklers = Vec::new();
    for _ in 0..4 {
        let mut s = TcpStream::connect(local.addr).unwrap();
        s.write_all(
            b"POST /uploads HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
              Content-Length: 10000000\r\n\r\n{",
        )
        .unwrap();
        s.set_read_timeout(Some(HEALTHZ_DEADLINE)).unwrap();
        let mut head = [0u8; 12];
        s.read_exact(&mut head).unwrap();
        assert_eq!(&head, b"HTTP/1.1 401");
        tricklers.push(s);
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let trickling = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for s in &mut tricklers {
                    let _ = s.write_all(b" ");
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };
    // THEN a new client is still answered
    let answer = healthz(local.addr);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    trickling.join().unwrap();
    assert_eq!(answer.as_deref(), Some("HTTP/1.1 200 OK"));
}

#[test]
fn eleven_hundred_silent_connections_under_1024_open_files_keep_no_one_out() {
    raise_own_limit();
    // GIVEN the stack with 1,024 open files at most, soft and hard
    let local = start(&[], Some(1024));
    // WHEN 1,100 clients connect and say nothing
    let silent: Vec<TcpStream> = (0..1100)
        .map(|_| TcpStream::connect(local.addr).expect("the kernel completes the connect"))
        .collect();
    // THEN a new client is still answered
    assert_eq!(healthz(local.addr).as_deref(), Some("HTTP/1.1 200 OK"));
    drop(silent);
}
