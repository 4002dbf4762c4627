//! `rmd reproduce`: runs a pipeline's stages as separate processes, reusing every cached
//! artifact, after printing a plan; then writes the report (results table and plots).
//!
//! Order: dataset import (always first, so missing data stops everything before any
//! training), noise settings, RM pre-training, relations, then every (noise, run, seed) of
//! the RGRL stage. The RM and relations artifacts do not depend on the noise, so every run
//! of a dataset and profile shares them, across pipelines too.

mod exec;
mod pipeline;
pub(crate) mod plots;
mod remote;
mod report;
mod toml_lines;

pub use exec::{Planned, StageFailed, StageRunner};
pub use pipeline::{
    NoiseSpec, Pipeline, ProfileSpec, RunSource, RunSpec, STUDENT, SeedOf, TeacherSource, TeacherSpec,
};
pub use remote::{PlannedArtifacts, pipelines_dir, planned_artifacts, push_name_record};
pub use report::{RunResult, write_report};

use anyhow::bail;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

/// Stage names accepted by `--force`.
pub const STAGES: [&str; 4] = ["noise", "pretrain", "relations", "distill"];

/// What to reproduce and how.
#[derive(Debug, Clone)]
pub struct ReproduceOptions {
    /// The pipeline (its file is already loaded).
    pub pipeline: Pipeline,
    /// The profile name.
    pub profile: String,
    /// Print the plan and stop.
    pub dry_run: bool,
    /// Compute nothing but the dataset record: write the report from the planned artifacts
    /// already in the store and list the others as pending (a partial table of a long
    /// pipeline, possibly still running in another process).
    pub cached_only: bool,
    /// Stages to recompute even when cached.
    pub force: Vec<String>,
    /// Report directory.
    pub out: PathBuf,
    /// Print progress lines.
    pub verbose: bool,
    /// A remote (configured name or URL) to pull every planned artifact it has from, before
    /// computing anything.
    pub remote: Option<String>,
    /// Upload every artifact of the plan (computed, cached or pulled) to `remote` at the end.
    pub push: bool,
    /// Point the dataset name at the remote's dataset even when this store's name points at
    /// another artifact.
    pub adopt_remote_dataset: bool,
}

/// What a reproduce run planned or did.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// The report directory.
    pub out: PathBuf,
    /// The dataset's name in the pipeline and its artifact key.
    pub dataset: (String, String),
    /// `(stage, key)` of every planned artifact the store has (after the run: all of them).
    pub present: Vec<(String, String)>,
    /// Planned artifacts the store does not have (a dry run's "to run" entries).
    pub missing: usize,
}

/// A teacher as a student uses it: the profile's teacher, and for a teacher made from the
/// classifier of the student's own noise setting or seed (`from_run` with `"student"`), that
/// noise setting and seed, which then tell one teacher artifact from another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct TeacherAt {
    /// Index into the profile's teachers.
    teacher: usize,
    /// The student's noise setting, when the teacher follows it.
    noise: Option<usize>,
    /// The student's seed, when the teacher follows it.
    seed: Option<u64>,
}

/// One stage invocation of the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Target {
    Noise(usize),
    Pretrain,
    /// The relations of a teacher.
    Relations(TeacherAt),
    /// `rmd label-issues` on a noise setting's labels with a teacher's relations, for the
    /// prune-and-retrain runs.
    LabelIssues {
        noise: usize,
        teacher: TeacherAt,
    },
    /// An RGRL-stage run; `teacher` is set for RGRL runs.
    Distill {
        noise: usize,
        run: usize,
        teacher: Option<TeacherAt>,
        seed: u64,
    },
}

impl Target {
    fn stage(self) -> &'static str {
        match self {
            Target::Noise(_) => "noise",
            Target::Pretrain => "pretrain",
            Target::Relations(_) => "relations",
            Target::LabelIssues { .. } => "label-issues",
            Target::Distill { .. } => "distill",
        }
    }

    fn bin(self) -> &'static str {
        match self {
            Target::Noise(_) => "rmd-noise",
            Target::Pretrain => "rmd-pretrain",
            Target::Relations(_) => "rmd-relations",
            Target::LabelIssues { .. } => "rmd",
            Target::Distill { .. } => "rmd-distill",
        }
    }
}

