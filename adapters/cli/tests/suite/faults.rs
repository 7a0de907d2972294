//! Faults during load: `switchboard load` drives encrypted WeCom callbacks through the real
//! binary while a part of the system is killed, restarted or starved of disk, then checks
//! the log exactly-once. Every scenario runs in turn and the table of results is printed
//! before any assertion, so one broken scenario does not hide the others:
//! `cargo nextest run -p switchboard-cli --test faults --no-capture` (or `ops/load/faults`);
//! `FAULT_SCENARIOS=cluster` runs only the scenarios whose name contains it.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{free_port, LoadRun, Server};
use serde_json::Value;
use switchboard_jetstream::testing::{NatsCluster, NatsServer};

/// Load of each scenario: 30 messages a second for 12 s; the fault strikes at 4 s.
const LOAD: [&str; 6] = ["--rate", "30", "--duration", "12s", "--drain-timeout", "90s"];
const FAULT_AT: Duration = Duration::from_secs(4);

/// What one scenario's run produced.
struct Run {
    report: Value,
    /// What else the scenario checked, when it failed.
    problem: Option<String>,
}

impl Run {
    fn report(report: Value) -> Run {
        Run { report, problem: None }
    }
}

/// A scenario: sets up, runs load through a fault in `dir`, and reports.
type Scenario = fn(&Path) -> Run;

/// One scenario's result, named for the table.
struct Outcome {
    scenario: &'static str,
    report: Value,
    problem: Option<String>,
}

impl Outcome {
    fn count(&self, field: &str) -> u64 {
        self.report[field].as_u64().unwrap_or(u64::MAX)
    }

    fn passed(&self) -> bool {
        self.problem.is_none()
            && ["lost", "duplicated", "phantom", "stuck_sessions", "undelivered"].iter().all(|f| self.count(f) == 0)
            && self.report["drained"] == true
            && self.count("accepted") > 0
    }
}

fn with_demo_api(api_port: u16, roles: Option<&str>) -> Vec<String> {
    let mut args =
        vec!["--demo".to_owned(), "--demo-wecom-api".to_owned(), format!("http://127.0.0.1:{api_port}/cgi-bin")];
    if let Some(roles) = roles {
        args.extend(["--roles".to_owned(), roles.to_owned()]);
    }
    args
}

fn start(data: &Path, config: Option<&Path>, args: &[String]) -> Server {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Server::start(data, config, &args)
}

/// Runs load against `target` and applies `fault` at [`FAULT_AT`].
fn under_load(config: Option<&Path>, target: &str, api_port: u16, fault: impl FnOnce()) -> Value {
    let run = LoadRun::start(config, target, api_port, &LOAD);
    std::thread::sleep(FAULT_AT);
    fault();
    run.report().0
}

/// Starts `serve --demo` on `data` and runs load against it through `fault`, which leaves
/// `serve` alone; returns the server for checks after the load.
fn demo_under_load(data: &Path, config: Option<&Path>, fault: impl FnOnce()) -> (Server, Value) {
    let api_port = free_port();
    let server = start(data, config, &with_demo_api(api_port, None));
    let report = under_load(config, &server.base, api_port, fault);
    (server, report)
}

fn serve_killed_on_the_embedded_store(dir: &Path) -> Run {
    let api_port = free_port();
    let mut server = start(&dir.join("data"), None, &with_demo_api(api_port, None));
    let base = server.base.clone();
    let report = under_load(None, &base, api_port, || {
        server.kill_now();
        std::thread::sleep(Duration::from_secs(1));
        server.restart();
    });
    Run::report(report)
}

fn nats_server_killed(dir: &Path) -> Run {
    let mut nats = NatsServer::start();
    let config = crate::common::nats_config(dir, &nats.url());
    let (_server, report) = demo_under_load(&dir.join("data"), Some(&config), || {
        nats.kill();
        std::thread::sleep(Duration::from_secs(2));
        nats.restart();
    });
    Run::report(report)
}

