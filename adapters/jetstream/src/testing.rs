//! Real nats-servers for tests and benchmarks: one started on a free port with its own
//! temporary store, so a test can kill and restart it, or a cluster of three on loopback
//! whose members a test can kill and restart one by one.
//!
//! The binary is `$NATS_SERVER_BIN` if set, else `nats-server` on `PATH` (Debian's
//! package installs it in `/usr/sbin`; `ops/setup.sh` installs it and a current release).

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// How long a started server may take to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Why a nats-server could not be started.
#[derive(Debug, thiserror::Error)]
pub enum NatsServerError {
    /// No binary was found.
    #[error(
        "nats-server not found ({0}); install it (`apt-get install nats-server`, or run \
         ops/setup.sh) or point NATS_SERVER_BIN at a nats-server binary"
    )]
    NotFound(String),
    /// Preparing or spawning the process failed.
    #[error("cannot start {binary}: {source}")]
    Spawn {
        /// The binary.
        binary: String,
        /// What the system reported.
        #[source]
        source: std::io::Error,
    },
    /// The process started but never accepted connections.
    #[error("{binary} did not accept connections on port {port} within {READY_TIMEOUT:?}; its log:\n{log}")]
    NotReady {
        /// The binary.
        binary: String,
        /// The port.
        port: u16,
        /// The end of the server's log.
        log: String,
    },
}

/// A nats-server with JetStream on 127.0.0.1, killed (SIGKILL) when dropped.
pub struct NatsServer {
    binary: PathBuf,
    port: u16,
    dir: TempDir,
    child: Option<Child>,
    /// Arguments beyond the port and store (a cluster member's name and routes).
    extra: Vec<String>,
}

impl NatsServer {
    /// The binary to run: `$NATS_SERVER_BIN`, else `nats-server` found on `PATH`.
    pub fn binary() -> Result<PathBuf, NatsServerError> {
        if let Some(path) = std::env::var_os("NATS_SERVER_BIN") {
            let path = PathBuf::from(path);
            if path.is_file() {
                return Ok(path);
            }
            return Err(NatsServerError::NotFound(format!("NATS_SERVER_BIN={} is not a file", path.display())));
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
            .map(|dir| dir.join("nats-server"))
            .find(|candidate| candidate.is_file())
            .ok_or_else(|| NatsServerError::NotFound("not on PATH and NATS_SERVER_BIN is not set".into()))
    }

    /// Starts a server, panicking with the reason if it cannot: a test that needs a
    /// server must fail, not skip, when there is none.
    pub fn start() -> Self {
        match Self::try_start() {
            Ok(server) => server,
            Err(e) => panic!("cannot start a nats-server for this test: {e}"),
        }
    }

    /// Starts a server on a free port with an empty store, and waits until it accepts
    /// connections.
    pub fn try_start() -> Result<Self, NatsServerError> {
        let binary = Self::binary()?;
        let spawn_error = |source| NatsServerError::Spawn { binary: binary.display().to_string(), source };
        let mut last_error = None;
        // A free port can be taken by another process before the server binds it; try a few.
        for _ in 0..3 {
            let port = free_port().map_err(spawn_error)?;
            match Self::start_on(&binary, port, Vec::new()) {
                Ok(server) => return Ok(server),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| NatsServerError::NotFound("no attempt was made".into())))
    }

    /// Starts `binary` on `port` with `extra` arguments and a store of its own.
    fn start_on(binary: &Path, port: u16, extra: Vec<String>) -> Result<Self, NatsServerError> {
        let spawn_error = |source| NatsServerError::Spawn { binary: binary.display().to_string(), source };
        let dir = TempDir::new().map_err(spawn_error)?;
        let child = spawn(binary, port, dir.path(), &extra)?;
        Ok(Self { binary: binary.to_owned(), port, dir, child: Some(child), extra })
    }

    /// The URL clients connect to.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The JetStream store directory (kept across restarts).
    pub fn store_dir(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    /// The server's process id while it runs, for tools that measure its CPU time.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The binary's version line (`nats-server: v2.9.10`), for reports.
    pub fn version(&self) -> String {
        Command::new(&self.binary)
            .arg("--version")
            .output()
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
            .unwrap_or_else(|e| format!("unknown ({e})"))
    }

    /// Kills the server with SIGKILL, as a crash would, and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port with the same store, after [`kill`](Self::kill)
    /// (or kills it first); panics if it does not come back.
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            match self.spawn() {
                Ok(()) => return,
                // The port may linger for a moment after the kill.
                Err(e) if Instant::now() < deadline => {
                    tracing::debug!("restarting nats-server: {e}");
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("cannot restart nats-server: {e}"),
            }
        }
    }

    fn spawn(&mut self) -> Result<(), NatsServerError> {
        self.child = Some(spawn(&self.binary, self.port, self.dir.path(), &self.extra)?);
        Ok(())
    }
}

/// Starts `binary` with JetStream on 127.0.0.1:`port`, its store and log in `dir`, and
/// waits until it accepts connections.
fn spawn(binary: &Path, port: u16, dir: &Path, extra: &[String]) -> Result<Child, NatsServerError> {
    let name = binary.display().to_string();
    let spawn_error = |source| NatsServerError::Spawn { binary: name.clone(), source };
    let log_path = dir.join("nats-server.log");
    let log = File::options().create(true).append(true).open(&log_path).map_err(spawn_error)?;
    let log_err = log.try_clone().map_err(spawn_error)?;
    let mut child = Command::new(binary)
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(dir.join("store"))
        .args(extra)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .map_err(spawn_error)?;
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = Instant::now() + READY_TIMEOUT;
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            break;
        }
        if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
            // Another process may own the port while ours fails to bind it and exits.
            std::thread::sleep(Duration::from_millis(50));
            if matches!(child.try_wait(), Ok(None)) {
                return Ok(child);
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    Err(NatsServerError::NotReady { binary: name, port, log: tail(&log_path) })
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

impl std::fmt::Debug for NatsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsServer").field("binary", &self.binary).field("port", &self.port).finish_non_exhaustive()
    }
}