/// Keys known so far.
#[derive(Debug, Default)]
struct Keys {
    dataset: String,
    found: BTreeMap<Target, String>,
}

struct Ctx<'a> {
    p: &'a Pipeline,
    prof: &'a ProfileSpec,
    noise: Vec<&'a NoiseSpec>,
    runs: Vec<&'a RunSpec>,
    teachers: Vec<&'a TeacherSpec>,
    data_dir: PathBuf,
}

impl Ctx<'_> {
    /// Whether any run needs the RGRL teachers.
    fn any_rgrl(&self) -> bool {
        self.runs.iter().any(|r| r.rgrl)
    }

    /// Whether any run prunes with a teacher's label issues.
    fn any_pruning(&self) -> bool {
        self.runs.iter().any(|r| r.drop_flagged)
    }

    /// Whether the teachers' relations are computed: for RGRL or for pruning.
    fn needs_relations(&self) -> bool {
        self.any_rgrl() || self.any_pruning()
    }

    /// Whether the RM stage runs: a teacher from the RM is used, or an RM-initialised run.
    fn needs_rm(&self) -> bool {
        (self.needs_relations() && self.teachers.iter().any(|t| t.needs_rm()))
            || self.runs.iter().any(|r| r.init_from_rm)
    }

    /// The teachers a run uses (its `teachers`, else the profile's), by index.
    fn teachers_of(&self, run: &RunSpec) -> Vec<usize> {
        (0..self.teachers.len())
            .filter(|&t| run.teachers.as_ref().is_none_or(|ids| ids.contains(&self.teachers[t].id)))
            .collect()
    }

    /// The teacher whose label issues a pruning run drops: its first.
    fn pruning_teacher(&self, run: &RunSpec) -> Option<usize> {
        if run.drop_flagged { self.teachers_of(run).first().copied() } else { None }
    }

    /// Teacher `t` as the student of noise setting `noise` and seed `seed` uses it.
    fn teacher_at(&self, t: usize, noise: usize, seed: u64) -> TeacherAt {
        let src = self.teachers[t].from_run.as_ref();
        TeacherAt {
            teacher: t,
            noise: src.is_some_and(|s| s.follows_noise()).then_some(noise),
            seed: src.is_some_and(|s| s.seed == SeedOf::Student).then_some(seed),
        }
    }

    /// The teacher's `from_run` source with the student's noise setting and seed filled in.
    fn run_source(&self, t: TeacherAt) -> Option<RunSource> {
        let src = self.teachers[t.teacher].from_run.as_ref()?;
        let noise = t.noise.map(|n| self.noise[n].id.as_str()).unwrap_or(&src.noise);
        Some(src.for_student(noise, t.seed.unwrap_or(0)))
    }

    /// The run whose classifier teacher `t` is (`from_run`), as a target of the plan.
    fn source_of(&self, t: TeacherAt) -> Option<Target> {
        let src = self.run_source(t)?;
        let noise = self.noise.iter().position(|n| n.id == src.noise)?;
        let run = self.runs.iter().position(|r| r.name == src.run)?;
        let SeedOf::Fixed(seed) = src.seed else { return None };
        Some(Target::Distill { noise, run, teacher: None, seed })
    }

    /// The targets `t` takes an input from.
    fn inputs(&self, t: Target) -> Vec<Target> {
        match t {
            Target::Noise(_) | Target::Pretrain => vec![],
            Target::Relations(i) => match self.source_of(i) {
                Some(source) => vec![source],
                None if self.teachers[i.teacher].needs_rm() => vec![Target::Pretrain],
                None => vec![],
            },
            Target::LabelIssues { noise, teacher } => vec![Target::Noise(noise), Target::Relations(teacher)],
            Target::Distill { noise, run, teacher, seed } => {
                let r = self.runs[run];
                let mut v = vec![Target::Noise(noise)];
                v.extend(
                    self.pruning_teacher(r)
                        .map(|t| Target::LabelIssues { noise, teacher: self.teacher_at(t, noise, seed) }),
                );
                v.extend(teacher.map(Target::Relations));
                if r.init_from_rm {
                    v.push(Target::Pretrain);
                }
                v
            }
        }
    }

    /// The plan's targets, each after its inputs: noise, RM, relations, label issues and runs
    /// in that order, except that the run a `from_run` teacher is trained by moves ahead of
    /// that teacher's relations (and so of the runs that use it).
    fn targets(&self) -> Vec<Target> {
        let mut pending = self.targets_unordered();
        let mut ordered: Vec<Target> = Vec::with_capacity(pending.len());
        while !pending.is_empty() {
            // The first pending target whose inputs are all placed or not planned (validation
            // guarantees one: a teacher's source run never uses a teacher).
            let ready = pending
                .iter()
                .position(|t| self.inputs(*t).iter().all(|i| !pending.contains(i)))
                .expect("the plan has no dependency cycle");
            ordered.push(pending.remove(ready));
        }
        ordered
    }

    /// Every (noise, run, seed) the profile trains, in table order.
    fn students(&self) -> Vec<(usize, usize, u64)> {
        let mut v = Vec::new();
        for (n, noise) in self.noise.iter().enumerate() {
            for (r, run) in self.runs.iter().enumerate() {
                if !run.applies_to(&noise.id) {
                    continue;
                }
                for &seed in &self.prof.seeds {
                    if run.seeds.as_ref().is_none_or(|s| s.contains(&seed)) {
                        v.push((n, r, seed));
                    }
                }
            }
        }
        v
    }

    fn targets_unordered(&self) -> Vec<Target> {
        let mut t: Vec<Target> = (0..self.noise.len()).map(Target::Noise).collect();
        let push = |t: &mut Vec<Target>, x: Target| {
            if !t.contains(&x) {
                t.push(x);
            }
        };
        if self.needs_rm() {
            t.push(Target::Pretrain);
        }
        // Relations: a fixed teacher's once, a per-student teacher's once per student that
        // uses it (RGRL or pruning), in the order of the students.
        let students = self.students();
        let used_by = |(n, r, seed): (usize, usize, u64)| -> Vec<TeacherAt> {
            let run = self.runs[r];
            let mut v: Vec<TeacherAt> = Vec::new();
            if run.rgrl {
                v.extend(self.teachers_of(run).into_iter().map(|i| self.teacher_at(i, n, seed)));
            }
            v.extend(self.pruning_teacher(run).map(|i| self.teacher_at(i, n, seed)));
            v
        };
        if self.needs_relations() {
            for i in 0..self.teachers.len() {
                if self.teachers[i].from_run.as_ref().is_none_or(|s| !s.per_student()) {
                    push(&mut t, Target::Relations(TeacherAt { teacher: i, noise: None, seed: None }));
                }
            }
            for &s in &students {
                for at in used_by(s) {
                    push(&mut t, Target::Relations(at));
                }
            }
        }
        for &(n, r, seed) in &students {
            if let Some(i) = self.pruning_teacher(self.runs[r]) {
                push(&mut t, Target::LabelIssues { noise: n, teacher: self.teacher_at(i, n, seed) });
            }
        }
        for (n, _) in self.noise.iter().enumerate() {
            for (r, run) in self.runs.iter().enumerate() {
                let teachers: Vec<Option<usize>> =
                    if run.rgrl { self.teachers_of(run).into_iter().map(Some).collect() } else { vec![None] };
                for teacher in teachers {
                    for &(sn, sr, seed) in &students {
                        if (sn, sr) == (n, r) {
                            let teacher = teacher.map(|i| self.teacher_at(i, n, seed));
                            t.push(Target::Distill { noise: n, run: r, teacher, seed });
                        }
                    }
                }
            }
        }
        t
    }

    /// A per-student teacher whose source run the profile does not train for some student.
    fn missing_source(&self, targets: &[Target]) -> Option<String> {
        targets.iter().find_map(|t| {
            let Target::Relations(at) = *t else { return None };
            let src = self.run_source(at)?;
            match self.source_of(at) {
                Some(s) if targets.contains(&s) => None,
                _ => Some(format!(
                    "teacher '{}' is the classifier of run '{}' (noise '{}', seed {}), which this profile does not train: add the run, noise setting and seed to the profile, or leave the teacher out of its `teachers`",
                    self.teachers[at.teacher].id, src.run, src.noise, src.seed
                )),
            }
        })
    }

    fn label(&self, t: Target) -> String {
        match t {
            Target::Noise(i) => self.noise[i].id.clone(),
            Target::Pretrain => format!("RM, profile {}", self.prof.stage_profile),
            Target::Relations(t) => {
                format!("teacher {} {}", self.teacher_name(t), self.p.relations.args.join(" "))
            }
            Target::LabelIssues { noise, teacher } => {
                format!("{} flagged by teacher {}", self.noise[noise].id, self.teacher_name(teacher))
            }
            Target::Distill { noise, run, teacher, seed } => {
                let with = teacher.map(|t| format!(" @{}", self.teachers[t.teacher].id)).unwrap_or_default();
                format!("{} {}{with} seed {seed}", self.noise[noise].id, self.runs[run].name)
            }
        }
    }

    /// A teacher's id, with the noise setting and seed it follows for a per-student teacher
    /// (`c2d-net[sym-0.5 s2]`).
    fn teacher_name(&self, t: TeacherAt) -> String {
        let id = &self.teachers[t.teacher].id;
        let mut of: Vec<String> = Vec::new();
        of.extend(t.noise.map(|n| self.noise[n].id.clone()));
        of.extend(t.seed.map(|s| format!("s{s}")));
        if of.is_empty() { id.clone() } else { format!("{id}[{}]", of.join(" ")) }
    }

    fn extra(&self, stage: &str) -> Vec<String> {
        self.prof.args.get(stage).cloned().unwrap_or_default()
    }

    /// The stage's arguments, or None while an input's key is unknown.
    fn args(&self, t: Target, keys: &Keys) -> Option<Vec<String>> {
        let profile = || vec!["--profile".to_string(), self.prof.stage_profile.clone()];
        let mut a: Vec<String> = Vec::new();
        match t {
            Target::Noise(i) => {
                let n = self.noise[i];
                a.extend(["--dataset".into(), keys.dataset.clone()]);
                a.extend(n.args.iter().cloned());
                if let Some(f) = &n.data_file {
                    a.extend(["--labels-file".into(), self.data_dir.join(f).display().to_string()]);
                }
            }
            Target::Pretrain => {
                a.extend(["--dataset".into(), keys.dataset.clone()]);
                a.extend(profile());
                a.extend(self.p.pretrain.args.iter().cloned());
                a.extend(self.extra("pretrain"));
            }
            Target::Relations(t) => {
                let teacher = self.teachers[t.teacher];
                match teacher.source() {
                    TeacherSource::Run(_) => {
                        let source = self.source_of(t).expect("from_run teachers have a planned source");
                        a.extend(["--classifier".into(), keys.found.get(&source)?.clone()])
                    }
                    TeacherSource::Synthetic(purity) => a.extend([
                        "--dataset".into(),
                        keys.dataset.clone(),
                        "--synthetic-purity".into(),
                        purity.to_string(),
                    ]),
                    TeacherSource::Embeddings(file) => a.extend([
                        "--dataset".into(),
                        keys.dataset.clone(),
                        "--embeddings".into(),
                        self.p.resolve_path(file).display().to_string(),
                    ]),
                    TeacherSource::Rm => {
                        a.extend(["--encoder".into(), keys.found.get(&Target::Pretrain)?.clone()])
                    }
                }
                a.extend(teacher.args.iter().cloned());
                a.extend(self.p.relations.args.iter().cloned());
                a.extend(self.extra("relations"));
            }
            Target::LabelIssues { noise, teacher } => {
                a.extend([
                    "label-issues".into(),
                    "--noise".into(),
                    keys.found.get(&Target::Noise(noise))?.clone(),
                    "--relations".into(),
                    keys.found.get(&Target::Relations(teacher))?.clone(),
                ]);
            }
            Target::Distill { noise, run, teacher, seed } => {
                let r = self.runs[run];
                a.extend(["--noise".into(), keys.found.get(&Target::Noise(noise))?.clone()]);
                if let Some(t) = self.pruning_teacher(r) {
                    let teacher = self.teacher_at(t, noise, seed);
                    let issues = keys.found.get(&Target::LabelIssues { noise, teacher })?.clone();
                    a.extend(["--drop-flagged".into(), issues]);
                }
                if let Some(t) = teacher {
                    a.extend(["--relations".into(), keys.found.get(&Target::Relations(t))?.clone()]);
                }
                if r.init_from_rm {
                    a.extend(["--init-from-rm".into(), keys.found.get(&Target::Pretrain)?.clone()]);
                }
                a.extend(["--loss".into(), r.loss.clone(), "--seed".into(), seed.to_string()]);
                a.extend(profile());
                a.extend(self.extra("distill"));
                a.extend(r.args.iter().cloned());
            }
        }
        Some(a)
    }

    fn minutes(&self, t: Target) -> f64 {
        self.prof.minutes.get(t.stage()).copied().unwrap_or(0.0)
    }
}

