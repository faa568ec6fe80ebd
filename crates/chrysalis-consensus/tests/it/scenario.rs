//! Seeded scenarios: a validator set, Byzantine roles, and a fault schedule
//! drawn from the seed, run to stabilisation with the checker after every step.

use crate::checker::{Checker, check_progress, check_states};
use crate::node::{Byzantine, Node, tx_valid};
use chrysalis_consensus::{
    BftEngine, EngineConfig, Height, Message, SigningKey, Validator, ValidatorIndex, ValidatorSet,
};
use chrysalis_sim::{Faults, Pid, Sim, SimFailure, SimRng};
use std::collections::BTreeSet;

/// Which engine build runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Variant {
    Correct,
    /// BROKEN: n = 3f accepted, quorum n − f.
    ThreeF,
    /// BROKEN: quorum n/2 + 1.
    HalfQuorum,
    /// BROKEN: signatures not checked.
    SkipSignatures,
}

/// Who is in the run and how they misbehave.
#[derive(Clone, Debug)]
pub(crate) struct Setup {
    pub validators: usize,
    /// Validators that run a second instance with the same key.
    pub twins: Vec<usize>,
    pub byzantine: Vec<(usize, Byzantine)>,
    /// Validators whose disk is wiped once during the run (amnesia).
    pub amnesia: Vec<usize>,
    pub variant: Variant,
    /// The faulty power the set is declared to tolerate (ThreeF uses it).
    pub declared_f: u64,
    /// Validators wait for transactions before starting a height.
    pub wait_for_txs: bool,
    /// Each validator's clients submit a transaction this often.
    pub client_period_ms: u64,
}

pub(crate) fn keys(n: usize) -> Vec<SigningKey> {
    (0..n)
        .map(|i| {
            let mut seed = [0x5A; 32];
            seed[..8].copy_from_slice(&(i as u64).to_be_bytes());
            SigningKey::from(seed)
        })
        .collect()
}

pub(crate) fn validator_set(setup: &Setup, keys: &[SigningKey]) -> ValidatorSet {
    let vals: Vec<Validator> = keys
        .iter()
        .map(|k| Validator {
            key: k.verification_key(),
            power: 1,
        })
        .collect();
    match setup.variant {
        Variant::Correct | Variant::SkipSignatures => {
            ValidatorSet::tolerating(vals, setup.declared_f).expect("a valid set")
        }
        Variant::ThreeF => ValidatorSet::broken_three_f(vals, setup.declared_f).expect("set"),
        Variant::HalfQuorum => ValidatorSet::broken_half_quorum(vals).expect("set"),
    }
}

/// The default client period: every validator's clients keep it busy.
pub(crate) const BUSY_CLIENTS_MS: u64 = 20;

pub(crate) fn config() -> EngineConfig {
    let mut c = EngineConfig {
        tx_valid,
        timeout_propose_ms: 100,
        timeout_prevote_ms: 50,
        timeout_precommit_ms: 50,
        timeout_delta_ms: 10,
        rebroadcast_ms: 100,
        commit_wait_ms: 100,
        ..EngineConfig::default()
    };
    c.mempool.max_block_txs = 64;
    c
}

/// Builds the processes: validator `i` is pid `i`; twins follow.
pub(crate) fn build(seed: u64, setup: &Setup, faults: Faults) -> (Sim<Node>, ValidatorSet) {
    let cfg = EngineConfig {
        wait_for_txs: setup.wait_for_txs,
        ..config()
    };
    build_with(seed, setup, faults, cfg)
}

