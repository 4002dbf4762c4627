//! Pipeline files (`pipelines/NAME.toml`): the dataset, noise settings, stage arguments, the
//! runs to compare and the profiles.

use anyhow::{Context, bail};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One noise setting: `rmd-noise` arguments (after `--dataset`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoiseSpec {
    /// Short name used in reports (e.g. `asym-0.4`).
    pub id: String,
    /// `rmd-noise` arguments.
    pub args: Vec<String>,
    /// A label file under the data directory, passed as `--labels-file DATA_DIR/FILE`.
    #[serde(default)]
    pub data_file: Option<String>,
}

/// A dataset imported by `rmd dataset --from KIND PATH --name DATASET ARGS`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportSpec {
    /// Source kind: cifar-python, image-folder or image-list.
    pub from: String,
    /// The archive, folder or list, relative to the pipeline file unless absolute.
    pub path: PathBuf,
    /// Extra `rmd dataset` arguments (e.g. `--size 32`, `--test-fraction 0.2`).
    #[serde(default)]
    pub args: Vec<String>,
}

/// Extra arguments of a stage.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageArgs {
    /// Arguments appended to the stage's command line.
    #[serde(default)]
    pub args: Vec<String>,
}

/// A teacher of the RGRL runs: relations from the pipeline's RM encoder (the default), from
/// the backbone of a classifier one of the pipeline's runs trains, from embeddings computed
/// elsewhere, or a synthetic diagnostic teacher of known purity built from the clean labels.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeacherSpec {
    /// Short name used in reports (e.g. `rm`, `synthetic-0.9`).
    pub id: String,
    /// Build a synthetic teacher of this top-K purity (`rmd-relations --synthetic-purity`)
    /// instead of embedding with the RM encoder.
    #[serde(default)]
    pub synthetic_purity: Option<f64>,
    /// Build the teacher from embeddings computed elsewhere (`rmd-relations --embeddings`):
    /// an `.npy` or Parquet file, relative to the pipeline file unless absolute.
    #[serde(default)]
    pub embeddings: Option<PathBuf>,
    /// Build the teacher from the backbone of the classifier that one of this pipeline's runs
    /// trains (`rmd-relations --classifier`): that run goes first.
    #[serde(default)]
    pub from_run: Option<RunSource>,
    /// Extra `rmd-relations` arguments of this teacher (e.g. `--seed`).
    #[serde(default)]
    pub args: Vec<String>,
}

/// The run whose trained classifier is a teacher: which run, under which noise setting, with
/// which seed (all three named, so the teacher is never a guess). `noise = "student"` and
/// `seed = "student"` name the noise setting and seed of the run being taught: each student
/// then learns from its own first-round network, so the seeds stay independent.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSource {
    /// The run's name (a run without RGRL and without pruning).
    pub run: String,
    /// The noise setting it is trained under, or [`STUDENT`]: the student's.
    pub noise: String,
    /// Its seed, or the student's.
    pub seed: SeedOf,
}

/// The word that makes a `from_run` field follow the student (`noise = "student"`,
/// `seed = "student"`); no noise setting may be called so.
pub const STUDENT: &str = "student";

/// The seed of a `from_run` teacher: a fixed one, or the seed of each student it teaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedOf {
    /// This seed, for every student.
    Fixed(u64),
    /// The student's own seed.
    Student,
}

impl std::fmt::Display for SeedOf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SeedOf::Fixed(s) => write!(f, "{s}"),
            SeedOf::Student => write!(f, "the student's"),
        }
    }
}

impl<'de> Deserialize<'de> for SeedOf {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = SeedOf;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(f, "a seed (a whole number) or \"{STUDENT}\" (the seed of the run being taught)")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<SeedOf, E> {
                Ok(SeedOf::Fixed(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<SeedOf, E> {
                u64::try_from(v)
                    .map(SeedOf::Fixed)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(v), &self))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<SeedOf, E> {
                if v == STUDENT {
                    Ok(SeedOf::Student)
                } else {
                    Err(E::invalid_value(serde::de::Unexpected::Str(v), &self))
                }
            }
        }
        d.deserialize_any(V)
    }
}

impl RunSource {
    /// Whether the teacher differs per student (its noise setting or seed is the student's).
    pub fn per_student(&self) -> bool {
        self.follows_noise() || self.seed == SeedOf::Student
    }

    /// Whether the noise setting is the student's.
    pub fn follows_noise(&self) -> bool {
        self.noise == STUDENT
    }

