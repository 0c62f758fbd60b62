//! Real-time executor: the physics loop runs on the calling thread, paced by the wall
//! clock at the physics rate; each joint service runs on its own thread and answers
//! samples sent at its own period. Physics never waits for a service: it uses the
//! last command and records its age. A service that has not answered its previous
//! sample when the next is due has missed a deadline; after `silent_periods`
//! control periods of silence (on the wall clock) it is declared hung, and its joint
//! goes to its safe state while every other joint keeps running; the supervisor then
//! starts a fresh service thread (its restart policy allowing) and abandons the hung
//! one, releasing it through its cancel flag.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crossbeam::channel::TryRecvError;

use super::buses::Buses;
use super::plant::{DriveMode, Plant};
use super::service::{FaultMode, JointService, ServiceInput, ServiceOutput};
use super::{Progress, RunOptions, ServiceFactory};
use crate::report::{Lateness, Report};
use crate::scene::Scene;
use crate::supervision::Symptom;
use crate::sys::clock::Clock;

/// How long correlated silence of several services (a machine stall) is tolerated
/// before the silent services are faulted anyway.
const SYSTEMIC_GRACE: Duration = Duration::from_millis(100);

pub(super) fn run(scene: &Scene, opts: &RunOptions, progress: Progress) -> std::io::Result<Report> {
    let clock_arc = opts.clock();
    let clock = clock_arc.as_ref();
    let mut plant = Plant::new(scene, opts.build);
    let recorder = super::start_recorder(scene, &mut plant, opts)?;
    let mut publisher = opts.live.clone().map(|tap| {
        plant.live = Some(tap.sink.clone());
        let duration = opts.duration_s.unwrap_or(scene.duration_s);
        super::live::Publisher::new(tap, duration, "realtime")
    });
    let mut factory =
        ServiceFactory::new(scene, opts.build.copies, FaultMode::Real, clock_arc.clone());
    let (services, mut ports) = factory.build_all();
    let mut mail = super::manage::Mailboxes::new(services.len());
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    // Each service thread reports once it is running (and scheduled as asked), so the
    // clock starts only when every service can answer. Capacity: one per service
    // (restarted services report too; nobody waits for those, and a full channel
    // only drops their report).
    let (ready_tx, ready_rx) = crossbeam::channel::bounded(services.len().max(1));
    let count = services.len();
    for s in services {
        threads.push(spawn_service(s, &stop, &ready_tx, opts.rt_priority)?);
    }
    for _ in 0..count {
        if ready_rx.recv_timeout(Duration::from_secs(5)).is_err() {
            break;
        }
    }
    if let Some(p) = opts.rt_priority {
        match crate::sys::priority::set_fifo(p) {
            Ok(()) => plant.event(
                usize::MAX,
                "rt_priority",
                format!("SCHED_FIFO priority {p} (services {})", (p - 1).max(1)),
            ),
            Err(e) => plant.event(
                usize::MAX,
                "rt_priority",
                format!("SCHED_FIFO {p} refused ({e}); normal scheduling"),
            ),
        }
    }
    // Sleep overshoot is bounded by the timer slack (50 µs by default): ask for 1 µs.
    #[cfg(target_os = "linux")]
    {
        // SAFETY: PR_SET_TIMERSLACK only changes the calling thread's timer slack.
        unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1000 as libc::c_ulong) };
    }
    let n = plant.joints.len();
    let mut buses = Buses::start(&mut plant, clock_arc.clone(), opts.rt_priority)?;
    let mut schedule = opts.schedule.clone();
    schedule.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut schedule = std::collections::VecDeque::from(schedule);
    // Per joint: the newest sample sent and not yet answered, when it was sent (wall),
    // and since when the service has owed a reply (wall; cleared by any reply).
    let mut awaiting = vec![None::<u64>; n];
    let mut last_sent = vec![Duration::ZERO; n];
    let mut owed_since = vec![None::<Duration>; n];
    let mut prev_late = Duration::ZERO;
    let mut stall_reported = false;
    let duration = opts.duration_s.unwrap_or(scene.duration_s);
    let total = (duration / plant.dt).round() as u64;
    let dt = Duration::from_secs_f64(plant.dt);
    let mut lateness_us = Vec::with_capacity(total as usize);
    let every = (total / 200).max(1);
    let start = clock.now();
    for step in 0..total {
        let deadline = start + dt * step as u32;
        clock.pace_to(deadline);
        let late = clock.now().saturating_sub(deadline);
        // Which joints' periods come due this step (decided once: a joint handing
        // over to a servo is served by both its controller and its bus).
        let due_now: Vec<bool> = (0..n).map(|i| plant.due(i)).collect();
        if plant.timeline() {
            buses.impair(&plant);
        }
        lateness_us.push(late.as_secs_f64() * 1e6);
        // Lateness grows only while this thread could not run (the process or the
        // machine stalled). Services could not run then either: that time is not
        // held against them.
        let stalled = late.saturating_sub(prev_late);
        prev_late = late;
        if stalled > Duration::from_micros(200) {
            for o in owed_since.iter_mut().flatten() {
                *o += stalled;
            }
        }
        for i in 0..n {
            mail.flush(i, &ports[i]);
            // Collect replies.
            loop {
                match ports[i].from_service.try_recv() {
                    Ok(ServiceOutput::Command { seq, torque, .. }) => {
                        if awaiting[i] == Some(seq) {
                            awaiting[i] = None;
                            owed_since[i] = None;
                        } else if awaiting[i].is_some() {
                            // An older sample's reply: alive, still owes the newest one.
                            owed_since[i] = Some(last_sent[i]);
                        }
                        let sent_at = sent_time(&plant, i, seq);
                        plant.command(i, torque, sent_at);
                        plant.replied(i);
                    }
                    Ok(ServiceOutput::Died { message, .. }) => {
                        plant.symptom(i, Symptom::Died, &message);
                        plant.controller_failed(i, "controller_panic", message);
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        if plant.joints[i].mode == DriveMode::Controller {
                            plant.fault(i, "service_gone", "joint service thread ended".into());
                        }
                        break;
                    }
                }
            }
            if plant.restart_due(i) {
                let (s, p) = factory.build(i, &plant.struck(i));
                // Abandon the old service: a thread stuck in a hang is released by
                // its cancel flag and ends; a late reply from it goes nowhere.
                ports[i].cancel.store(true, Ordering::Relaxed);
                ports[i] = p;
                threads.push(spawn_service(s, &stop, &ready_tx, opts.rt_priority)?);
                awaiting[i] = None;
                owed_since[i] = None;
                mail.restarted(i);
                plant.restarted(i);
            }
            if plant.joints[i].mode != DriveMode::Controller || !due_now[i] {
                continue;
            }
            // Lateness is judged on the wall clock: after a stall of the physics
            // thread, catch-up steps come faster than real time and a service that
            // has had less than one period to answer is not late.
            if let Some(since) = owed_since[i] {
                let period = Duration::from_secs_f64(plant.joints[i].period);
                let waited = clock.now().saturating_sub(since);
                // (10 % slack: the next tick comes exactly one period after the send.)
                if waited + period / 10 < period {
                    continue;
                }
                plant.joints[i].stats.deadline_misses += 1;
                let now = clock.now();
                // Another service late at the same moment points at the machine (a
                // stalled CPU), not at this controller: such correlated silence is
                // given up to `SYSTEMIC_GRACE` before anyone is faulted. A lone
                // silent service is faulted after `silent_periods`.
                let others_late = (0..n).any(|k| {
                    k != i
                        && plant.joints[k].mode == DriveMode::Controller
                        && owed_since[k].is_some_and(|o| {
                            now.saturating_sub(o) >= Duration::from_secs_f64(plant.joints[k].period)
                        })
                });
                if !others_late {
                    // A lone late service is the service's problem: flag it. Lateness
                    // shared with others is the machine's (counted, not flagged).
                    plant.late(i);
                }
                if others_late && waited < SYSTEMIC_GRACE {
                    if !stall_reported {
                        stall_reported = true;
                        plant.event(
                            usize::MAX,
                            "system_stall",
                            format!(
                                "several services silent at once ({:.1} ms); not faulting yet",
                                waited.as_secs_f64() * 1e3
                            ),
                        );
                    }
                } else if waited + period / 10
                    >= period * plant.joints[i].supervision.silent_periods
                {
                    plant.symptom(i, Symptom::Silent, "no reply");
                    plant.controller_failed(
                        i,
                        "controller_hang",
                        format!(
                            "no reply for {:.1} ms ({} control periods)",
                            waited.as_secs_f64() * 1e3,
                            plant.joints[i].supervision.silent_periods
                        ),
                    );
                    awaiting[i] = None;
                    owed_since[i] = None;
                    continue;
                }
                // Still working on the sample in flight: a fresh sample follows its
                // reply (queueing more would only make a slow service slower).
                continue;
            }
            let input = plant.sample(i);
            if plant.joints[i].mode != DriveMode::Controller {
                continue; // the sample tripped the joint (following error)
            }
            let seq = plant.joints[i].seq;
            // A full inbox means the service has not even taken the previous sample:
            // keep waiting for it (the miss was counted above). The sample is a piece
            // of work on the run's clock until the service has answered it.
            clock.work_begins();
            let sent = ports[i].to_service.try_send(ServiceInput {
                seq,
                input,
                reset: std::mem::take(&mut plant.joints[i].reset_controller),
            });
            if sent.is_err() {
                clock.work_ends();
            } else {
                awaiting[i] = Some(seq);
                last_sent[i] = clock.now();
                owed_since[i].get_or_insert(last_sent[i]);
            }
        }
        // Commands: scheduled ones whose time has come, then any sent on the channel.
        let mut commands = Vec::new();
        while schedule.front().is_some_and(|(t, _)| *t <= plant.t + 1e-9) {
            if let Some((_, c)) = schedule.pop_front() {
                commands.push(c);
            }
        }
        if let Some(rx) = &opts.control {
            while let Ok(c) = rx.try_recv() {
                commands.push(c);
            }
        }
        if !commands.is_empty() {
            for c in commands {
                if let Some((i, m)) = super::command::apply(&mut plant, c)
                    && let Err(why) = mail.send(i, m, &ports[i], &mut factory)
                {
                    plant.event(i, "command_refused", why);
                }
            }
            buses.sync(&mut plant)?;
        }
        // Hardware joints: take the buses' news, send each bus its goals when due.
        buses.exchange(&mut plant, &due_now);
        plant.hw_supervise();
        if plant.stop_requested.is_some() || super::stop_asked(opts) {
            break;
        }
        for j in plant.joints.iter_mut() {
            if j.mode == DriveMode::Controller {
                let age = plant.t - j.command_t;
                j.stats.max_command_age_s = j.stats.max_command_age_s.max(age);
            }
        }
        plant.step();
        if step % every == 0 {
            progress(plant.t, duration);
        }
        if let Some(p) = &mut publisher {
            p.publish(clock.now(), &plant, None, &factory, false);
        }
    }
    progress(plant.t, duration);
    let wall = (clock.now() - start).as_secs_f64();
    buses.stop();
    stop.store(true, Ordering::Relaxed);
    factory.run_cancel.store(true, Ordering::Relaxed);
    for p in &ports {
        p.cancel.store(true, Ordering::Relaxed);
    }
    drop(ports);
    // Hung threads are released by `cancel`; give every thread a moment to end so
    // nothing outlives the run, but never let a controller that ignores the cancel
    // hold the run: it stays detached. (OS threads end on the machine's time, not
    // on the run's clock, which a test may hold still.)
    let os = crate::sys::clock::WallClock::new();
    let until = Duration::from_millis(500);
    for t in threads {
        while !t.is_finished() && os.now() < until {
            std::thread::sleep(Duration::from_millis(1));
        }
        if t.is_finished() {
            let _ = t.join();
        }
    }
    if opts.rt_priority.is_some() {
        // Back to normal scheduling for whatever the calling thread does next.
        #[cfg(target_os = "linux")]
        {
            let param = libc::sched_param { sched_priority: 0 };
            // SAFETY: as in `priority::set_fifo`: only the calling thread is affected.
            unsafe { libc::sched_setscheduler(0, libc::SCHED_OTHER, &param) };
        }
    }
    let aborted = plant.stop_requested.clone();
    let mut report = plant.report(scene, "realtime", wall, aborted);
    super::finish_recorder(&mut plant, recorder, &mut report);
    report.step_lateness_us = Some(percentiles(&mut lateness_us));
    if let Some(p) = &mut publisher {
        p.publish(clock.now(), &plant, None, &factory, true);
        p.finish(&report);
    }
    Ok(report)
}