/// Three nats-servers on loopback routed into one JetStream cluster (`sbtest`), each with
/// its own store and monitoring port; members can be killed and restarted one by one, as
/// a machine of a real cluster would fail.
pub struct NatsCluster {
    members: Vec<NatsServer>,
    names: Vec<String>,
    monitor_ports: Vec<u16>,
}

impl NatsCluster {
    /// Starts the three members and waits until JetStream is ready on each, panicking with
    /// the reason if it cannot: a test that needs a cluster must fail, not skip.
    pub fn start() -> Self {
        match Self::try_start() {
            Ok(cluster) => cluster,
            Err(e) => panic!("cannot start a three-node nats cluster for this test: {e}"),
        }
    }

    /// See [`start`](Self::start).
    pub fn try_start() -> Result<Self, NatsServerError> {
        let binary = NatsServer::binary()?;
        let port =
            || free_port().map_err(|source| NatsServerError::Spawn { binary: binary.display().to_string(), source });
        let client_ports = [port()?, port()?, port()?];
        let route_ports = [port()?, port()?, port()?];
        let monitor_ports = vec![port()?, port()?, port()?];
        let names: Vec<String> = (0..3).map(|i| format!("n{i}")).collect();
        let routes = route_ports.iter().map(|p| format!("nats://127.0.0.1:{p}")).collect::<Vec<_>>().join(",");
        let mut members = Vec::new();
        for i in 0..3 {
            let extra = vec![
                "-n".to_owned(),
                names[i].clone(),
                "-m".to_owned(),
                monitor_ports[i].to_string(),
                "--cluster_name".to_owned(),
                "sbtest".to_owned(),
                "--cluster".to_owned(),
                format!("nats://127.0.0.1:{}", route_ports[i]),
                "--routes".to_owned(),
                routes.clone(),
            ];
            members.push(NatsServer::start_on(&binary, client_ports[i], extra)?);
        }
        let cluster = Self { members, names, monitor_ports };
        for i in 0..3 {
            cluster.wait_ready(i)?;
        }
        Ok(cluster)
    }

