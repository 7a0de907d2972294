//! The real `switchboard` binary started as a user would, for the process-level tests.

#![allow(clippy::unwrap_used, dead_code)]

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The global administrator key every test server is started with (`SWITCHBOARD_ADMIN_KEY`);
/// the request helpers send it.
pub const ADMIN_KEY: &str = "process-test-administrator-key";

/// The `Authorization` header value of [`ADMIN_KEY`].
pub fn admin_auth() -> String {
    format!("Bearer {ADMIN_KEY}")
}

/// A running `switchboard serve`, killed when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    port: u16,
    command: Vec<std::ffi::OsString>,
    env: Vec<(String, String)>,
    log: Option<std::path::PathBuf>,
}

/// A free port on loopback, outside the range outgoing connections take (see
/// [`switchboard_jetstream::testing::free_port`]).
pub fn free_port() -> u16 {
    switchboard_jetstream::testing::free_port().expect("a free port on loopback")
}

impl Server {
    /// Starts `serve` with an optional configuration file and extra arguments, and waits
    /// until `/healthz` answers 200.
    pub fn start(data_dir: &Path, config: Option<&Path>, extra: &[&str]) -> Server {
        Self::start_with_env(data_dir, config, extra, &[])
    }

    /// [`start`](Self::start) with extra environment variables.
    pub fn start_with_env(data_dir: &Path, config: Option<&Path>, extra: &[&str], env: &[(&str, &str)]) -> Server {
        Self::start_logging(data_dir, config, extra, env, None)
    }

    /// [`start_with_env`](Self::start_with_env), with the log (stderr) appended to `log`
    /// when given instead of the test's own stderr.
    pub fn start_logging(
        data_dir: &Path,
        config: Option<&Path>,
        extra: &[&str],
        env: &[(&str, &str)],
        log: Option<&Path>,
    ) -> Server {
        let port = free_port();
        let mut command: Vec<std::ffi::OsString> = Vec::new();
        if let Some(config) = config {
            command.push("--config".into());
            command.push(config.into());
        }
        command.extend(["--data-dir".into(), data_dir.into(), "serve".into(), "--listen".into()]);
        command.push(format!("127.0.0.1:{port}").into());
        command.extend(extra.iter().map(Into::into));
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let log = log.map(Path::to_path_buf);
        let child = spawn(&command, &env, log.as_deref());
        let mut server = Server { child, base: format!("http://127.0.0.1:{port}"), port, command, env, log };
        server.wait_healthy();
        server
    }