    /// This source with the student's noise setting and seed filled in.
    pub fn for_student(&self, noise: &str, seed: u64) -> RunSource {
        RunSource {
            run: self.run.clone(),
            noise: if self.follows_noise() { noise.to_string() } else { self.noise.clone() },
            seed: match self.seed {
                SeedOf::Student => SeedOf::Fixed(seed),
                fixed => fixed,
            },
        }
    }
}

impl TeacherSpec {
    /// The RM-encoder teacher every pipeline has unless it lists its own.
    pub fn rm() -> TeacherSpec {
        TeacherSpec {
            id: "rm".into(),
            synthetic_purity: None,
            embeddings: None,
            from_run: None,
            args: vec![],
        }
    }

    /// Where the teacher's relations come from (the fields exclude each other: checked on
    /// load).
    pub fn source(&self) -> TeacherSource<'_> {
        match (self.synthetic_purity, &self.embeddings, &self.from_run) {
            (Some(purity), ..) => TeacherSource::Synthetic(purity),
            (None, Some(file), _) => TeacherSource::Embeddings(file),
            (None, None, Some(run)) => TeacherSource::Run(run),
            (None, None, None) => TeacherSource::Rm,
        }
    }

    /// Whether the teacher needs the RM stage.
    pub fn needs_rm(&self) -> bool {
        matches!(self.source(), TeacherSource::Rm)
    }
}

/// Where a teacher's relations come from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TeacherSource<'a> {
    /// The pipeline's RM encoder.
    Rm,
    /// A synthetic diagnostic teacher of this purity.
    Synthetic(f64),
    /// Embeddings from this file (as written in the pipeline file).
    Embeddings(&'a Path),
    /// The classifier a run of the pipeline trains.
    Run(&'a RunSource),
}

fn default_teachers() -> Vec<TeacherSpec> {
    vec![TeacherSpec::rm()]
}

/// One RGRL-stage run to compare.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSpec {
    /// Row name in the results table.
    pub name: String,
    /// Base loss (ce, gce, sce, elr).
    pub loss: String,
    /// With the relations artifact (RGRL on).
    #[serde(default)]
    pub rgrl: bool,
    /// Extra `rmd-distill` arguments (ablation switches, loss parameters). They come after
    /// the profile's arguments, so a flag given in both takes the run's value.
    #[serde(default)]
    pub args: Vec<String>,
    /// The run this one is compared with (default: the run with the same loss, RGRL off,
    /// no RM initialisation and no extra arguments; the run's own name: none, e.g. for a
    /// run under another budget).
    #[serde(default)]
    pub base: Option<String>,
    /// Initialise the backbone from the RM encoder (`--init-from-rm`, the C2D-style baseline).
    #[serde(default)]
    pub init_from_rm: bool,
    /// Prune and retrain: first `rmd label-issues` with the run's teacher (the first of the
    /// profile's teachers, or of `teachers`), then train without the samples it flags
    /// (`--drop-flagged`): the workflow a cleanlab user tries first.
    #[serde(default)]
    pub drop_flagged: bool,
    /// Noise ids this run is limited to (default: every noise setting of the profile).
    #[serde(default)]
    pub noise: Option<Vec<String>>,
    /// Teacher ids an RGRL run is limited to (default: every teacher of the profile); a
    /// pruning run uses the first.
    #[serde(default)]
    pub teachers: Option<Vec<String>>,
    /// Seeds this run is limited to (default: every seed of the profile), e.g. one seed of
    /// a long diagnostic schedule.
    #[serde(default)]
    pub seeds: Option<Vec<u64>>,
}

impl RunSpec {
    /// Whether the run is made under the noise setting `id` (its `noise` list, else all).
    pub fn applies_to(&self, id: &str) -> bool {
        self.noise.as_ref().is_none_or(|ids| ids.iter().any(|n| n == id))
    }
}

/// A profile: which stage profile, which noise settings, runs and seeds, and time estimates.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileSpec {
    /// `--profile` of the stage binaries (smoke, cpu, cpu-full, paper).
    pub stage_profile: String,
    /// Noise ids to run (default: all).
    #[serde(default)]
    pub noise: Option<Vec<String>>,
    /// Run names to run (default: all).
    #[serde(default)]
    pub runs: Option<Vec<String>>,
    /// Teacher ids the RGRL runs use (default: all).
    #[serde(default)]
    pub teachers: Option<Vec<String>>,
    /// RGRL-stage seeds (mean ± std over them in the report).
    #[serde(default = "one_seed")]
    pub seeds: Vec<u64>,
    /// Estimated minutes per stage invocation (pretrain, relations, distill, noise) for the plan.
    #[serde(default)]
    pub minutes: BTreeMap<String, f64>,
    /// Extra arguments per stage for this profile (pretrain, relations, distill).
    #[serde(default)]
    pub args: BTreeMap<String, Vec<String>>,
}