/// [`build`] with every validator's engine configured as `cfg`.
pub(crate) fn build_with(
    seed: u64,
    setup: &Setup,
    faults: Faults,
    cfg: EngineConfig,
) -> (Sim<Node>, ValidatorSet) {
    let keys = keys(setup.validators);
    let set = validator_set(setup, &keys);
    let n_pids = (setup.validators + setup.twins.len()) as u32;
    let mut procs = Vec::new();
    let roles = (0..setup.validators).chain(setup.twins.iter().copied());
    for (pid, v) in roles.enumerate() {
        let byz = setup
            .byzantine
            .iter()
            .find(|(i, _)| *i == v)
            .map(|(_, b)| *b)
            .unwrap_or_default();
        let twin = setup.twins.contains(&v);
        let mut node = Node::new(
            ValidatorIndex(v as u16),
            keys[v].clone(),
            set.clone(),
            cfg.clone(),
            Pid(pid as u32),
            n_pids,
            byz,
            twin,
        );
        node.skip_signatures = setup.variant == Variant::SkipSignatures;
        node.client_period_ms = setup.client_period_ms;
        procs.push(node);
    }
    (Sim::new(seed, procs, faults), set)
}

/// One fault the schedule applies.
#[derive(Clone, Debug)]
enum Action {
    Partition(Vec<Vec<Pid>>),
    OneWay(Vec<Pid>, Vec<Pid>),
    Crash(Pid),
    Wipe(Pid),
    Restart(Pid),
    Heal,
    Net(Faults),
}

fn random_faults(rng: &mut SimRng) -> Faults {
    Faults {
        loss: [0.0, 0.05, 0.2][rng.below(3) as usize],
        duplicate: [0.0, 0.1][rng.below(2) as usize],
        min_delay_ms: 1,
        max_delay_ms: [5, 40, 150][rng.below(3) as usize],
    }
}

fn random_split(rng: &mut SimRng, pids: &[Pid]) -> (Vec<Pid>, Vec<Pid>) {
    let mut all = pids.to_vec();
    rng.shuffle(&mut all);
    let cut = 1 + rng.below(all.len() as u64 - 1) as usize;
    let b = all.split_off(cut);
    (all, b)
}

/// The fault schedule for the faulty period `[0, heal_ms)`.
fn schedule(rng: &mut SimRng, setup: &Setup, n_pids: usize, heal_ms: u64) -> Vec<(u64, Action)> {
    let pids: Vec<Pid> = (0..n_pids as u32).map(Pid).collect();
    let mut out = vec![(0, Action::Net(random_faults(rng)))];
    for v in &setup.amnesia {
        let t = rng.between(100, heal_ms / 2);
        out.push((t, Action::Wipe(Pid(*v as u32))));
        out.push((t + rng.between(50, 500), Action::Restart(Pid(*v as u32))));
    }
    for _ in 0..rng.between(1, 4) {
        let t = rng.below(heal_ms);
        let action = match rng.below(5) {
            0 => {
                let (a, b) = random_split(rng, &pids);
                Action::Partition(vec![a, b])
            }
            1 => {
                let (a, b) = random_split(rng, &pids);
                Action::OneWay(a, b)
            }
            2 => Action::Heal,
            3 => Action::Net(random_faults(rng)),
            _ => {
                let p = pids[rng.below(n_pids as u64) as usize];
                out.push((t + rng.between(50, 800), Action::Restart(p)));
                Action::Crash(p)
            }
        };
        out.push((t, action));
    }
    out.sort_by_key(|(t, _)| *t);
    out
}

fn apply(sim: &mut Sim<Node>, action: Action) {
    match action {
        Action::Partition(groups) => sim.partition(&groups),
        Action::OneWay(a, b) => sim.block_one_way(&a, &b),
        Action::Crash(p) => sim.crash(p),
        Action::Wipe(p) => sim.wipe(p),
        Action::Restart(p) => {
            if !sim.is_up(p) {
                sim.restart(p)
            }
        }
        Action::Heal => sim.heal(),
        Action::Net(f) => sim.set_faults(f),
    }
}

/// What a run produced.
pub(crate) struct Outcome {
    pub trace: [u8; 32],
    pub max_height: Height,
    pub disagreements: u32,
    pub steps: u64,
    pub delivered: u64,
    /// Validators some honest engine holds double-sign evidence against.
    pub accused: BTreeSet<ValidatorIndex>,
}

fn accused(sim: &Sim<Node>) -> BTreeSet<ValidatorIndex> {
    sim.pids()
        .map(|p| sim.process(p))
        .filter(|n| n.honest())
        .filter_map(|n| n.engine.as_ref())
        .flat_map(|e| e.evidence().iter().map(|ev| ev.validator))
        .collect()
}