/// Runs every planned stage the store lacks (and the forced ones), in plan order, recording
/// each new key so later stages get their inputs.
fn execute(
    ctx: &Ctx,
    plan: &[(Target, Planned)],
    keys: &mut Keys,
    to_run: usize,
    forced: &dyn Fn(Target) -> bool,
    runner: &StageRunner,
    v: bool,
) -> anyhow::Result<()> {
    let mut step = 0;
    for (t, planned) in plan {
        if planned.is_cached() && !forced(*t) {
            continue;
        }
        step += 1;
        let mut args = ctx.args(*t, keys).expect("inputs ran before");
        if forced(*t) {
            args.push("--force".into());
        } else if matches!(t, Target::Pretrain | Target::Distill { .. }) {
            // A training stage interrupted in an earlier invocation continues from its last
            // checkpoint (a resumed run ends byte-identical to an uninterrupted one).
            args.push("--resume".into());
        }
        say(v, format!("[{step}/{to_run}] {} {} (~{} min)", t.bin(), ctx.label(*t), ctx.minutes(*t)));
        let (key, secs) = runner.run(t.bin(), &args)?;
        say(v, format!("[{step}/{to_run}] done in {:.1} min: {}", secs / 60.0, &key[..12]));
        keys.found.insert(*t, key);
    }
    Ok(())
}