    fn wait_healthy(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut last = String::new();
        while Instant::now() < deadline {
            match ureq::get(&format!("{}/healthz", self.base)).call() {
                Ok(r) if r.status() == 200 => return,
                Ok(r) => last = format!("status {}", r.status()),
                Err(e) => last = e.to_string(),
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("switchboard exited with {status} before becoming healthy");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("switchboard did not become healthy within 30 s (last: {last})");
    }

    /// Kills the process with SIGKILL, as a crash would.
    pub fn kill_now(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops the process with SIGTERM, as a service manager would, and waits (up to 20 s)
    /// for it to exit; returns whether it exited successfully.
    pub fn stop_gracefully(&mut self) -> bool {
        let pid = self.child.id().to_string();
        let sent = std::process::Command::new("kill").args(["-TERM", pid.as_str()]).status().unwrap();
        assert!(sent.success(), "kill -TERM {pid} failed");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.success();
            }
            assert!(std::time::Instant::now() < deadline, "switchboard did not stop within 20 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts the same command again on the same port and waits until it is healthy.
    pub fn restart(&mut self) {
        self.kill_now();
        self.child = spawn(&self.command, &self.env, self.log.as_deref());
        self.wait_healthy();
    }

    /// The HTTP status of `/healthz` (0 when it does not answer).
    pub fn health_status(&self) -> u16 {
        match ureq::get(&format!("{}/healthz", self.base)).timeout(Duration::from_secs(5)).call() {
            Ok(r) => r.status(),
            Err(ureq::Error::Status(code, _)) => code,
            Err(_) => 0,
        }
    }

    /// POSTs JSON and returns the JSON answer; panics on an error status.
    pub fn post(&self, path: &str, body: Value) -> Value {
        let response = ureq::post(&format!("{}{path}", self.base))
            .set("authorization", &admin_auth())
            .send_json(body)
            .expect("request succeeds");
        response.into_json().unwrap()
    }

    /// POSTs JSON and returns the status and the JSON answer (if any), without panicking.
    pub fn try_post(&self, path: &str, body: Value) -> (u16, Option<Value>) {
        match ureq::post(&format!("{}{path}", self.base))
            .set("authorization", &admin_auth())
            .timeout(Duration::from_secs(15))
            .send_json(body)
        {
            Ok(r) => (r.status(), r.into_json().ok()),
            Err(ureq::Error::Status(code, r)) => (code, r.into_json().ok()),
            Err(_) => (0, None),
        }
    }

    /// GETs JSON and returns the status and the JSON answer (if any), without panicking.
    pub fn try_get(&self, path: &str) -> (u16, Option<Value>) {
        match ureq::get(&format!("{}{path}", self.base))
            .set("authorization", &admin_auth())
            .timeout(Duration::from_secs(15))
            .call()
        {
            Ok(r) => (r.status(), r.into_json().ok()),
            Err(ureq::Error::Status(code, r)) => (code, r.into_json().ok()),
            Err(_) => (0, None),
        }
    }

    /// GETs JSON; panics on an error status.
    pub fn get(&self, path: &str) -> Value {
        ureq::get(&format!("{}{path}", self.base))
            .set("authorization", &admin_auth())
            .call()
            .expect("request succeeds")
            .into_json()
            .unwrap()
    }

    /// Polls `path` until `done` holds for its JSON (at most 20 s) and returns the last answer.
    pub fn eventually(&self, path: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let value = self.get(path);
            if done(&value) || Instant::now() > deadline {
                return value;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A counter or gauge from `/metrics`.
    pub fn metric(&self, name: &str) -> u64 {
        let text = ureq::get(&format!("{}/metrics", self.base)).call().unwrap().into_string().unwrap();
        let line = text.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap();
        line.rsplit(' ').next().unwrap().parse().unwrap()
    }

    /// Kills the process and waits for it.
    pub fn kill(mut self) {
        self.kill_now();
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }
}

fn spawn(command: &[std::ffi::OsString], env: &[(String, String)], log: Option<&Path>) -> Child {
    let stderr = match log {
        Some(path) => Stdio::from(std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap()),
        None => Stdio::inherit(),
    };
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(command)
        .env("SWITCHBOARD_LOG", "warn")
        .env("SWITCHBOARD_ADMIN_KEY", ADMIN_KEY)
        // A test's demo starts without the recorded four weeks (the history test turns it on).
        .env("SWITCHBOARD_DEMO_HISTORY", "false")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("the switchboard binary starts")
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill_now();
    }
}

/// Runs the binary with a configuration file and arguments (not `serve`) to completion.
pub fn run(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_switchboard")).arg("--config").arg(config).args(args).output().unwrap()
}

/// A configuration file for a JetStream log at `nats_url`, in `dir`.
pub fn nats_config(dir: &Path, nats_url: &str) -> std::path::PathBuf {
    let path = dir.join("switchboard-nats.toml");
    let text =
        format!("[store]\nkind = \"nats\"\nnats_url = \"{nats_url}\"\n[store.jetstream]\nrequest_timeout = \"2s\"\n");
    std::fs::write(&path, text).unwrap();
    path
}

/// `switchboard load` running against `target` with its simulated WeCom API on
/// `api_port`; [`LoadRun::report`] waits for it.
pub struct LoadRun(Child);

impl LoadRun {
    /// Starts `load --json` with `config` (if any) and extra arguments.
    pub fn start(config: Option<&Path>, target: &str, api_port: u16, extra: &[&str]) -> LoadRun {
        Self::start_with_env(config, target, api_port, extra, &[])
    }

    /// [`start`](Self::start) with extra environment variables.
    pub fn start_with_env(
        config: Option<&Path>,
        target: &str,
        api_port: u16,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> LoadRun {
        let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
        if let Some(config) = config {
            command.arg("--config").arg(config);
        }
        let child = command
            .args(["load", "--json", "--target", target, "--api-listen", &format!("127.0.0.1:{api_port}")])
            .args(extra)
            .env("SWITCHBOARD_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the switchboard binary starts");
        LoadRun(child)
    }

    /// Waits for the run and returns its JSON report and whether it exited successfully.
    pub fn report(self) -> (Value, bool) {
        let output = self.0.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let report = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
            panic!("load printed no report ({e}): {stdout}\n{}", String::from_utf8_lossy(&output.stderr))
        });
        (report, output.status.success())
    }
}