/// An `http` process and an `engine,projector` process on one JetStream log; `kill_http`
/// picks which one dies.
fn split_role_killed(dir: &Path, kill_http: bool) -> Run {
    let nats = NatsServer::start();
    let config = crate::common::nats_config(dir, &nats.url());
    let api_port = free_port();
    let mut http = start(&dir.join("http"), Some(&config), &with_demo_api(api_port, Some("http")));
    let mut engine = start(&dir.join("engine"), Some(&config), &with_demo_api(api_port, Some("engine,projector")));
    let base = http.base.clone();
    let report = under_load(Some(&config), &base, api_port, || {
        let victim = if kill_http { &mut http } else { &mut engine };
        victim.kill_now();
        std::thread::sleep(Duration::from_secs(1));
        victim.restart();
    });
    Run::report(report)
}

/// A PostgreSQL server of the test's own (initdb in a temporary directory), so restarting it
/// disturbs no other test.
struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Postgres {
    fn start() -> Postgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|versions| versions.filter_map(Result::ok).map(|v| v.path().join("bin")).max())
            .filter(|bin| bin.join("initdb").exists())
            .expect("PostgreSQL's server binaries (/usr/lib/postgresql/<version>/bin) are missing: run ops/setup.sh");
        let dir = tempfile::tempdir().unwrap();
        // PostgreSQL refuses to run as root: as root, run it as the postgres user.
        let data = dir.path().join("pg");
        std::fs::create_dir(&data).unwrap();
        Command::new("chown").args(["-R", "postgres:postgres"]).arg(dir.path()).status().unwrap();
        let status = Self::as_postgres(&bin.join("initdb"))
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(&data)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "initdb failed");
        let mut postgres = Postgres { dir, bin, port: free_port(), child: None };
        postgres.launch();
        postgres
    }

    fn as_postgres(program: &Path) -> Command {
        if running_as_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    fn launch(&mut self) {
        let data = self.dir.path().join("pg");
        let child = Self::as_postgres(&self.bin.join("postgres"))
            .arg("-D")
            .arg(&data)
            .args(["-p", &self.port.to_string(), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-k"])
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "PostgreSQL did not start within 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        // Accepting connections is not yet accepting queries: wait for a query to work.
        while !Command::new("psql")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "postgres", "-tAc", "SELECT 1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success()
        {
            assert!(Instant::now() < deadline, "PostgreSQL did not answer queries within 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Immediate shutdown (every backend dies; crash recovery on the next start), as a
    /// crash would leave it.
    fn crash(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = child.id().to_string();
            // The postmaster is the child of runuser when running as root.
            let _ = Command::new("pkill").args(["-QUIT", "-P", &pid]).status();
            let _ = Command::new("kill").args(["-QUIT", &pid]).status();
            let _ = child.wait();
            let deadline = Instant::now() + Duration::from_secs(30);
            while self.dir.path().join("pg/postmaster.pid").exists() {
                assert!(Instant::now() < deadline, "PostgreSQL did not stop within 30 s");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    fn url(&self) -> String {
        format!("host=127.0.0.1 port={} user=postgres dbname=postgres", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.crash();
    }
}

fn running_as_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false)
}

fn postgres_restarted_under_the_projector(dir: &Path) -> Run {
    let mut postgres = Postgres::start();
    let config = dir.join("switchboard.toml");
    std::fs::write(&config, format!("[read_models]\nkind = \"postgres\"\nurl = \"{}\"\n", postgres.url())).unwrap();
    let (server, report) = demo_under_load(&dir.join("data"), Some(&config), || {
        postgres.crash();
        std::thread::sleep(Duration::from_secs(2));
        postgres.launch();
    });
    // The read models catch up: every session the log holds is in the statistics.
    let sessions = report["sessions"].as_u64().unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(60);
    let problem = loop {
        let (status, stats) = server.try_get("/api/v1/teams/demo/statistics");
        let opened = stats.as_ref().and_then(|s| s["opened"].as_u64());
        if opened == Some(sessions) {
            break None;
        }
        if Instant::now() > deadline {
            break Some(format!(
                "the read models did not catch up: statistics answer {status}, {opened:?} of {sessions} sessions opened"
            ));
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    Run { report, problem }
}

/// A small filesystem of the test's own for the embedded store, filled up mid-load and
/// freed 2 s later.
fn embedded_disk_full(dir: &Path) -> Run {
    let mount = dir.join("small-disk");
    std::fs::create_dir(&mount).unwrap();
    let mounted = Command::new("mount").args(["-t", "tmpfs", "-o", "size=64m", "tmpfs"]).arg(&mount).status();
    assert!(
        mounted.is_ok_and(|s| s.success()),
        "cannot mount a small tmpfs for the full-disk scenario (it needs root or CAP_SYS_ADMIN)"
    );
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(mount.clone());
    let filler = mount.join("filler");
    let (server, report) = demo_under_load(&mount.join("data"), None, || {
        // Fill every free byte.
        let _ = Command::new("dd")
            .arg("if=/dev/zero")
            .arg(format!("of={}", filler.display()))
            .args(["bs=1M"])
            .stderr(Stdio::null())
            .status();
        std::thread::sleep(Duration::from_secs(2));
        std::fs::remove_file(&filler).unwrap();
    });
    let problem = (server.health_status() != 200).then(|| "serve is not healthy after the disk was freed".to_owned());
    Run { report, problem }
}

/// Three `serve --demo` instances with `core.shard = "auto"` on a three-node JetStream
/// cluster (the stream replicated three times), read models on PostgreSQL: the first runs
/// every role and takes the load, the others `http,engine` (one projector per store).
struct ClusterRig {
    nats: NatsCluster,
    _postgres: Postgres,
    config: PathBuf,
    servers: Vec<Server>,
    api_port: u16,
}

impl ClusterRig {
    fn start(dir: &Path) -> ClusterRig {
        let nats = NatsCluster::start();
        let postgres = Postgres::start();
        let config = dir.join("cluster.toml");
        let text = format!(
            "[store]\nkind = \"nats\"\nnats_url = \"{}\"\n[store.jetstream]\nreplicas = 3\nrequest_timeout = \"2s\"\n\
             [read_models]\nkind = \"postgres\"\nurl = \"{}\"\n[core]\nshard = \"auto\"\n",
            nats.url(),
            postgres.url()
        );
        std::fs::write(&config, text).unwrap();
        let api_port = free_port();
        let servers = (0..3)
            .map(|i| {
                let roles = (i > 0).then_some("http,engine");
                start(&dir.join(format!("instance{i}")), Some(&config), &with_demo_api(api_port, roles))
            })
            .collect();
        ClusterRig { nats, _postgres: postgres, config, servers, api_port }
    }

    /// Runs load against `targets` (instance numbers, behind one balancer) through `fault`;
    /// a refusal while a quorum of servers is up is a failure too.
    fn under_load(&mut self, targets: &[usize], fault: impl FnOnce(&mut ClusterRig)) -> Run {
        let target = targets.iter().map(|&i| self.servers[i].base.as_str()).collect::<Vec<_>>().join(",");
        let (config, api_port) = (self.config.clone(), self.api_port);
        let report = under_load(Some(&config), &target, api_port, || fault(self));
        let refused = report["errors"].as_u64().unwrap_or(u64::MAX);
        let problem = (refused > 0).then(|| format!("{refused} callbacks refused while a quorum was up"));
        Run { report, problem }
    }
}

fn cluster_leader_killed(dir: &Path) -> Run {
    ClusterRig::start(dir).under_load(&[0], |rig| {
        let leader = rig.nats.stream_leader("SWITCHBOARD").expect("the stream has a leader");
        rig.nats.kill(leader);
        std::thread::sleep(Duration::from_secs(3));
        rig.nats.restart(leader);
    })
}

fn cluster_follower_killed(dir: &Path) -> Run {
    ClusterRig::start(dir).under_load(&[0], |rig| {
        let leader = rig.nats.stream_leader("SWITCHBOARD");
        let follower = (0..3).find(|&i| Some(i) != leader).unwrap();
        rig.nats.kill(follower);
        std::thread::sleep(Duration::from_secs(3));
        rig.nats.restart(follower);
    })
}

/// An upgrade's rolling restart: each instance in turn stopped with SIGTERM and started
/// again once healthy, the load spread over all three as a balancer would.
fn cluster_rolling_restart(dir: &Path) -> Run {
    ClusterRig::start(dir).under_load(&[0, 1, 2], |rig| {
        for server in &mut rig.servers {
            assert!(server.stop_gracefully(), "an instance stops cleanly on SIGTERM");
            server.restart();
        }
    })
}

fn cluster_instance_killed(dir: &Path) -> Run {
    ClusterRig::start(dir).under_load(&[0], |rig| {
        rig.servers[2].kill_now();
        std::thread::sleep(Duration::from_secs(3));
        rig.servers[2].restart();
    })
}

fn table(outcomes: &[Outcome]) -> String {
    let mut text = String::from(
        "| scenario | accepted | refused | lost | duplicated | recorded without a 200 | recovered in | drained in | p99 | result |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for o in outcomes {
        let r = &o.report;
        text.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {:.1} s | {:.1} s | {:.0} ms | {} |\n",
            o.scenario,
            r["accepted"],
            r["errors"],
            r["lost"],
            r["duplicated"],
            r["recorded_unacknowledged"],
            r["longest_outage_secs"].as_f64().unwrap_or(f64::NAN),
            r["drained_secs"].as_f64().unwrap_or(f64::NAN),
            r["latency_ms"]["p99"].as_f64().unwrap_or(f64::NAN),
            if o.passed() {
                "ok".to_owned()
            } else {
                format!("FAILED {}", o.problem.as_deref().unwrap_or_default().replace('\n', " "))
            }
        ));
    }
    text
}

#[test]
fn no_fault_during_load_loses_or_duplicates_a_message() {
    let scenarios: [(&str, Scenario); 10] = [
        ("serve (embedded) SIGKILLed, restarted after 1 s", serve_killed_on_the_embedded_store),
        ("nats-server SIGKILLed, restarted after 2 s", nats_server_killed),
        ("engine role SIGKILLed, restarted after 1 s (JetStream)", |dir| split_role_killed(dir, false)),
        ("HTTP role SIGKILLed, restarted after 1 s (JetStream)", |dir| split_role_killed(dir, true)),
        ("PostgreSQL (read models) crashed, restarted after 2 s", postgres_restarted_under_the_projector),
        ("embedded store's disk full for 2 s", embedded_disk_full),
        ("3-node cluster: the stream leader nats-server SIGKILLed, restarted after 3 s", cluster_leader_killed),
        ("3-node cluster: a follower nats-server SIGKILLed, restarted after 3 s", cluster_follower_killed),
        (
            "3-node cluster: one of three instances SIGKILLed (its parts move), restarted after 3 s",
            cluster_instance_killed,
        ),
        ("3-node cluster: rolling restart of the three instances (SIGTERM, healthy, next)", cluster_rolling_restart),
    ];
    // FAULT_SCENARIOS=<words> runs only the scenarios whose name contains them.
    let only = std::env::var("FAULT_SCENARIOS").ok();
    let scenarios: Vec<(&str, Scenario)> =
        scenarios.into_iter().filter(|(name, _)| only.as_deref().is_none_or(|words| name.contains(words))).collect();
    assert!(!scenarios.is_empty(), "FAULT_SCENARIOS={only:?} matches no scenario");
    let mut outcomes = Vec::new();
    for (scenario, run) in scenarios {
        let dir = tempfile::tempdir().unwrap();
        // A scenario that panics (a server that would not start, a report that never came)
        // is a failed row of the table, so the scenarios after it still run and report.
        let Run { report, problem } = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(dir.path())))
            .unwrap_or_else(|panic| {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                Run { report: Value::Null, problem: Some(format!("the scenario panicked: {message}")) }
            });
        eprintln!("fault scenario done: {scenario}");
        outcomes.push(Outcome { scenario, report, problem });
    }
    let table = table(&outcomes);
    println!("{table}");
    for o in &outcomes {
        assert!(o.passed(), "{}: {}\n{table}", o.scenario, o.report);
        assert!(o.count("errors") < o.count("messages"), "traffic got through around the fault: {}", o.report);
    }
}
