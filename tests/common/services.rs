//! Where the tests find the services a cluster runs on.
//!
//! NATS: `PYCONCHAT_TEST_NATS` when set; else the local server on
//! 127.0.0.1:4222 when one answers; else a throwaway `nats-server` this
//! process starts on a free port (and which ends with it). Each test takes
//! its own namespace ([`namespace`]), so tests share one server in
//! parallel without meeting. Without any of these the tests fail with the
//! command that installs the server; they never skip.

use std::{
    net::{SocketAddr, TcpListener, TcpStream},
    process::{Child, Command, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

const INSTALL_NATS: &str = "install it with `apt-get install nats-server` (Debian) or set \
                            PYCONCHAT_TEST_NATS=nats://host:port";

/// The NATS server the tests use, as a `nats://` URL.
pub fn nats_url() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(url) = std::env::var("PYCONCHAT_TEST_NATS") {
            return url;
        }
        let local: SocketAddr = "127.0.0.1:4222".parse().expect("an address");
        if TcpStream::connect_timeout(&local, Duration::from_secs(1)).is_ok() {
            return format!("nats://{local}");
        }
        // Started from a thread that never ends, so the server's
        // parent-death signal fires only when this process exits.
        let (sent, url) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let server = NatsServer::start();
            sent.send(server.url()).expect("the test waits for the URL");
            loop {
                std::thread::park();
            }
        });
        url.recv().expect("a throwaway nats-server")
    })
    .clone()
}

/// A subject namespace no other test uses.
pub fn namespace() -> String {
    let mut random = [0_u8; 6];
    getrandom::fill(&mut random).expect("random bytes");
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    format!("test_{hex}")
}

/// A `nats-server` of this test's own, on a free port: for tests that stop
/// and restart the bus. Stopped when dropped.
pub struct NatsServer {
    port: u16,
    child: Option<Child>,
}

impl NatsServer {
    pub fn start() -> NatsServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut server = NatsServer { port, child: None };
        server.start_again();
        server
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again) on its port and waits until it answers.
    pub fn start_again(&mut self) {
        use std::os::unix::process::CommandExt;
        let mut command = Command::new("nats-server");
        command
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: prctl is async-signal-safe; it asks the kernel to end the
        // server when the thread that started it ends.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start nats-server ({e}); {INSTALL_NATS}"));
        self.child = Some(child);
        let addr: SocketAddr = ([127, 0, 0, 1], self.port).into();
        let deadline = Instant::now() + super::DEADLINE;
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server at once, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}