fn say(verbose: bool, msg: impl AsRef<str>) {
    if verbose {
        eprintln!("{}", msg.as_ref());
    }
}

/// Runs a pipeline; returns the report directory.
pub fn reproduce(opts: &ReproduceOptions, runner: &StageRunner) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let p = &opts.pipeline;
    let prof = p.profile(&opts.profile)?;
    for f in &opts.force {
        if !STAGES.contains(&f.as_str()) {
            bail!("--force {f}: expected one of {}", STAGES.join(", "));
        }
    }
    if opts.cached_only && (opts.dry_run || opts.push || !opts.force.is_empty()) {
        bail!("--cached-only computes nothing: it goes with neither --dry-run, --push nor --force");
    }
    crate::cli::check_output_dir(&opts.out, "--out")?;
    let ctx = Ctx {
        p,
        prof,
        noise: p.noise_for(prof),
        runs: p.runs_for(prof),
        teachers: p.teachers_for(prof),
        data_dir: runner.data_dir.clone(),
    };
    if ctx.needs_relations() && ctx.teachers.is_empty() {
        bail!("profile {}: RGRL or pruning runs but no teacher", opts.profile);
    }
    if let Some(r) = ctx.runs.iter().find(|r| r.drop_flagged && ctx.pruning_teacher(r).is_none()) {
        bail!(
            "profile {}: run {} prunes with a teacher's label issues, but none of its teachers is in the profile",
            opts.profile,
            r.name
        );
    }
    let v = opts.verbose;
    say(
        v,
        format!(
            "pipeline {} ({}), profile {} (stage profile {}), store {}",
            p.name,
            p.description,
            opts.profile,
            prof.stage_profile,
            runner.store.display()
        ),
    );

    // The dataset first: without it nothing else can be planned, and a missing dataset
    // must stop the pipeline before any training.
    let dataset_args: Vec<String> = match &p.import {
        None => vec!["dataset".into(), p.dataset.clone(), "-q".into()],
        Some(i) => {
            let mut a = vec!["dataset".into(), "--from".into(), i.from.clone()];
            a.push(p.resolve_path(&i.path).display().to_string());
            a.extend(["--name".into(), p.dataset.clone()]);
            a.extend(i.args.iter().cloned());
            a.push("-q".into());
            a
        }
    };
    let mut remote_dataset = remote::RemoteDataset::None;
    let remote = match &opts.remote {
        Some(r) => {
            let store = rmd_store::Store::open(&runner.store)?
                .with_content_check(rmd_data::artifact_check::check_artifact);
            let remote = crate::remote_cmd::open_remote(&store, r, opts.push)?;
            say(v, format!("remote {}", remote.label()));
            if p.import.is_none() {
                remote_dataset = remote::pull_dataset(
                    &remote,
                    &store,
                    &p.dataset,
                    opts.dry_run,
                    opts.adopt_remote_dataset,
                    v,
                )?;
            }
            Some((remote, store))
        }
        None => None,
    };
    if opts.push && remote.is_none() {
        bail!("--push needs --remote");
    }
    // A dry run that would take the dataset from the remote plans with the remote's key
    // (nothing is downloaded or written); else the dataset is imported or found here.
    let (dataset, dataset_here) = match remote_dataset {
        remote::RemoteDataset::WouldPull { key, have } => (key, have),
        _ => (runner.run("rmd", &dataset_args)?.0, true),
    };
    if !dataset_here {
        say(v, "  (the dataset is not in this store yet: the stages are planned once it is pulled)");
    }
    let mut keys = Keys { dataset: dataset.clone(), ..Keys::default() };

    // Plan.
    let targets = ctx.targets();
    if let Some(e) = ctx.missing_source(&targets) {
        return Err(crate::cli::UsageError(format!("profile {}: {e}", opts.profile)).into());
    }
    let mut plan: Vec<(Target, Planned)> = Vec::new();
    let mut pulled: Vec<Target> = Vec::new();
    let forced = |t: Target| opts.force.iter().any(|f| f == t.stage());
    for &t in &targets {
        let mut planned = match ctx.args(t, &keys) {
            Some(args) if dataset_here => runner.plan(t.bin(), &args)?,
            _ => Planned::AfterInputs,
        };
        // Computed by someone else: pulled (verified and installed) before anything runs
        // here; a dry run only marks it.
        if let (Planned::Run(k), Some((remote, store))) = (&planned, &remote)
            && !forced(t)
            && remote.has(t.stage(), k)?
        {
            pulled.push(t);
            if !opts.dry_run {
                let s = remote.pull(
                    store,
                    &[(t.stage().to_string(), k.clone())],
                    &crate::remote_cmd::stage_names(store),
                )?;
                say(v, format!("  pulled {} {} ({})", t.stage(), &k[..12], s.line("pulled")));
                planned = Planned::Cached(k.clone());
            }
        }
        if let Planned::Cached(k) = &planned {
            keys.found.insert(t, k.clone());
        }
        plan.push((t, planned));
    }
    say(v, format!("  {:<10} {:<38} cached {}", "dataset", p.dataset, &dataset[..12]));
    let mut to_run = 0;
    let mut minutes = 0.0;
    for (t, planned) in &plan {
        let status = match planned {
            Planned::Cached(k) if forced(*t) => format!("forced   {} (~{} min)", &k[..12], ctx.minutes(*t)),
            Planned::Cached(k) if pulled.contains(t) => format!("remote   {} (pulled)", &k[..12]),
            Planned::Run(k) if pulled.contains(t) => format!("remote   {} (would be pulled)", &k[..12]),
            Planned::Cached(k) => format!("cached   {}", &k[..12]),
            Planned::Run(k) => format!("run      {} (~{} min)", &k[..12], ctx.minutes(*t)),
            Planned::AfterInputs => format!("run after its inputs (~{} min)", ctx.minutes(*t)),
        };
        if (!planned.is_cached() && !pulled.contains(t)) || forced(*t) {
            to_run += 1;
            minutes += ctx.minutes(*t);
        }
        say(v, format!("  {:<10} {:<38} {status}", t.stage(), ctx.label(*t)));
    }
    say(
        v,
        format!(
            "plan: {} cached, {}{to_run} to run, estimated {:.0} min",
            plan.len() - to_run - pulled.len(),
            if remote.is_some() { format!("{} from the remote, ", pulled.len()) } else { String::new() },
            minutes.ceil()
        ),
    );
    let mut outcome = Outcome {
        out: opts.out.clone(),
        dataset: (p.dataset.clone(), dataset.clone()),
        ..Outcome::default()
    };
    if opts.dry_run {
        for (t, planned) in &plan {
            match planned {
                Planned::Cached(k) => outcome.present.push((t.stage().to_string(), k.clone())),
                _ => outcome.missing += 1,
            }
        }
        return Ok(outcome);
    }

    // What stays out of a --cached-only report.
    let pending: Vec<String> = if opts.cached_only {
        plan.iter()
            .filter(|(_, planned)| !planned.is_cached())
            .map(|(t, _)| format!("{} {}", t.stage(), ctx.label(*t)))
            .collect()
    } else {
        Vec::new()
    };
    if opts.cached_only {
        say(
            v,
            format!(
                "--cached-only: nothing computed; the report leaves out the {} planned artifacts not in the store",
                pending.len()
            ),
        );
    } else {
        execute(&ctx, &plan, &mut keys, to_run, &forced, runner, v)?;
    }
    outcome.present = targets
        .iter()
        .filter_map(|t| keys.found.get(t).map(|k| (t.stage().to_string(), k.clone())))
        .collect();
    if opts.push
        && let Some((remote, store)) = &remote
    {
        let mut all: Vec<String> = vec![dataset.clone()];
        all.extend(outcome.present.iter().map(|(_, k)| k.clone()));
        let s = remote.push(store, &all)?;
        for n in &s.notes {
            say(v, format!("note: {n}"));
        }
        if p.import.is_none() {
            remote::push_name_record(remote, &p.dataset, &dataset)?;
        }
        say(v, s.line("pushed"));
    }

    // Report.
    let mut results = Vec::new();
    for t in &targets {
        if let Target::Distill { noise, run, teacher, seed } = *t {
            let Some(key) = keys.found.get(t) else { continue };
            let teacher = teacher.map(|i| ctx.teachers[i.teacher].id.as_str());
            results.push(RunResult::read(
                &runner.store,
                key,
                ctx.noise[noise],
                ctx.runs[run],
                teacher,
                seed,
            )?);
        }
    }
    let noise_keys: Vec<(String, String)> = (0..ctx.noise.len())
        .filter_map(|i| keys.found.get(&Target::Noise(i)).map(|k| (ctx.noise[i].id.clone(), k.clone())))
        .collect();
    write_report(&report::ReportInput {
        pipeline: p,
        profile: &opts.profile,
        store: &runner.store,
        dataset: &dataset,
        encoder: keys.found.get(&Target::Pretrain).map(String::as_str),
        teachers: &targets
            .iter()
            .filter_map(|t| match *t {
                Target::Relations(at) => keys.found.get(t).map(|k| {
                    // A per-student teacher is listed once per student, its source named.
                    let mut spec = ctx.teachers[at.teacher].clone();
                    spec.from_run = ctx.run_source(at);
                    (spec, k.clone())
                }),
                _ => None,
            })
            .collect::<Vec<_>>(),
        noise: &noise_keys,
        results: &results,
        pending: &pending,
        out: &opts.out,
        wall_seconds: (!opts.cached_only).then(|| started.elapsed().as_secs_f64()),
    })?;
    say(
        v,
        format!(
            "report in {} ({} runs, {:.1} s)",
            opts.out.display(),
            results.len(),
            started.elapsed().as_secs_f64()
        ),
    );
    Ok(outcome)
}