/// Runs one seed: faults until `heal_ms`, then a healed, reliable network
/// until `heal_ms + settle_ms`, checking invariants after every step and
/// progress at the end (unless `allow_disagreement`, where only safety with
/// evidence is judged).
pub(crate) fn run(
    seed: u64,
    setup: &Setup,
    heal_ms: u64,
    settle_ms: u64,
    allow_disagreement: bool,
) -> Result<Outcome, SimFailure> {
    run_with(seed, setup, heal_ms, settle_ms, allow_disagreement, |_| {})
}

/// [`run`], calling `inspect` at the heal and at the end.
pub(crate) fn run_inspect(
    seed: u64,
    setup: &Setup,
    heal_ms: u64,
    settle_ms: u64,
    inspect: impl Fn(&Sim<Node>),
) -> Result<Outcome, SimFailure> {
    run_with(seed, setup, heal_ms, settle_ms, false, inspect)
}

fn run_with(
    seed: u64,
    setup: &Setup,
    heal_ms: u64,
    settle_ms: u64,
    allow_disagreement: bool,
    inspect: impl Fn(&Sim<Node>),
) -> Result<Outcome, SimFailure> {
    let mut rng = SimRng::new(seed ^ 0xC0_05E7_5A05);
    let n_pids = setup.validators + setup.twins.len();
    let plan = schedule(&mut rng, setup, n_pids, heal_ms);
    let (mut sim, set) = build(seed, setup, Faults::default());
    let mut checker = Checker::new(set, n_pids);
    checker.allow_disagreement_with_evidence = allow_disagreement;
    for (t, action) in plan.into_iter().filter(|(t, _)| *t < heal_ms) {
        sim.run_until(t, |s| checker.check(s))?;
        apply(&mut sim, action);
    }
    sim.run_until(heal_ms, |s| checker.check(s))?;
    sim.heal();
    sim.set_faults(Faults::default());
    for p in (0..n_pids as u32).map(Pid) {
        if !sim.is_up(p) {
            sim.restart(p);
        }
    }
    replay_old_messages(&mut sim);
    let base = Checker::max_height(&sim);
    inspect(&sim);
    sim.run_until(heal_ms + settle_ms, |s| checker.check(s))?;
    inspect(&sim);
    if !allow_disagreement {
        check_progress(&sim, base, 2).map_err(|m| sim.failure(m))?;
        check_states(&sim).map_err(|m| sim.failure(m))?;
    }
    Ok(Outcome {
        trace: sim.trace_hash(),
        max_height: Checker::max_height(&sim),
        disagreements: checker.disagreements,
        steps: sim.stats().steps,
        delivered: sim.stats().delivered,
        accused: accused(&sim),
    })
}

/// A network-level replay attack: the first decided block with its
/// certificate, and each of its precommits, injected into every process
/// with a spoofed sender (they are old, so they must change nothing).
fn replay_old_messages(sim: &mut Sim<Node>) {
    let pids: Vec<Pid> = sim.pids().collect();
    let old = pids.iter().find_map(|p| {
        sim.process(*p)
            .decided
            .first()
            .map(|d| (d.2.clone(), d.3.clone()))
    });
    let Some((block, cert)) = old else { return };
    for (i, to) in pids.iter().enumerate() {
        let spoofed = pids[(i + 1) % pids.len()];
        sim.inject(spoofed, *to, Message::Commit(block.clone(), cert.clone()));
        for v in &cert.precommits {
            sim.inject(spoofed, *to, Message::Vote(*v));
        }
    }
}