    /// Every member's client URL, comma-separated (a `nats_url` for the whole cluster).
    pub fn url(&self) -> String {
        self.members.iter().map(NatsServer::url).collect::<Vec<_>>().join(",")
    }

    /// The member with this server name (as JetStream reports a stream's leader).
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// A member's server name.
    pub fn name(&self, index: usize) -> &str {
        &self.names[index]
    }

    /// A member's client URL.
    pub fn member_url(&self, index: usize) -> String {
        self.members[index].url()
    }

    /// A member's process id while it runs.
    pub fn pid(&self, index: usize) -> Option<u32> {
        self.members[index].pid()
    }

    /// Kills a member with SIGKILL, as a lost machine would.
    pub fn kill(&mut self, index: usize) {
        self.members[index].kill();
    }

    /// Starts a killed member again with its store, and waits until it is ready.
    pub fn restart(&mut self, index: usize) {
        self.members[index].restart();
        if let Err(e) = self.wait_ready(index) {
            panic!("cluster member {} did not come back: {e}", self.names[index]);
        }
    }

    /// The member leading `stream` now, as the members' monitoring endpoints report it.
    pub fn stream_leader(&self, stream: &str) -> Option<usize> {
        (0..self.members.len()).filter(|&i| self.members[i].child.is_some()).find_map(|i| {
            let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.monitor_ports[i]));
            let body = http_get(address, "/jsz?accounts=true&streams=true")?;
            let jsz: serde_json::Value = serde_json::from_str(&body).ok()?;
            let streams =
                jsz["account_details"].as_array()?.iter().flat_map(|a| a["stream_detail"].as_array()).flatten();
            let leader = streams.into_iter().find(|s| s["name"] == stream)?["cluster"]["leader"].as_str()?.to_owned();
            self.index_of(&leader)
        })
    }

    /// Waits until the member's monitoring endpoint says JetStream is healthy.
    fn wait_ready(&self, index: usize) -> Result<(), NatsServerError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.monitor_ports[index]));
        while Instant::now() < deadline {
            if http_status(address, "/healthz").is_some_and(|status| status == 200) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(NatsServerError::NotReady {
            binary: self.members[index].binary.display().to_string(),
            port: self.members[index].port,
            log: tail(&self.members[index].dir.path().join("nats-server.log")),
        })
    }
}

impl std::fmt::Debug for NatsCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsCluster").field("url", &self.url()).finish_non_exhaustive()
    }
}

/// A plain HTTP/1.0 GET on loopback (the monitoring endpoint): the whole answer, if any.
fn http_answer(address: SocketAddr, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_millis(200)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    Some(answer)
}

/// The status code of a GET (see [`http_answer`]).
fn http_status(address: SocketAddr, path: &str) -> Option<u16> {
    http_answer(address, path)?.split_whitespace().nth(1)?.parse().ok()
}

/// The body of a GET answered 200 (see [`http_answer`]).
fn http_get(address: SocketAddr, path: &str) -> Option<String> {
    let answer = http_answer(address, path)?;
    let (head, body) = answer.split_once("\r\n\r\n")?;
    head.split_whitespace().nth(1).filter(|status| *status == "200")?;
    Some(body.to_owned())
}

/// A port on loopback that is free now and that no outgoing connection will take later.
///
/// Port 0 would hand out a port from the ephemeral range, which the kernel also gives to
/// every outgoing connection: a server restarted on its old port, or a process told a port
/// it binds only seconds later, could then find it taken by some client's socket (or
/// connect to itself). So the port is drawn at random from below the ephemeral range.
pub fn free_port() -> std::io::Result<u16> {
    use std::hash::{BuildHasher, Hasher};
    let ephemeral_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let (low, high) = (10_000_u16, ephemeral_start.max(10_001));
    let mut last_error = None;
    for _ in 0..200 {
        let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
        let port = low + u16::try_from(random % u64::from(high - low)).unwrap_or(0);
        match TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
            Ok(_) => return Ok(port),
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.unwrap_or_else(|| std::io::Error::other("no free port below the ephemeral range")))
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