fn one_seed() -> Vec<u64> {
    vec![1]
}

/// An id that becomes part of file names and table rows: letters, digits, `.`, `_`, `+`
/// and `-`, starting with a letter or digit.
fn check_id(what: &str, id: &str) -> Result<(), String> {
    let ok = id.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && id.chars().all(|c| c.is_ascii_alphanumeric() || "._+-".contains(c))
        && id.len() <= 64;
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what} {id:?} must be 1 to 64 letters, digits, '.', '_', '+' or '-', starting with a letter or digit (it becomes part of file names)"
        ))
    }
}

/// Whether a relative path stays inside the folder it is joined to: only plain names, no
/// `..`, no root or drive prefix, and not empty.
fn is_inside_path(p: &str) -> bool {
    let path = Path::new(p);
    !p.is_empty()
        && path
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir))
}

/// Seeds of one list must differ: a repeated seed would be counted as another sample of
/// the same run.
fn check_seeds(seeds: &[u64]) -> Result<(), String> {
    let mut seen = BTreeSet::new();
    match seeds.iter().find(|s| !seen.insert(**s)) {
        Some(s) => Err(format!("seed {s} is listed twice (each seed is one sample of the mean ± std)")),
        None => Ok(()),
    }
}

/// A pipeline file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    /// One line shown in plans and reports.
    pub description: String,
    /// Dataset name: a known one (cifar10, cifar100, ...) or, with `[import]`, the name the
    /// imported dataset gets.
    pub dataset: String,
    /// Where a dataset that is not a known one comes from (`rmd dataset --from`).
    #[serde(default)]
    pub import: Option<ImportSpec>,
    /// Noise settings.
    pub noise: Vec<NoiseSpec>,
    /// RM stage arguments.
    #[serde(default)]
    pub pretrain: StageArgs,
    /// Relations stage arguments (every teacher).
    #[serde(default)]
    pub relations: StageArgs,
    /// The teachers of the RGRL runs (default: the RM encoder's relations only).
    #[serde(default = "default_teachers")]
    pub teachers: Vec<TeacherSpec>,
    /// Runs to compare.
    pub runs: Vec<RunSpec>,
    /// Profiles by name.
    pub profiles: BTreeMap<String, ProfileSpec>,
    /// The pipeline's name (file stem).
    #[serde(skip)]
    pub name: String,
    /// Where it was read from.
    #[serde(skip)]
    pub path: PathBuf,
}