/// The mixed family: n = 4 (f = 1) or n = 7 (f = 2), at most f faulty
/// validators drawn from every Byzantine flavour, twins and amnesia, plus
/// random network faults, partitions and crashes of anyone.
pub(crate) fn mixed_setup(seed: u64) -> Setup {
    let mut rng = SimRng::new(seed ^ 0x5E7_0F5E7);
    let (validators, f) = if rng.below(4) == 0 { (7, 2) } else { (4, 1) };
    let mut setup = Setup {
        validators,
        twins: vec![],
        byzantine: vec![],
        amnesia: vec![],
        variant: Variant::Correct,
        declared_f: f as u64,
        wait_for_txs: false,
        client_period_ms: BUSY_CLIENTS_MS,
    };
    // Drawn from their own stream, so the draws above stay as they were.
    let mut idle = SimRng::new(seed ^ 0x1D1E);
    if idle.below(2) == 0 {
        setup.wait_for_txs = true;
        setup.client_period_ms = [BUSY_CLIENTS_MS, 150, 400][idle.below(3) as usize];
    }
    let mut culprits: Vec<usize> = (0..validators).collect();
    rng.shuffle(&mut culprits);
    for &v in &culprits[..f] {
        let b = match rng.below(9) {
            0 => continue,
            1 => Byzantine {
                silent: true,
                ..Default::default()
            },
            2 => Byzantine {
                equivocate: true,
                ..Default::default()
            },
            3 => Byzantine {
                double_vote: true,
                ..Default::default()
            },
            4 => Byzantine {
                forge: true,
                ..Default::default()
            },
            5 => Byzantine {
                replay: true,
                ..Default::default()
            },
            6 => {
                setup.twins.push(v);
                continue;
            }
            7 => {
                setup.amnesia.push(v);
                continue;
            }
            _ => Byzantine {
                equivocate: true,
                double_vote: true,
                forge: true,
                replay: true,
                silent: false,
            },
        };
        setup.byzantine.push((v, b));
    }
    setup
}

/// A partition that puts each twinned validator's two instances on opposite
/// sides, with the honest validators split between them, for a random while;
/// then heal and settle. This is the schedule that breaks quorum
/// intersection when quorums are too small.
pub(crate) fn run_split(
    seed: u64,
    setup: &Setup,
    allow_disagreement: bool,
) -> Result<Outcome, SimFailure> {
    let mut rng = SimRng::new(seed ^ 0x5B11_7000);
    let n = setup.validators;
    let honest: Vec<usize> = (0..n).filter(|v| !setup.twins.contains(v)).collect();
    let (a_honest, b_honest) = honest.split_at(honest.len() / 2);
    let mut side_a: Vec<Pid> = setup.twins.iter().map(|&v| Pid(v as u32)).collect();
    side_a.extend(a_honest.iter().map(|&v| Pid(v as u32)));
    let mut side_b: Vec<Pid> = (n..n + setup.twins.len()).map(|p| Pid(p as u32)).collect();
    side_b.extend(b_honest.iter().map(|&v| Pid(v as u32)));
    let (mut sim, set) = build(seed, setup, Faults::default());
    for p in (0..(n + setup.twins.len()) as u32).map(Pid) {
        sim.process_mut(p).forensic = allow_disagreement;
    }
    sim.set_faults(Faults {
        loss: [0.0, 0.05][rng.below(2) as usize],
        duplicate: [0.0, 0.1][rng.below(2) as usize],
        min_delay_ms: 1,
        max_delay_ms: [5, 30][rng.below(2) as usize],
    });
    sim.partition(&[side_a, side_b]);
    let heal_ms = rng.between(300, 1_200);
    let mut checker = Checker::new(set, n + setup.twins.len());
    checker.allow_disagreement_with_evidence = allow_disagreement;
    sim.run_until(heal_ms, |s| checker.check(s))?;
    sim.heal();
    sim.set_faults(Faults::default());
    let base = Checker::max_height(&sim);
    sim.run_until(heal_ms + 1_500, |s| checker.check(s))?;
    if !allow_disagreement {
        check_progress(&sim, base, 2).map_err(|m| sim.failure(m))?;
    }
    Ok(Outcome {
        trace: sim.trace_hash(),
        max_height: Checker::max_height(&sim),
        disagreements: checker.disagreements,
        steps: sim.stats().steps,
        delivered: sim.stats().delivered,
        accused: accused(&sim),
    })
}