/// Sim time at which sample `seq` of joint `i` was taken (samples are periodic).
fn sent_time(plant: &Plant, i: usize, seq: u64) -> f64 {
    let j = &plant.joints[i];
    let behind = j.seq.saturating_sub(seq) as f64;
    (j.next_tick - j.period * (1.0 + behind)).max(0.0)
}

fn percentiles(v: &mut [f64]) -> Lateness {
    if v.is_empty() {
        return Lateness {
            p50: 0.0,
            p99: 0.0,
            p999: 0.0,
            max: 0.0,
        };
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    Lateness {
        p50: at(0.5),
        p99: at(0.99),
        p999: at(0.999),
        max: v[v.len() - 1],
    }
}

/// Starts a service's thread. It reports on `ready` once running (and scheduled as
/// asked) and serves until `stop`, its executor going away, or its death.
fn spawn_service(
    mut s: JointService,
    stop: &Arc<AtomicBool>,
    ready: &crossbeam::channel::Sender<()>,
    prio: Option<i32>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let stop = stop.clone();
    let ready = ready.clone();
    std::thread::Builder::new()
        .name(format!("joint-{}", s.name))
        .spawn(move || {
            if let Some(p) = prio {
                let _ = crate::sys::priority::set_fifo((p - 1).max(1));
            }
            let _ = ready.try_send(());
            while !stop.load(Ordering::Relaxed) && s.serve_one(Duration::from_millis(50)) {}
        })
}