impl Pipeline {
    /// Finds a pipeline: an existing file path, or `NAME.toml` in `dir`.
    pub fn locate(name: &str, dir: &Path) -> anyhow::Result<PathBuf> {
        let direct = Path::new(name);
        if name.ends_with(".toml") && direct.is_file() {
            return Ok(direct.to_path_buf());
        }
        let path = dir.join(format!("{name}.toml"));
        if path.is_file() {
            return Ok(path);
        }
        let known: Vec<String> = std::fs::read_dir(dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter_map(|e| {
                        e.file_name().to_str().and_then(|n| n.strip_suffix(".toml")).map(String::from)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut known = known;
        known.sort();
        bail!(
            "no pipeline '{name}' in {} (known: {})",
            dir.display(),
            if known.is_empty() { "none".to_string() } else { known.join(", ") }
        )
    }

    /// A `from_run` teacher's run must exist, train without a teacher (RGRL or pruning would
    /// make the teacher depend on itself) and be made under the named noise and seed.
    fn check_run_source(&self, src: &RunSource) -> Result<(), String> {
        let run = self.runs.iter().find(|r| r.name == src.run);
        let Some(run) = run else {
            return Err(format!("from_run: run '{}' is not defined", src.run));
        };
        if run.rgrl || run.drop_flagged {
            return Err(format!(
                "from_run: run '{}' uses a teacher itself (rgrl or drop_flagged); name a run trained without one",
                src.run
            ));
        }
        if !src.follows_noise() {
            if !self.noise.iter().any(|n| n.id == src.noise) {
                return Err(format!("from_run: noise '{}' is not defined", src.noise));
            }
            if !run.applies_to(&src.noise) {
                return Err(format!("from_run: run '{}' is not made under noise '{}'", src.run, src.noise));
            }
        }
        if let SeedOf::Fixed(seed) = src.seed
            && run.seeds.as_ref().is_some_and(|s| !s.contains(&seed))
        {
            return Err(format!("from_run: run '{}' is not made with seed {seed}", src.run));
        }
        Ok(())
    }

    /// A profile that uses a `from_run` teacher must plan the run that trains it.
    fn check_profile_sources(&self, prof: &ProfileSpec) -> Result<(), String> {
        let used = |id: &str| prof.teachers.as_ref().is_none_or(|t| t.iter().any(|x| x == id));
        for t in self.teachers.iter().filter(|t| used(&t.id)) {
            let Some(src) = &t.from_run else { continue };
            // A per-student source is checked against each student when the plan is made.
            let planned = prof.runs.as_ref().is_none_or(|r| r.contains(&src.run))
                && (src.follows_noise() || prof.noise.as_ref().is_none_or(|n| n.contains(&src.noise)))
                && match src.seed {
                    SeedOf::Fixed(seed) => prof.seeds.contains(&seed),
                    SeedOf::Student => true,
                };
            if !planned {
                let of = match (src.follows_noise(), src.seed) {
                    (true, SeedOf::Student) => "the student's noise setting and seed".to_string(),
                    (true, SeedOf::Fixed(seed)) => format!("the student's noise setting, seed {seed}"),
                    (false, seed) => format!("noise '{}', seed {seed}", src.noise),
                };
                return Err(format!(
                    "teacher '{}' is the classifier of run '{}' ({of}), which this profile does not train: add the run, noise setting and seed to the profile, or leave the teacher out of its `teachers`",
                    t.id, src.run
                ));
            }
        }
        Ok(())
    }

    /// A path given in the pipeline file: relative to the file's directory unless absolute.
    pub fn resolve_path(&self, p: &Path) -> PathBuf {
        if p.is_absolute() { p.to_path_buf() } else { self.path.parent().unwrap_or(Path::new(".")).join(p) }
    }

    /// Reads and checks a pipeline file.
    pub fn load(path: &Path) -> anyhow::Result<Pipeline> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut p: Pipeline = toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        p.name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("pipeline").to_string();
        p.path = path.to_path_buf();
        p.validate(&text).with_context(|| format!("checking {}", path.display()))?;
        Ok(p)
    }

    fn validate(&self, text: &str) -> anyhow::Result<()> {
        use super::toml_lines::{Step::Index, Step::Key, at};
        let run_at = |i: usize, field: &str| at(text, &[Key("runs"), Index(i), Key(field)]);
        let noise_at = |i: usize| at(text, &[Key("noise"), Index(i), Key("id")]);
        let teacher_at = |i: usize| at(text, &[Key("teachers"), Index(i), Key("id")]);
        let prof_at = |p: &str, field: &str| at(text, &[Key("profiles"), Key(p), Key(field)]);
        if self.noise.is_empty() {
            bail!("{}no noise settings: list at least one [[noise]]", at(text, &[Key("noise")]));
        }
        if self.runs.is_empty() {
            bail!("{}no runs: list at least one [[runs]]", at(text, &[Key("runs")]));
        }
        // Ids become file names of the report (plots per noise setting) and table rows.
        for (i, n) in self.noise.iter().enumerate() {
            check_id("noise id", &n.id).map_err(|e| anyhow::anyhow!("{}{e}", noise_at(i)))?;
            if let Some(f) = &n.data_file
                && !is_inside_path(f)
            {
                bail!(
                    "{}noise '{}': data_file {f:?} must be a relative path inside the data directory (no '..', no leading '/')",
                    at(text, &[Key("noise"), Index(i), Key("data_file")]),
                    n.id
                );
            }
            if n.id == STUDENT {
                bail!(
                    "{}noise id '{STUDENT}' is reserved: a from_run teacher's `noise = \"{STUDENT}\"` means the noise setting of the run being taught",
                    noise_at(i)
                );
            }
        }
        for (i, r) in self.runs.iter().enumerate() {
            check_id("run name", &r.name).map_err(|e| anyhow::anyhow!("{}{e}", run_at(i, "name")))?;
        }
        for (i, t) in self.teachers.iter().enumerate() {
            check_id("teacher id", &t.id).map_err(|e| anyhow::anyhow!("{}{e}", teacher_at(i)))?;
        }
        let mut names = BTreeSet::new();
        for (i, r) in self.runs.iter().enumerate() {
            if !names.insert(r.name.as_str()) {
                bail!("{}run '{}' appears twice", run_at(i, "name"), r.name);
            }
            if !["ce", "gce", "sce", "elr"].contains(&r.loss.as_str()) {
                bail!(
                    "{}run '{}': unknown loss '{}' (ce, gce, sce or elr)",
                    run_at(i, "loss"),
                    r.name,
                    r.loss
                );
            }
            if let Some(seeds) = &r.seeds {
                check_seeds(seeds)
                    .map_err(|e| anyhow::anyhow!("{}run '{}': {e}", run_at(i, "seeds"), r.name))?;
            }
            for (field, list) in [("noise", &r.noise), ("teachers", &r.teachers)] {
                if list.as_ref().is_some_and(Vec::is_empty) {
                    bail!(
                        "{}run '{}': {field} = [] leaves the run nothing to do; remove the line or name at least one",
                        run_at(i, field),
                        r.name
                    );
                }
            }
        }
        for (i, r) in self.runs.iter().enumerate() {
            if let Some(b) = &r.base
                && !names.contains(b.as_str())
            {
                bail!("{}run '{}': base run '{b}' is not defined", run_at(i, "base"), r.name);
            }
        }
        let mut ids = BTreeSet::new();
        for (i, n) in self.noise.iter().enumerate() {
            if !ids.insert(n.id.as_str()) {
                bail!("{}noise '{}' appears twice", noise_at(i), n.id);
            }
        }
        for (i, r) in self.runs.iter().enumerate() {
            for id in r.noise.iter().flatten() {
                if !ids.contains(id.as_str()) {
                    bail!("{}run '{}': noise '{id}' is not defined", run_at(i, "noise"), r.name);
                }
            }
        }
        let mut teachers = BTreeSet::new();
        for (i, t) in self.teachers.iter().enumerate() {
            if !teachers.insert(t.id.as_str()) {
                bail!("{}teacher '{}' appears twice", teacher_at(i), t.id);
            }
        }
        for (i, r) in self.runs.iter().enumerate() {
            if r.teachers.is_some() && !r.rgrl && !r.drop_flagged {
                bail!(
                    "{}run '{}': teachers are for RGRL runs (rgrl = true) and pruning runs (drop_flagged = true)",
                    run_at(i, "teachers"),
                    r.name
                );
            }
            for id in r.teachers.iter().flatten() {
                if !teachers.contains(id.as_str()) {
                    bail!("{}run '{}': teacher '{id}' is not defined", run_at(i, "teachers"), r.name);
                }
            }
        }
        if let Some(i) = &self.import
            && let Err(e) = rmd_data::import::SourceKind::parse(&i.from)
        {
            bail!("{}import: {e}", at(text, &[Key("import"), Key("from")]));
        }
        for (i, t) in self.teachers.iter().enumerate() {
            let sources = [t.synthetic_purity.is_some(), t.embeddings.is_some(), t.from_run.is_some()];
            if sources.iter().filter(|s| **s).count() > 1 {
                bail!(
                    "{}teacher '{}': synthetic_purity, embeddings and from_run exclude each other",
                    teacher_at(i),
                    t.id
                );
            }
            if let Some(src) = &t.from_run {
                self.check_run_source(src)
                    .map_err(|e| anyhow::anyhow!("{}teacher '{}': {e}", teacher_at(i), t.id))?;
            }
            if let Some(p) = t.synthetic_purity
                && !(p.is_finite() && p > 0.0 && p <= 1.0)
            {
                bail!("{}teacher '{}': synthetic_purity {p} must be in (0, 1]", teacher_at(i), t.id);
            }
        }
        if self.profiles.is_empty() {
            bail!("{}no profiles: add at least one [profiles.NAME] table", at(text, &[Key("profiles")]));
        }
        const STAGES: [&str; 4] = ["noise", "pretrain", "relations", "distill"];
        for (pname, prof) in &self.profiles {
            let here = |field: &str| prof_at(pname, field);
            // The profile name becomes the report directory's name (reports/NAME-PROFILE).
            check_id("profile name", pname)
                .map_err(|e| anyhow::anyhow!("{}{e}", at(text, &[Key("profiles"), Key(pname)])))?;
            if !rmd_nn::Profile::ALL.iter().any(|p| p.name() == prof.stage_profile) {
                bail!(
                    "{}profile {pname}: stage_profile '{}' is not one of {}",
                    here("stage_profile"),
                    prof.stage_profile,
                    rmd_nn::Profile::ALL.map(|p| p.name()).join(", ")
                );
            }
            for (field, list) in [("noise", &prof.noise), ("runs", &prof.runs), ("teachers", &prof.teachers)]
            {
                if list.as_ref().is_some_and(Vec::is_empty) {
                    bail!(
                        "{}profile {pname}: {field} = [] leaves nothing to run; remove the line or name at least one",
                        here(field)
                    );
                }
            }
            for id in prof.noise.iter().flatten() {
                if !ids.contains(id.as_str()) {
                    bail!("{}profile {pname}: noise '{id}' is not defined", here("noise"));
                }
            }
            for r in prof.runs.iter().flatten() {
                if !names.contains(r.as_str()) {
                    bail!("{}profile {pname}: run '{r}' is not defined", here("runs"));
                }
            }
            for t in prof.teachers.iter().flatten() {
                if !teachers.contains(t.as_str()) {
                    bail!("{}profile {pname}: teacher '{t}' is not defined", here("teachers"));
                }
            }
            if prof.seeds.is_empty() {
                bail!("{}profile {pname}: seeds is empty", here("seeds"));
            }
            check_seeds(&prof.seeds).map_err(|e| anyhow::anyhow!("{}profile {pname}: {e}", here("seeds")))?;
            self.check_profile_sources(prof).map_err(|e| {
                anyhow::anyhow!("{}profile {pname}: {e}", at(text, &[Key("profiles"), Key(pname)]))
            })?;
            for (field, stages) in
                [("minutes", prof.minutes.keys().collect::<Vec<_>>()), ("args", prof.args.keys().collect())]
            {
                if let Some(s) = stages.iter().find(|s| !STAGES.contains(&s.as_str())) {
                    bail!(
                        "{}profile {pname}: {field} names stage '{s}'; the stages are {}",
                        here(field),
                        STAGES.join(", ")
                    );
                }
            }
            if let Some((s, m)) = prof.minutes.iter().find(|(_, m)| !(m.is_finite() && **m >= 0.0)) {
                bail!("{}profile {pname}: minutes of {s} is {m}; estimates are minutes ≥ 0", here("minutes"));
            }
        }
        Ok(())
    }

    /// The profile named `name`.
    pub fn profile(&self, name: &str) -> anyhow::Result<&ProfileSpec> {
        self.profiles.get(name).with_context(|| {
            format!(
                "pipeline {} has no profile '{name}' (it has: {})",
                self.name,
                self.profiles.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })
    }

    /// The noise settings a profile runs.
    pub fn noise_for<'a>(&'a self, prof: &ProfileSpec) -> Vec<&'a NoiseSpec> {
        self.noise.iter().filter(|n| prof.noise.as_ref().is_none_or(|ids| ids.contains(&n.id))).collect()
    }

    /// The runs a profile runs, in file order.
    pub fn runs_for<'a>(&'a self, prof: &ProfileSpec) -> Vec<&'a RunSpec> {
        self.runs.iter().filter(|r| prof.runs.as_ref().is_none_or(|names| names.contains(&r.name))).collect()
    }

    /// The teachers a profile's RGRL runs use, in file order.
    pub fn teachers_for<'a>(&'a self, prof: &ProfileSpec) -> Vec<&'a TeacherSpec> {
        self.teachers
            .iter()
            .filter(|t| prof.teachers.as_ref().is_none_or(|ids| ids.contains(&t.id)))
            .collect()
    }

    /// The run a run is compared with, if any.
    pub fn base_of<'a>(&'a self, run: &RunSpec) -> Option<&'a RunSpec> {
        let plain = |r: &RunSpec| {
            r.loss == run.loss && !r.rgrl && !r.init_from_rm && !r.drop_flagged && r.args.is_empty()
        };
        match &run.base {
            // Its own name: compared with nothing (a run under another budget).
            Some(b) if *b == run.name => None,
            Some(b) => self.runs.iter().find(|r| &r.name == b),
            None if run.rgrl || run.init_from_rm || run.drop_flagged || !run.args.is_empty() => {
                self.runs.iter().find(|r| plain(r))
            }
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_pipelines_parse_and_cover_their_profiles() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines");
        for name in [
            "cifar10-asym",
            "cifar10-sym",
            "cifar100-asym",
            "cifar100-sym",
            "cifar10n-worse",
            "cifar10-teacher-sweep",
            "my-images",
        ] {
            let p = Pipeline::load(&Pipeline::locate(name, &dir).unwrap()).unwrap();
            for prof in ["paper", "cpu", "smoke"] {
                let spec = p.profile(prof).unwrap();
                assert!(!p.noise_for(spec).is_empty() && !p.runs_for(spec).is_empty(), "{name} {prof}");
            }
            let rgrl = p.runs.iter().find(|r| r.name == "ce+rgrl").unwrap();
            assert_eq!(p.base_of(rgrl).unwrap().name, "ce");
        }
        assert!(Pipeline::locate("nope", &dir).unwrap_err().to_string().contains("cifar10-asym"));
        let sym = Pipeline::load(&Pipeline::locate("cifar10-sym", &dir).unwrap()).unwrap();
        let c2d_rgrl = sym.runs.iter().find(|r| r.name == "c2d+rgrl").unwrap();
        assert_eq!(sym.base_of(c2d_rgrl).unwrap().name, "c2d");
        let c2d = sym.runs.iter().find(|r| r.name == "c2d").unwrap();
        assert_eq!(sym.base_of(c2d).unwrap().name, "ce", "an RM-initialised run is compared with plain CE");
        assert_eq!(sym.teachers, vec![TeacherSpec::rm()], "the default teacher");
        let diag = Pipeline::load(&Pipeline::locate("cifar10-rgrl-diagnosis", &dir).unwrap()).unwrap();
        let own = diag.teachers.iter().find(|t| t.from_run.is_some()).expect("a teacher from a run");
        assert!(!own.needs_rm(), "a classifier teacher needs no RM of its own");
    }

    #[test]
    fn teachers_and_run_noise_limits_are_checked() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("x.toml");
        let head = "description='x'\ndataset='cifar10'\n[[noise]]\nid='a'\nargs=[]\n";
        let cases = [
            ("[[runs]]\nname='r'\nloss='ce'\nnoise=['b']\n[profiles]\n", "noise 'b' is not defined"),
            (
                "[[teachers]]\nid='t'\nsynthetic_purity=1.5\n[[runs]]\nname='r'\nloss='ce'\n[profiles]\n",
                "must be in (0, 1]",
            ),
            (
                "[[teachers]]\nid='t'\n[[teachers]]\nid='t'\n[[runs]]\nname='r'\nloss='ce'\n[profiles]\n",
                "teacher 't' appears twice",
            ),
            (
                "[[runs]]\nname='r'\nloss='ce'\n[profiles.p]\nstage_profile='smoke'\nteachers=['zz']\n",
                "teacher 'zz' is not defined",
            ),
            (
                "[[runs]]\nname='r'\nloss='ce'\nrgrl=true\nteachers=['x']\n[profiles]\n",
                "teacher 'x' is not defined",
            ),
            ("[[runs]]\nname='r'\nloss='ce'\nteachers=['rm']\n[profiles]\n", "teachers are for RGRL runs"),
            (
                "[[teachers]]\nid='t'\nsynthetic_purity=0.5\nembeddings='e.npy'\n[[runs]]\nname='r'\nloss='ce'\n[profiles]\n",
                "synthetic_purity, embeddings and from_run exclude each other",
            ),
            (
                "[import]\nfrom='zip'\npath='x'\n[[runs]]\nname='r'\nloss='ce'\n[profiles]\n",
                "unknown source kind 'zip'",
            ),
            (
                "[[teachers]]\nid='t'\nfrom_run={run='x',noise='a',seed=1}\n[[runs]]\nname='r'\nloss='ce'\n[profiles]\n",
                "teacher 't': from_run: run 'x' is not defined",
            ),
            (
                "[[teachers]]\nid='t'\nfrom_run={run='r',noise='a',seed=1}\n[[runs]]\nname='r'\nloss='ce'\nrgrl=true\n[profiles]\n",
                "uses a teacher itself",
            ),
            (
                "[[teachers]]\nid='t'\nfrom_run={run='r',noise='b',seed=1}\n[[runs]]\nname='r'\nloss='ce'\n[profiles]\n",
                "from_run: noise 'b' is not defined",
            ),
            (
                "[[teachers]]\nid='t'\nfrom_run={run='r',noise='a',seed=2}\n[[runs]]\nname='r'\nloss='ce'\nseeds=[1]\n[profiles]\n",
                "is not made with seed 2",
            ),
            (
                "[[teachers]]\nid='t'\nfrom_run={run='r',noise='a'}\n[[runs]]\nname='r'\nloss='ce'\n[profiles]\n",
                "seed",
            ),
            (
                "[[teachers]]\nid='t'\nfrom_run={run='r',noise='a',seed='mine'}\n[[runs]]\nname='r'\nloss='ce'\n[profiles]\n",
                "or \"student\"",
            ),
            (
                "[[runs]]\nname='r'\nloss='ce'\n[profiles.'../../x']\nstage_profile='smoke'\n",
                "profile name \"../../x\" must be",
            ),
            (
                "[[teachers]]\nid='t'\nfrom_run={run='r',noise='a',seed=2}\n[[runs]]\nname='r'\nloss='ce'\n[[runs]]\nname='s'\nloss='ce'\nrgrl=true\n[profiles.p]\nstage_profile='smoke'\n",
                "profile p: teacher 't' is the classifier of run 'r' (noise 'a', seed 2), which this profile does not train",
            ),
        ];
        for (tail, want) in cases {
            std::fs::write(&path, format!("{head}{tail}")).unwrap();
            let err = format!("{:#}", Pipeline::load(&path).unwrap_err());
            assert!(err.contains(want), "{want}: {err}");
        }
    }

    #[test]
    fn label_files_stay_in_the_data_directory_and_student_is_no_noise_id() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("x.toml");
        let tail = "[[runs]]\nname='r'\nloss='ce'\n[profiles.p]\nstage_profile='smoke'\n";
        for (noise, want) in [
            (
                "id='a'\nargs=[]\ndata_file='../../etc/passwd'",
                "must be a relative path inside the data directory",
            ),
            ("id='a'\nargs=[]\ndata_file='/etc/passwd'", "must be a relative path inside the data directory"),
            ("id='student'\nargs=[]", "noise id 'student' is reserved"),
        ] {
            std::fs::write(&path, format!("description='x'\ndataset='cifar10'\n[[noise]]\n{noise}\n{tail}"))
                .unwrap();
            let err = format!("{:#}", Pipeline::load(&path).unwrap_err());
            assert!(err.contains(want), "{want}: {err}");
        }
        std::fs::write(
            &path,
            format!("description='x'\ndataset='cifar10'\n[[noise]]\nid='a'\nargs=[]\ndata_file='cifar-10n/x.csv'\n{tail}"),
        )
        .unwrap();
        Pipeline::load(&path).unwrap();
    }

    #[test]
    fn bad_files_are_rejected_with_the_reason() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("x.toml");
        std::fs::write(
            &path,
            "description='x'\ndataset='cifar10'\n[[noise]]\nid='a'\nargs=[]\n[[runs]]\nname='r'\nloss='mae'\n[profiles]\n",
        )
        .unwrap();
        let err = format!("{:#}", Pipeline::load(&path).unwrap_err());
        assert!(err.contains("unknown loss 'mae'"), "{err}");
        std::fs::write(
            &path,
            "description='x'\ndataset='cifar10'\nnoise=[]\nruns=[]\nprofiles={}\nextra=1\n",
        )
        .unwrap();
        assert!(format!("{:#}", Pipeline::load(&path).unwrap_err()).contains("extra"));
    }

    #[test]
    fn contradictions_are_refused_with_the_line_at_fault() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("x.toml");
        let head = "description='x'\ndataset='cifar10'\n[[noise]]\nid='a'\nargs=[]\n";
        let run = "[[runs]]\nname='r'\nloss='ce'\n";
        for (body, want) in [
            (
                &format!("{run}[profiles.cpu]\nstage_profile='cpu'\nseeds=[1, 2, 1]\n") as &str,
                "line 11: profile cpu: seed 1 is listed twice",
            ),
            (
                &format!("{run}seeds=[3,3]\n[profiles.cpu]\nstage_profile='cpu'\n"),
                "line 9: run 'r': seed 3 is listed twice",
            ),
            (
                &format!("{run}[profiles.cpu]\nstage_profile='gpu'\n"),
                "line 10: profile cpu: stage_profile 'gpu'",
            ),
            (
                &format!("{run}[profiles.cpu]\nstage_profile='cpu'\nruns=[]\n"),
                "line 11: profile cpu: runs = []",
            ),
            (&format!("{run}noise=[]\n[profiles.cpu]\nstage_profile='cpu'\n"), "line 9: run 'r': noise = []"),
            (
                &format!("{run}[profiles.cpu]\nstage_profile='cpu'\nminutes={{ distil = 3 }}\n"),
                "line 11: profile cpu: minutes names stage 'distil'",
            ),
            (
                "[[runs]]\nname='../../x'\nloss='ce'\n[profiles.cpu]\nstage_profile='cpu'\n",
                "line 7: run name \"../../x\"",
            ),
            (&format!("{run}[profiles]\n"), "no profiles"),
        ] {
            std::fs::write(&path, format!("{head}{body}")).unwrap();
            let err = format!("{:#}", Pipeline::load(&path).unwrap_err());
            assert!(err.contains(want), "{want}: {err}");
        }
        std::fs::write(&path, "description='x'\ndataset='cifar10'\nruns=[]\n[[noise]]\nid='a'\nargs=[]\n[profiles.cpu]\nstage_profile='cpu'\n").unwrap();
        let err = format!("{:#}", Pipeline::load(&path).unwrap_err());
        assert!(err.contains("line 3: no runs"), "{err}");
        let noise_id = "description='x'\ndataset='cifar10'\n[[noise]]\nid='/tmp/evil'\nargs=[]\n[[runs]]\nname='r'\nloss='ce'\n[profiles.cpu]\nstage_profile='cpu'\n";
        std::fs::write(&path, noise_id).unwrap();
        let err = format!("{:#}", Pipeline::load(&path).unwrap_err());
        assert!(err.contains("line 4: noise id \"/tmp/evil\""), "{err}");
    }
}
