//! A real SMTP server on loopback for the notification tests: aiosmtpd (PyPI), delivering
//! into a Maildir the test reads. Installed on first use into
//! `~/.cache/ledgerdesk-tools/py` (one installer at a time, under `flock`); a failed install
//! fails the test with pip's output — never a skip.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const AIOSMTPD: &str = "aiosmtpd==1.4.6";

fn tools_dir() -> PathBuf {
    let home = std::env::var("HOME").unwrap_or_else(|_| "/tmp".into());
    PathBuf::from(home).join(".cache/ledgerdesk-tools")
}

/// The directory aiosmtpd is installed in (for PYTHONPATH), installing it if needed.
fn aiosmtpd_path() -> PathBuf {
    let dir = tools_dir().join("py");
    if dir.join("aiosmtpd").is_dir() {
        return dir;
    }
    std::fs::create_dir_all(tools_dir()).expect("create the tools directory");
    let lock = tools_dir().join("py.lock");
    let out = Command::new("flock")
        .arg(&lock)
        .arg("sh")
        .arg("-c")
        .arg(format!(
            "test -d '{d}/aiosmtpd' || python3 -m pip install --quiet --disable-pip-version-check --target '{d}' {AIOSMTPD}",
            d = dir.display()
        ))
        .output()
        .expect("run flock/python3 to install aiosmtpd");
    assert!(
        out.status.success() && dir.join("aiosmtpd").is_dir(),
        "installing {AIOSMTPD} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

/// A loopback port nobody listens on (yet).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind a free port")
        .local_addr()
        .expect("local addr")
        .port()
}

/// An aiosmtpd process; killed on drop.
pub struct SmtpServer {
    child: Child,
    pub port: u16,
    pub maildir: PathBuf,
}

impl SmtpServer {
    /// Starts a server on `port` and waits until it accepts connections.
    pub fn start(port: u16) -> SmtpServer {
        let py = aiosmtpd_path();
        let maildir =
            std::env::temp_dir().join(format!("ledgerdesk-maildir-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&maildir);
        let child = Command::new("python3")
            .env("PYTHONPATH", &py)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start aiosmtpd");
        let server = SmtpServer {
            child,
            port,
            maildir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// The raw messages delivered so far.
    pub fn messages(&self) -> Vec<Vec<u8>> {
        read_dir(&self.maildir.join("new"))
    }
}

fn read_dir(dir: &Path) -> Vec<Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(PathBuf, Vec<u8>)> = entries
        .filter_map(|e| e.ok())
        .map(|e| {
            let p = e.path();
            let b = std::fs::read(&p).expect("read message");
            (p, b)
        })
        .collect();
    out.sort();
    out.into_iter().map(|(_, b)| b).collect()
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.maildir);
    }
}
