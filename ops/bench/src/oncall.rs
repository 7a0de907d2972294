//! "Who is on call" for 1,000 teams × 5 categories: each team with a primary and a
//! secondary layer per category in its own time zone, a few overrides and time off; one
//! lookup routes a hand-over (override, availability and the next person when someone is
//! off). The baseline, in the same run, is the old flat roster: one map lookup and the
//! week number modulo the rotation's length.

use std::hint::black_box;
use std::time::{Duration, Instant};

use anyhow::Result;
use chrono::{DateTime, NaiveTime, TimeZone, Utc};
use clap::Args;
use switchboard_oncall::{Schedule, Staffing};
use switchboard_schemas::event::Roster;
use switchboard_schemas::oncall::{
    Handoff, Layer, OnCallOverride, OnCallSettings, ShiftLength, ShiftUnit, TimeOff, Weekday,
};
use switchboard_schemas::StaffId;
use uuid::Uuid;

use crate::percentile_ms;

/// Sizes of the on-call benchmark.
#[derive(Debug, Clone, Args)]
pub struct OnCallArgs {
    /// Teams.
    #[arg(long, default_value_t = 1_000)]
    pub teams: usize,
    /// Categories per team (each with its own two layers).
    #[arg(long, default_value_t = 5)]
    pub categories: usize,
    /// Lookups measured.
    #[arg(long, default_value_t = 200_000)]
    pub lookups: usize,
}

impl Default for OnCallArgs {
    fn default() -> Self {
        Self { teams: 1_000, categories: 5, lookups: 200_000 }
    }
}

const ZONES: [&str; 4] = ["Asia/Shanghai", "Europe/Berlin", "America/New_York", "UTC"];

fn people(team: usize, category: usize, n: usize) -> Vec<StaffId> {
    (0..n).filter_map(|i| StaffId::new(format!("t{team}c{category}p{i}")).ok()).collect()
}

fn layer(name: &str, participants: Vec<StaffId>, days: u16) -> Layer {
    Layer {
        name: name.into(),
        participants,
        shift: ShiftLength { count: days, unit: ShiftUnit::Days },
        handoff: Handoff { weekday: Some(Weekday::Mon), time: NaiveTime::from_hms_opt(9, 0, 0).unwrap_or_default() },
        starts_on: "2026-01-05".parse().unwrap_or_default(),
    }
}

/// A team's schedule and staffing: 5 + 3 people per category, weekly primary, daily
/// secondary, one override per category this month and two people off.
fn team(t: usize, args: &OnCallArgs, at: DateTime<Utc>) -> Result<(Schedule, Staffing, Roster)> {
    let mut settings = OnCallSettings { time_zone: ZONES[t % ZONES.len()].into(), ..OnCallSettings::default() };
    let mut staffing = Staffing::default();
    let mut roster = Roster::default();
    for c in 0..args.categories {
        let primary = people(t, c, 5);
        let secondary = people(t + 10_000, c, 3);
        let category = format!("category-{c}");
        settings
            .categories
            .insert(category.clone(), vec![layer("primary", primary.clone(), 7), layer("secondary", secondary, 1)]);
        roster.categories.insert(category.clone(), primary.clone());
        let cover = OnCallOverride {
            override_id: Uuid::from_u128((t * 100 + c) as u128),
            category: Some(category),
            layer: "primary".into(),
            staff: primary[4].clone(),
            from: at - chrono::Duration::days(3),
            until: at + chrono::Duration::days(3),
            note: String::new(),
        };
        staffing.overrides.insert(cover.override_id, cover);
        let off = TimeOff {
            time_off_id: Uuid::from_u128((t * 100 + c) as u128),
            staff: primary[c % 4].clone(),
            from: at - chrono::Duration::days(10),
            until: at + chrono::Duration::days(10),
            note: String::new(),
        };
        staffing.time_off.insert(off.time_off_id, off);
    }
    settings.default = vec![layer("primary", people(t, 99, 4), 7)];
    roster.default = people(t, 99, 4);
    Ok((Schedule::new(settings)?, staffing, roster))
}

/// The old flat roster's answer: the category's rotation (or the default) and the week
/// number since Monday 1970-01-05 modulo its length.
fn roster_answer(roster: &Roster, category: &str, at: DateTime<Utc>, epoch: DateTime<Utc>) -> Option<StaffId> {
    let rotation = roster.categories.get(category).filter(|r| !r.is_empty()).unwrap_or(&roster.default);
    let week = usize::try_from((at - epoch).num_weeks().max(0)).unwrap_or(0);
    rotation.get(week % rotation.len().max(1)).cloned()
}

fn measure(lookups: usize, mut one: impl FnMut(usize) -> bool) -> (Vec<Duration>, usize) {
    let mut times = Vec::with_capacity(lookups);
    let mut found = 0;
    for i in 0..lookups {
        let started = Instant::now();
        found += usize::from(black_box(one(i)));
        times.push(started.elapsed());
    }
    times.sort();
    (times, found)
}

/// Runs the benchmark and prints its lines.
pub fn run(args: &OnCallArgs) -> Result<()> {
    let at = Utc.with_ymd_and_hms(2026, 12, 9, 6, 30, 0).single().unwrap_or_default();
    let epoch = Utc.with_ymd_and_hms(1970, 1, 5, 0, 0, 0).single().unwrap_or_default();
    println!(
        "== on call ({} teams × {} categories, 2 layers each, an override and a time off per category, 4 time zones)",
        args.teams, args.categories
    );
    let teams: Vec<(Schedule, Staffing, Roster)> = (0..args.teams).map(|t| team(t, args, at)).collect::<Result<_>>()?;
    let categories: Vec<String> = (0..args.categories).map(|c| format!("category-{c}")).collect();
    // Instants spread over eight weeks, so handoffs and overrides are crossed.
    let instant = |i: usize| at + chrono::Duration::minutes(((i * 7919) % (8 * 7 * 24 * 60)) as i64 - 4 * 7 * 24 * 60);
    let pick = |i: usize| ((i * 31) % teams.len(), &categories[(i * 17) % categories.len()]);

    let (schedule_times, routed) = measure(args.lookups, |i| {
        let (t, category) = pick(i);
        let (schedule, staffing, _) = &teams[t];
        schedule.route(staffing, Some(category), instant(i)).is_some()
    });
    let (now_times, _) = measure(args.lookups, |i| {
        let (t, category) = pick(i);
        let (schedule, staffing, _) = &teams[t];
        !schedule.on_call(staffing, Some(category), instant(i)).layers.is_empty()
    });
    let (roster_times, _) = measure(args.lookups, |i| {
        let (t, category) = pick(i);
        roster_answer(&teams[t].2, category, instant(i), epoch).is_some()
    });
    let line = |name: &str, times: &[Duration]| {
        println!(
            "{name:<52} p50 {:>8.4} ms   p99 {:>8.4} ms   ({} lookups)",
            percentile_ms(times, 0.50),
            percentile_ms(times, 0.99),
            times.len()
        );
    };
    line("route a hand-over (schedule, overrides, time off)", &schedule_times);
    line("who is on call and next, every layer", &now_times);
    line("baseline: old flat roster (map lookup, week mod n)", &roster_times);
    println!("routed to somebody: {routed} of {}", args.lookups);
    Ok(())
}
