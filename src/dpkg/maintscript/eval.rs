//! Working out what a maintainer script does to file metadata, without running it.
//!
//! The script is walked the way `sh` would run it for one invocation (`postinst configure`),
//! with values it cannot know (the old version in `$2`, `$(getent ...)`, a `read`) kept as
//! unknown. Each command that sets metadata — `chmod`, `chown`, `chgrp`, `setcap`,
//! `install -m/-o/-g`, `dpkg-statoverride --add` — becomes an [`Effect`] on a path.
//!
//! Conditions are decided when the facts are at hand ([`World`]: ROOT's statoverride file,
//! its diversions, its debconf answers, which commands it has; `[ "$1" = configure ]`);
//! otherwise:
//! - when only one branch sets metadata or variables that feed it, that branch is taken:
//!   `if [ -d $crondir/crontabs ]; then chown ...` is what the script does on a working host,
//!   and a branch that only `exit`s is not taken;
//! - when both do (`if setcap ...; then chmod u-s ...; else chmod u+s ...`), the run splits in
//!   two *scenarios*, the first branch first. Every scenario is a state the script may have
//!   left; the first is the one a working host gets.
//!
//! Not modelled: `cd` (relative paths are ignored), globs (a path with `*` is ignored),
//! `eval`, and variables a sourced file would set (they become unknown).

use std::collections::{HashMap, HashSet};
use std::path::{Component, Path, PathBuf};

use super::parse::{self, AndOr, Command, Connector, List, ParamOp, Part, Pipeline, Simple, Word};
use crate::dpkg::Owner;

/// What the script's surroundings say, asked while it is walked.
pub trait World {
    /// `dpkg-statoverride --list PATH` succeeds.
    fn has_statoverride(&self, path: &Path) -> bool;
    /// `dpkg-divert --truename PATH`.
    fn truename(&self, path: &Path) -> PathBuf;
    /// `command -v NAME` succeeds: `Some(true)` when it is there, `None` when not known (a
    /// missing file on a broken root proves nothing).
    fn command_exists(&self, name: &str) -> Option<bool>;
    /// The answer to a debconf question (`db_get`), when ROOT's database has one.
    fn debconf(&self, question: &str) -> Option<String>;
    /// `test -OP PATH` (`-e`, `-f`, `-d`, ...), when the answer means something: a flag file
    /// such as `/etc/staff-group-for-usr-local` is looked up, but a path of the package
    /// itself is not (on a broken root it may be the very file that is missing).
    fn file_test(&self, op: &str, path: &Path) -> Option<bool>;
}

/// A value the script computes: known, or not knowable here.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Value<T> {
    Known(T),
    Unknown,
}

/// One metadata change.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// `chmod SPEC` (octal or symbolic), with the umask the script had then.
    Mode { spec: Value<String>, umask: u32 },
    /// `chown`/`chgrp`: clears setuid, setgid (with group execute) and capabilities on
    /// non-directories, as the kernel does.
    Owner {
        user: Option<Value<Owner>>,
        group: Option<Value<Owner>>,
    },
    /// `setcap TEXT` (`Some`), or `setcap -r` (`None`).
    Capability(Value<Option<String>>),
}

/// One metadata change to one path, at a line of the script.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Effect {
    /// Absolute, lexically normalized, as the script names it (`/bin/ping`).
    pub path: PathBuf,
    /// `-R`: the path and everything below it.
    pub recursive: bool,
    pub op: Op,
    pub line: usize,
}

/// The scenarios a script may leave behind, the one a working host gets first.
#[derive(Debug, Default)]
pub struct Evaluation {
    pub scenarios: Vec<Vec<Effect>>,
    /// More branches than [`MAX_SCENARIOS`]: the later ones were dropped.
    pub truncated: bool,
}

/// Beyond this many ways through a script, further splits are not followed.
pub const MAX_SCENARIOS: usize = 32;
/// Loops over known words are followed this many times at most.
const MAX_ITERATIONS: usize = 64;
/// Function calls nest at most this deep (a recursive function is not followed further).
const MAX_DEPTH: usize = 16;
/// All the walking one script may cost, in commands evaluated over every scenario. The limits
/// above multiply (64 iterations of a loop in a function called in a loop, 16 calls deep...):
/// beyond this the walk stops where it is and says it was truncated, so that a hostile or
/// odd script costs milliseconds, not minutes. Real scripts take a few hundred.
const MAX_STEPS: usize = 50_000;
/// Effects one way through a script may record before the walk stops (truncated): each
/// branch copies what its way has recorded, so their number must stay small. Real scripts
/// record a few dozen.
const MAX_EFFECTS: usize = 256;

/// The commands whose effects are recorded.
const EFFECT_COMMANDS: &[&str] = &[
    "chmod",
    "chown",
    "chgrp",
    "setcap",
    "install",
    "dpkg-statoverride",
];

/// Walks `script` as `sh script ARGS` with `env` set. An argument of `None` is unknown.
pub fn evaluate(
    script: &List,
    args: &[Option<&str>],
    env: &[(&str, &str)],
    world: &dyn World,
) -> Evaluation {
    let mut interp = Interp {
        world,
        functions: HashMap::new(),
        relevant: relevant_variables(script),
        truncated: false,
        depth: 0,
        steps: 0,
    };
    let state = State {
        vars: env
            .iter()
            .map(|(k, v)| (k.to_string(), Val::Known(v.to_string())))
            .collect(),
        positional: args
            .iter()
            .map(|a| a.map_or(Val::Unknown, |a| Val::Known(a.to_string())))
            .collect(),
        umask: 0o022,
        effects: Vec::new(),
        flow: Flow::Normal,
        tainted: false,
    };
    let ends = interp.list(script, state);
    let mut scenarios: Vec<Vec<Effect>> = Vec::new();
    for (state, _) in ends {
        if !scenarios.contains(&state.effects) {
            scenarios.push(state.effects);
        }
    }
    Evaluation {
        scenarios,
        truncated: interp.truncated,
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Val {
    Known(String),
    Unknown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flow {
    Normal,
    Exit,
    Return,
    Break,
    Continue,
}

/// An exit status: known, or not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tri {
    True,
    False,
    Unknown,
}

impl Tri {
    fn not(self) -> Tri {
        match self {
            Tri::True => Tri::False,
            Tri::False => Tri::True,
            Tri::Unknown => Tri::Unknown,
        }
    }

    fn from(known: bool) -> Tri {
        if known {
            Tri::True
        } else {
            Tri::False
        }
    }
}

#[derive(Clone, Debug)]
struct State {
    vars: HashMap<String, Val>,
    positional: Vec<Val>,
    umask: u32,
    effects: Vec<Effect>,
    flow: Flow,
    /// A file was sourced: variables never assigned here may have been set there.
    tainted: bool,
}

type Ends = Vec<(State, Tri)>;

struct Interp<'a> {
    world: &'a dyn World,
    functions: HashMap<String, &'a Command>,
    /// Variables whose value reaches an effect command: only branches that set these (or
    /// have effects) are worth splitting on.
    relevant: HashSet<String>,
    truncated: bool,
    depth: usize,
    /// Commands evaluated so far, against [`MAX_STEPS`].
    steps: usize,
}

impl<'a> Interp<'a> {
    /// False (and truncated) once this way through the script has recorded too much.
    fn room(&mut self, state: &State) -> bool {
        if state.effects.len() > MAX_EFFECTS {
            self.truncated = true;
            return false;
        }
        true
    }

    /// Counts one more command; false (and truncated) once the budget is spent.
    fn step(&mut self) -> bool {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            self.truncated = true;
            return false;
        }
        true
    }

    fn cap(&mut self, mut ends: Ends) -> Ends {
        if ends.len() > MAX_SCENARIOS {
            ends.truncate(MAX_SCENARIOS);
            self.truncated = true;
        }
        ends
    }

    fn list(&mut self, list: &'a [AndOr], state: State) -> Ends {
        let mut current = vec![(state, Tri::True)];
        for and_or in list {
            let mut next = Vec::new();
            for (state, status) in current {
                if state.flow == Flow::Normal && self.step() && self.room(&state) {
                    next.extend(self.and_or(and_or, state));
                } else {
                    next.push((state, status));
                }
            }
            current = self.cap(next);
        }
        current
    }

    fn and_or(&mut self, and_or: &'a AndOr, state: State) -> Ends {
        let initial = state.clone();
        let mut current = self.pipeline(&and_or.first, state);
        for (index, (connector, pipeline)) in and_or.rest.iter().enumerate() {
            let mut next = Vec::new();
            // `setcap ... X || chmod u+s X`: both sides act, so both ways are outcomes, the
            // first command's success first; where it failed, its own effects did not happen.
            let both_act = index == 0
                && self.pipeline_matters(&and_or.first)
                && self.pipeline_matters(pipeline);
            let mut failure_added = false;
            for (state, status) in current {
                let run = state.flow == Flow::Normal
                    && match (connector, status) {
                        (Connector::And, Tri::True) | (Connector::Or, Tri::False) => true,
                        (Connector::And, Tri::False) | (Connector::Or, Tri::True) => false,
                        // `test -e X || install ... X`: the side that sets metadata is what
                        // a working host runs; `[ ... ] && exit` is not taken.
                        (_, Tri::Unknown) => self.pipeline_matters(pipeline),
                    };
                if run && status == Tri::Unknown && both_act {
                    match connector {
                        Connector::Or => next.push((state, Tri::True)),
                        Connector::And => next.extend(self.pipeline(pipeline, state)),
                    }
                    if !failure_added {
                        failure_added = true;
                        match connector {
                            Connector::Or => next.extend(self.pipeline(pipeline, initial.clone())),
                            Connector::And => next.push((initial.clone(), Tri::False)),
                        }
                    }
                } else if run {
                    next.extend(self.pipeline(pipeline, state));
                } else {
                    next.push((state, status));
                }
            }
            current = self.cap(next);
        }
        current
    }

    fn pipeline(&mut self, pipeline: &'a Pipeline, state: State) -> Ends {
        let mut current = vec![(state, Tri::True)];
        let subshells = pipeline.commands.len() > 1;
        for command in &pipeline.commands {
            let mut next = Vec::new();
            for (state, status) in current {
                if state.flow == Flow::Normal {
                    next.extend(self.command(command, state));
                } else {
                    next.push((state, status));
                }
            }
            current = self.cap(next);
        }
        for (state, status) in &mut current {
            // Each part of `a | b` runs in a subshell: its `exit` ends only that part.
            if subshells && state.flow == Flow::Exit {
                state.flow = Flow::Normal;
            }
            if pipeline.negated {
                *status = status.not();
            }
        }
        current
    }

    fn command(&mut self, command: &'a Command, state: State) -> Ends {
        match command {
            Command::Simple(simple) => self.simple(simple, state),
            Command::If { arms, otherwise } => self.if_arms(arms, otherwise.as_ref(), state),
            Command::For { var, items, body } => self.for_loop(var, items.as_deref(), body, state),
            Command::Loop { cond, body, .. } => {
                let mut out = Vec::new();
                for (state, _) in self.list(cond, state) {
                    for (mut state, _) in self.list(body, state) {
                        if matches!(state.flow, Flow::Break | Flow::Continue) {
                            state.flow = Flow::Normal;
                        }
                        out.push((state, Tri::True));
                    }
                }
                out
            }
            Command::Case { word, arms } => self.case(word, arms, state),
            Command::Group(list) => self.list(list, state),
            Command::Function { name, body } => {
                self.functions.insert(name.clone(), body);
                vec![(state, Tri::True)]
            }
        }
    }

    fn if_arms(
        &mut self,
        arms: &'a [(List, List)],
        otherwise: Option<&'a List>,
        state: State,
    ) -> Ends {
        let Some(((cond, body), rest)) = arms.split_first() else {
            return match otherwise {
                Some(list) => self.list(list, state),
                None => vec![(state, Tri::True)],
            };
        };
        // A condition that sets metadata itself (`if setcap ...`) makes its branch an outcome
        // of its own even when the branch body does nothing.
        let then_matters = self.list_matters(cond) || self.list_matters(body);
        let else_matters = rest
            .iter()
            .any(|(c, b)| self.list_matters(c) || self.list_matters(b))
            || otherwise.is_some_and(|o| self.list_matters(o));
        let before = state.clone();
        let mut out = Vec::new();
        let mut else_taken = false;
        for (state, status) in self.list(cond, state) {
            if state.flow != Flow::Normal {
                out.push((state, status));
                continue;
            }
            match (status, then_matters, else_matters) {
                (Tri::True, ..) | (Tri::Unknown, true, _) => out.extend(self.list(body, state)),
                (Tri::False, ..) => out.extend(self.if_arms(rest, otherwise, state)),
                (Tri::Unknown, false, false) => out.push((state, Tri::True)),
                (Tri::Unknown, false, true) => {}
            }
            // The other way: the condition failed, so its own effects (`if setcap ...`)
            // did not happen.
            if status == Tri::Unknown && else_matters && !else_taken {
                else_taken = true;
                out.extend(self.if_arms(rest, otherwise, before.clone()));
            }
        }
        self.cap(out)
    }

    fn for_loop(
        &mut self,
        var: &str,
        items: Option<&'a [Word]>,
        body: &'a List,
        state: State,
    ) -> Ends {
        let values: Option<Vec<String>> = match items {
            None => state
                .positional
                .iter()
                .map(|v| match v {
                    Val::Known(text) => Some(text.clone()),
                    Val::Unknown => None,
                })
                .collect(),
            Some(words) => {
                let mut all = Vec::new();
                let mut known = true;
                for word in words {
                    for field in self.expand(word, &state) {
                        match field {
                            Some(text) => all.push(text),
                            None => known = false,
                        }
                    }
                }
                known.then_some(all)
            }
        };
        let values: Vec<Val> = match values {
            Some(values) => values
                .into_iter()
                .take(MAX_ITERATIONS)
                .map(Val::Known)
                .collect(),
            None => vec![Val::Unknown],
        };
        let mut running = vec![state];
        let mut done = Vec::new();
        for value in values {
            let mut next = Vec::new();
            for mut state in running {
                state.vars.insert(var.to_string(), value.clone());
                for (mut state, _) in self.list(body, state) {
                    match state.flow {
                        Flow::Continue => {
                            state.flow = Flow::Normal;
                            next.push(state);
                        }
                        Flow::Break => {
                            state.flow = Flow::Normal;
                            done.push(state);
                        }
                        Flow::Normal => next.push(state),
                        Flow::Exit | Flow::Return => done.push(state),
                    }
                }
            }
            running = next;
            if running.len() + done.len() > MAX_SCENARIOS {
                running.truncate(MAX_SCENARIOS.saturating_sub(done.len()).max(1));
                self.truncated = true;
            }
        }
        done.extend(running);
        self.cap(done.into_iter().map(|s| (s, Tri::True)).collect())
    }

    fn case(&mut self, word: &'a Word, arms: &'a [(Vec<Word>, List)], state: State) -> Ends {
        let subject = self.expand_joined(word, &state);
        let mut out = Vec::new();
        match subject {
            Some(subject) => {
                for (patterns, body) in arms {
                    let matched = patterns.iter().any(|p| {
                        self.pattern(p, &state)
                            .is_some_and(|pattern| glob_match(&pattern, &subject))
                    });
                    if matched {
                        return self.list(body, state);
                    }
                }
                out.push((state, Tri::True));
            }
            None => {
                for (_, body) in arms {
                    if self.list_matters(body) {
                        out.extend(self.list(body, state.clone()));
                    }
                }
                if out.is_empty() {
                    out.push((state, Tri::True));
                }
            }
        }
        self.cap(out)
    }

    fn simple(&mut self, simple: &'a Simple, mut state: State) -> Ends {
        let mut fields: Vec<Option<String>> = Vec::new();
        for word in &simple.words {
            fields.extend(self.expand(word, &state));
        }
        if fields.is_empty() {
            for (name, value) in &simple.assignments {
                let value = self.expand_joined(value, &state);
                state.vars.insert(name.clone(), to_val(value));
            }
            return vec![(state, Tri::True)];
        }
        let Some(name) = fields[0].clone() else {
            return vec![(state, Tri::Unknown)];
        };
        let args = &fields[1..];
        if let Some(status) = self.builtin(&name, simple, args, &mut state) {
            return vec![(state, status)];
        }
        match self.functions.get(name.as_str()).copied() {
            Some(body) if self.depth < MAX_DEPTH => self.call(body, args, state),
            _ => vec![(state, Tri::Unknown)],
        }
    }

    /// A command the walk knows (shell builtins, debconf, the commands that set metadata):
    /// its status, its effects recorded in `state`. `None` for any other command.
    fn builtin(
        &mut self,
        name: &str,
        simple: &'a Simple,
        args: &[Option<String>],
        state: &mut State,
    ) -> Option<Tri> {
        let status = match name {
            "exit" | "return" | "break" | "continue" => flow(name, state),
            "true" | ":" => Tri::True,
            "false" => Tri::False,
            "[" | "test" => {
                let args = if name == "[" {
                    args.strip_suffix(&[Some("]".to_string())]).unwrap_or(args)
                } else {
                    args
                };
                test(args, self.world)
            }
            "local" | "export" | "readonly" | "declare" | "typeset" => {
                for word in &simple.words[1..] {
                    if let Some((var, value)) = word_assignment(word) {
                        let value = self.expand_joined(&value, state);
                        state.vars.insert(var, to_val(value));
                    }
                }
                Tri::True
            }
            "read" | "db_get" | "db_metaget" | "db_fget" => self.read(name, args, state),
            "." | "source" => {
                let debconf = args
                    .first()
                    .is_some_and(|a| a.as_deref() == Some("/usr/share/debconf/confmodule"));
                state.tainted |= !debconf;
                Tri::Unknown
            }
            "umask" => {
                if let Some(Some(mask)) = args.first() {
                    if let Ok(mask) = u32::from_str_radix(mask, 8) {
                        state.umask = mask & 0o777;
                    }
                }
                Tri::True
            }
            "set" if args.first() == Some(&Some("--".to_string())) => {
                state.positional = args[1..].iter().map(|a| to_val(a.clone())).collect();
                Tri::True
            }
            "shift" => {
                if !state.positional.is_empty() {
                    state.positional.remove(0);
                }
                Tri::True
            }
            "command" if args.first() == Some(&Some("-v".to_string())) => {
                command_status(self.world, args.get(1))
            }
            "which" | "type" => command_status(self.world, args.first()),
            "dpkg-statoverride" => statoverride(self.world, args, simple.line, state),
            "chmod" | "chown" | "chgrp" | "setcap" | "install" => {
                let umask = state.umask;
                state
                    .effects
                    .extend(effects_of(name, args, simple.line, umask));
                // setcap fails on file systems without xattrs, and scripts plan for it.
                if name == "setcap" {
                    Tri::Unknown
                } else {
                    Tri::True
                }
            }
            _ => return None,
        };
        Some(status)
    }

    /// `read` and debconf's `db_get` family: the variables they set.
    fn read(&self, name: &str, args: &[Option<String>], state: &mut State) -> Tri {
        match name {
            "read" => {
                for arg in args.iter().flatten().filter(|a| !a.starts_with('-')) {
                    state.vars.insert(arg.clone(), Val::Unknown);
                }
                Tri::Unknown
            }
            "db_get" => {
                let answer = args
                    .first()
                    .cloned()
                    .flatten()
                    .and_then(|q| self.world.debconf(&q));
                state.vars.insert("RET".into(), to_val(answer));
                Tri::True
            }
            _ => {
                state.vars.insert("RET".into(), Val::Unknown);
                Tri::Unknown
            }
        }
    }

    fn call(&mut self, body: &'a Command, args: &[Option<String>], mut state: State) -> Ends {
        let saved = std::mem::replace(
            &mut state.positional,
            args.iter().map(|a| to_val(a.clone())).collect(),
        );
        self.depth += 1;
        let ends = self.command(body, state);
        self.depth -= 1;
        ends.into_iter()
            .map(|(mut state, status)| {
                state.positional = saved.clone();
                if state.flow == Flow::Return {
                    state.flow = Flow::Normal;
                }
                (state, status)
            })
            .collect()
    }

    /// Whether running `list` can change what is recorded: effects, variables that feed them,
    /// or functions that do either.
    fn list_matters(&self, list: &[AndOr]) -> bool {
        list.iter().any(|and_or| {
            std::iter::once(&and_or.first)
                .chain(and_or.rest.iter().map(|(_, p)| p))
                .any(|p| self.pipeline_matters(p))
        })
    }

    fn pipeline_matters(&self, pipeline: &Pipeline) -> bool {
        pipeline.commands.iter().any(|c| self.command_matters(c, 0))
    }

    fn command_matters(&self, command: &Command, depth: usize) -> bool {
        if depth > MAX_DEPTH {
            return false;
        }
        let list = |list: &[AndOr]| {
            list.iter().any(|and_or| {
                std::iter::once(&and_or.first)
                    .chain(and_or.rest.iter().map(|(_, p)| p))
                    .any(|p| {
                        p.commands
                            .iter()
                            .any(|c| self.command_matters(c, depth + 1))
                    })
            })
        };
        match command {
            Command::Simple(simple) => {
                if simple
                    .assignments
                    .iter()
                    .any(|(name, _)| self.relevant.contains(name))
                {
                    return true;
                }
                let Some(name) = simple.words.first().and_then(Word::literal) else {
                    return false;
                };
                if EFFECT_COMMANDS.contains(&name.as_str()) {
                    return name != "dpkg-statoverride"
                        || simple
                            .words
                            .iter()
                            .any(|w| w.literal().as_deref() == Some("--add"));
                }
                match name.as_str() {
                    "read" | "local" | "export" | "readonly" | "declare" | "typeset" => {
                        simple.words[1..].iter().any(|w| {
                            w.literal()
                                .map(|t| t.split('=').next().unwrap_or("").to_string())
                                .is_some_and(|v| self.relevant.contains(&v))
                        })
                    }
                    "db_get" => self.relevant.contains("RET"),
                    "set" | "shift" => true,
                    _ => self
                        .functions
                        .get(name.as_str())
                        .is_some_and(|body| self.command_matters(body, depth + 1)),
                }
            }
            Command::If { arms, otherwise } => {
                arms.iter().any(|(c, b)| list(c) || list(b))
                    || otherwise.as_deref().is_some_and(list)
            }
            Command::For { var, body, .. } => self.relevant.contains(var) || list(body),
            Command::Loop { cond, body, .. } => list(cond) || list(body),
            Command::Case { arms, .. } => arms.iter().any(|(_, b)| list(b)),
            Command::Group(inner) => list(inner),
            Command::Function { .. } => false,
        }
    }

    /// A word's fields after expansion and field splitting; `None` for a field whose value
    /// is not known (or that is a glob pattern: which files it names is not known either).
    fn expand(&self, word: &Word, state: &State) -> Vec<Option<String>> {
        let mut fields: Vec<Option<String>> = Vec::new();
        let mut current = String::new();
        let mut has_current = false;
        let mut unknown = false;
        let mut glob = false;
        let push_split = |text: &str,
                          fields: &mut Vec<Option<String>>,
                          current: &mut String,
                          has_current: &mut bool| {
            let mut pieces = text.split([' ', '\t', '\n']).peekable();
            while let Some(piece) = pieces.next() {
                current.push_str(piece);
                *has_current |= !piece.is_empty();
                if pieces.peek().is_some() && *has_current {
                    fields.push(Some(std::mem::take(current)));
                    *has_current = false;
                }
            }
        };
        for part in &word.0 {
            match part {
                Part::Literal { text, quoted } => {
                    if !quoted && is_glob(text) {
                        glob = true;
                    }
                    current.push_str(text);
                    has_current |= *quoted || !text.is_empty();
                }
                Part::Param { name, op, quoted } => {
                    if !quoted && matches!(name.as_str(), "@" | "*") || *quoted && name == "@" {
                        // "$@": one field per argument.
                        let mut first = true;
                        for value in &state.positional {
                            match value {
                                Val::Known(text) if *quoted => {
                                    if !first {
                                        fields.push(Some(std::mem::take(&mut current)));
                                    }
                                    current.push_str(text);
                                    has_current = true;
                                }
                                Val::Known(text) => {
                                    push_split(text, &mut fields, &mut current, &mut has_current)
                                }
                                Val::Unknown => unknown = true,
                            }
                            first = false;
                        }
                        continue;
                    }
                    match self.param(name, op.as_ref(), state) {
                        Val::Known(text) if *quoted => {
                            current.push_str(&text);
                            has_current = true;
                        }
                        Val::Known(text) => {
                            push_split(&text, &mut fields, &mut current, &mut has_current)
                        }
                        Val::Unknown => unknown = true,
                    }
                }
                Part::CommandSubst { text, quoted } => match self.substitute(text, state) {
                    Some(value) if *quoted => {
                        current.push_str(&value);
                        has_current = true;
                    }
                    Some(value) => push_split(&value, &mut fields, &mut current, &mut has_current),
                    None => unknown = true,
                },
                Part::Opaque => unknown = true,
            }
        }
        if unknown || glob {
            return vec![None];
        }
        if has_current {
            fields.push(Some(current));
        }
        fields
    }

    /// The word as one string (assignments, `case` subjects: no field splitting).
    fn expand_joined(&self, word: &Word, state: &State) -> Option<String> {
        let mut out = String::new();
        for part in &word.0 {
            match part {
                Part::Literal { text, .. } => out.push_str(text),
                Part::Param { name, op, .. } => match self.param(name, op.as_ref(), state) {
                    Val::Known(text) => out.push_str(&text),
                    Val::Unknown => return None,
                },
                Part::CommandSubst { text, .. } => out.push_str(&self.substitute(text, state)?),
                Part::Opaque => return None,
            }
        }
        Some(out)
    }

    /// A `case` pattern: quoted parts match literally (escaped here), the rest as a glob.
    fn pattern(&self, word: &Word, state: &State) -> Option<String> {
        let mut out = String::new();
        for part in &word.0 {
            match part {
                Part::Literal {
                    text,
                    quoted: false,
                } => out.push_str(text),
                Part::Literal { text, quoted: true } => {
                    for c in text.chars() {
                        if "*?[\\".contains(c) {
                            out.push('\\');
                        }
                        out.push(c);
                    }
                }
                _ => {
                    let single = Word(vec![part.clone()]);
                    out.push_str(&self.expand_joined(&single, state)?);
                }
            }
        }
        Some(out)
    }

    fn param(&self, name: &str, op: Option<&(ParamOp, Word)>, state: &State) -> Val {
        let value = if let Ok(index) = name.parse::<usize>() {
            match index {
                0 => Val::Unknown,
                n => state
                    .positional
                    .get(n - 1)
                    .cloned()
                    .unwrap_or(Val::Known(String::new())),
            }
        } else {
            match name {
                "#" => Val::Known(state.positional.len().to_string()),
                "?" | "$" | "!" | "-" | "@" | "*" => Val::Unknown,
                _ => match state.vars.get(name) {
                    Some(value) => value.clone(),
                    None if state.tainted => Val::Unknown,
                    // Set by the environment at most, and dpkg's environment is known.
                    None => Val::Known(String::new()),
                },
            }
        };
        let set = state.vars.contains_key(name)
            || name
                .parse::<usize>()
                .is_ok_and(|n| n >= 1 && n <= state.positional.len());
        let Some((op, word)) = op else {
            return value;
        };
        let empty = matches!(&value, Val::Known(text) if text.is_empty());
        let word_value = || to_val(self.expand_joined(word, state));
        match (op, &value) {
            (_, Val::Unknown) => Val::Unknown,
            (ParamOp::Default { colon } | ParamOp::Assign { colon }, _) => {
                if !set || (*colon && empty) {
                    word_value()
                } else {
                    value
                }
            }
            (ParamOp::Alternative { colon }, _) => {
                if !set || (*colon && empty) {
                    Val::Known(String::new())
                } else {
                    word_value()
                }
            }
        }
    }

    /// `$(...)`: only commands whose output is known here.
    fn substitute(&self, text: &str, state: &State) -> Option<String> {
        let list = parse::parse(text).ok()?;
        let [AndOr { first, rest }] = list.as_slice() else {
            return None;
        };
        let [Command::Simple(simple)] = first.commands.as_slice() else {
            return None;
        };
        if !rest.is_empty() || first.negated {
            return None;
        }
        let mut fields = Vec::new();
        for word in &simple.words {
            fields.extend(self.expand(word, state));
        }
        let fields: Option<Vec<String>> = fields.into_iter().collect();
        match fields?
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice()
        {
            ["dpkg-divert", "--truename", path] => Some(
                self.world
                    .truename(Path::new(path))
                    .to_string_lossy()
                    .into_owned(),
            ),
            ["echo", words @ ..] => Some(words.join(" ")),
            _ => None,
        }
    }
}

/// `exit`, `return`, `break`, `continue`: how the walk goes on, and the status.
fn flow(name: &str, state: &mut State) -> Tri {
    let (flow, status) = match name {
        "exit" => (Flow::Exit, Tri::Unknown),
        "return" => (Flow::Return, Tri::Unknown),
        "break" => (Flow::Break, Tri::True),
        _ => (Flow::Continue, Tri::True),
    };
    state.flow = flow;
    status
}

fn to_val(value: Option<String>) -> Val {
    value.map_or(Val::Unknown, Val::Known)
}

fn command_status(world: &dyn World, name: Option<&Option<String>>) -> Tri {
    match name.cloned().flatten().map(|n| world.command_exists(&n)) {
        Some(Some(true)) => Tri::True,
        _ => Tri::Unknown,
    }
}

/// `export NAME=value` and friends: the assignment in an argument word.
fn word_assignment(word: &Word) -> Option<(String, Word)> {
    let Some(Part::Literal { text, .. }) = word.0.first() else {
        return None;
    };
    let (name, value) = text.split_once('=')?;
    if name.is_empty() || !name.chars().all(|c| c == '_' || c.is_ascii_alphanumeric()) {
        return None;
    }
    let mut parts = vec![Part::Literal {
        text: value.to_string(),
        quoted: true,
    }];
    parts.extend(word.0[1..].iter().cloned());
    Some((name.to_string(), Word(parts)))
}

/// `[ ... ]` with three-valued logic: strings and numbers are compared, files are asked of
/// the [`World`].
fn test(args: &[Option<String>], world: &dyn World) -> Tri {
    let mut parser = TestParser { args, at: 0, world };
    let result = parser.or();
    if parser.at == args.len() {
        result
    } else {
        Tri::Unknown
    }
}

struct TestParser<'a> {
    args: &'a [Option<String>],
    at: usize,
    world: &'a dyn World,
}

impl TestParser<'_> {
    fn peek(&self) -> Option<Option<&str>> {
        self.args.get(self.at).map(|a| a.as_deref())
    }

    fn or(&mut self) -> Tri {
        let mut left = self.and();
        while self.peek() == Some(Some("-o")) {
            self.at += 1;
            let right = self.and();
            left = match (left, right) {
                (Tri::True, _) | (_, Tri::True) => Tri::True,
                (Tri::False, Tri::False) => Tri::False,
                _ => Tri::Unknown,
            };
        }
        left
    }

    fn and(&mut self) -> Tri {
        let mut left = self.not();
        while self.peek() == Some(Some("-a")) {
            self.at += 1;
            let right = self.not();
            left = match (left, right) {
                (Tri::False, _) | (_, Tri::False) => Tri::False,
                (Tri::True, Tri::True) => Tri::True,
                _ => Tri::Unknown,
            };
        }
        left
    }

    fn not(&mut self) -> Tri {
        if self.peek() == Some(Some("!")) && self.args.len() > self.at + 1 {
            self.at += 1;
            return self.not().not();
        }
        self.primary()
    }

    fn primary(&mut self) -> Tri {
        let remaining = &self.args[self.at..];
        if let [Some(op), operand, ..] = remaining {
            if op.len() == 2 && op.starts_with('-') && !is_binary(remaining.get(1)) {
                self.at += 2;
                return match (op.as_str(), operand) {
                    ("-z", Some(text)) => Tri::from(text.is_empty()),
                    ("-n", Some(text)) => Tri::from(!text.is_empty()),
                    (_, Some(path)) if path.starts_with('/') => self
                        .world
                        .file_test(op, Path::new(path))
                        .map_or(Tri::Unknown, Tri::from),
                    _ => Tri::Unknown,
                };
            }
        }
        if let [left, Some(op), right, ..] = remaining {
            if is_binary(Some(&Some(op.clone()))) {
                self.at += 3;
                let (Some(left), Some(right)) = (left, right) else {
                    return Tri::Unknown;
                };
                return match op.as_str() {
                    "=" | "==" => Tri::from(left == right),
                    "!=" => Tri::from(left != right),
                    _ => match (left.trim().parse::<i64>(), right.trim().parse::<i64>()) {
                        (Ok(l), Ok(r)) => Tri::from(match op.as_str() {
                            "-eq" => l == r,
                            "-ne" => l != r,
                            "-lt" => l < r,
                            "-le" => l <= r,
                            "-gt" => l > r,
                            _ => l >= r,
                        }),
                        _ => Tri::Unknown,
                    },
                };
            }
        }
        match remaining.first() {
            Some(value) => {
                self.at += 1;
                match value {
                    Some(text) => Tri::from(!text.is_empty()),
                    None => Tri::Unknown,
                }
            }
            None => Tri::False,
        }
    }
}

fn is_binary(arg: Option<&Option<String>>) -> bool {
    matches!(
        arg.and_then(|a| a.as_deref()),
        Some("=" | "==" | "!=" | "-eq" | "-ne" | "-lt" | "-le" | "-gt" | "-ge")
    )
}

/// `dpkg-statoverride --list PATH` is decided from ROOT's file; `--add USER GROUP MODE PATH`
/// is a chown and a chmod (what `--update` does now, and every unpack does later).
fn statoverride(world: &dyn World, args: &[Option<String>], line: usize, state: &mut State) -> Tri {
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_deref() {
            Some("--list") => {
                return match rest.next() {
                    Some(Some(path)) if !path.contains(['*', '?', '[']) => {
                        Tri::from(world.has_statoverride(Path::new(path)))
                    }
                    _ => Tri::Unknown,
                };
            }
            Some("--add") => {
                let values: Vec<&Option<String>> = rest.by_ref().take(4).collect();
                let [user, group, mode, Some(path)] = values.as_slice() else {
                    return Tri::Unknown;
                };
                let Some(path) = normalize(path) else {
                    return Tri::Unknown;
                };
                let owner = |word: &Option<String>| match word {
                    Some(text) => parse_owner(text.strip_prefix('#').unwrap_or(text)),
                    None => Value::Unknown,
                };
                state.effects.push(Effect {
                    path: path.clone(),
                    recursive: false,
                    op: Op::Owner {
                        user: Some(owner(user)),
                        group: Some(owner(group)),
                    },
                    line,
                });
                state.effects.push(Effect {
                    path,
                    recursive: false,
                    op: Op::Mode {
                        spec: to_value((*mode).clone()),
                        umask: 0,
                    },
                    line,
                });
                return Tri::True;
            }
            Some("--admindir" | "--root") => {
                // Another database than ROOT's: not ours to model.
                return Tri::Unknown;
            }
            _ => {}
        }
    }
    Tri::Unknown
}

fn to_value(text: Option<String>) -> Value<String> {
    text.map_or(Value::Unknown, Value::Known)
}

fn parse_owner(text: &str) -> Value<Owner> {
    if text.is_empty() {
        return Value::Unknown;
    }
    let digits = text.strip_prefix('+').unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return digits
            .parse()
            .map_or(Value::Unknown, |id| Value::Known(Owner::Id(id)));
    }
    Value::Known(Owner::Name(text.to_string()))
}

/// An absolute path without `.`, `//` or a trailing `/`; `None` for relative paths and `..`.
fn normalize(path: &str) -> Option<PathBuf> {
    if !path.starts_with('/') {
        return None;
    }
    let mut out = PathBuf::from("/");
    for component in Path::new(path).components() {
        match component {
            Component::Normal(name) => out.push(name),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// The effects of `chmod`, `chown`, `chgrp`, `setcap` and `install` with `args`.
fn effects_of(name: &str, args: &[Option<String>], line: usize, umask: u32) -> Vec<Effect> {
    let effect = |path: PathBuf, recursive: bool, op: Op| Effect {
        path,
        recursive,
        op,
        line,
    };
    let paths = |operands: &[Option<String>]| -> Vec<PathBuf> {
        operands
            .iter()
            .filter_map(|o| o.as_deref().and_then(normalize))
            .collect()
    };
    match name {
        "chmod" | "chown" | "chgrp" => {
            let mut recursive = false;
            let mut operands = Vec::new();
            let mut reference = false;
            let mut options_done = false;
            for arg in args {
                match arg.as_deref() {
                    Some("--") if !options_done => options_done = true,
                    Some("--recursive") if !options_done => recursive = true,
                    Some(long) if !options_done && long.starts_with("--") => {
                        reference |= long.starts_with("--reference");
                    }
                    // chmod's `-x` is a mode, not an option: only these letters are options.
                    Some(short)
                        if !options_done
                            && short.len() > 1
                            && short.starts_with('-')
                            && short[1..].chars().all(|c| "RcfvhHLP".contains(c)) =>
                    {
                        recursive |= short.contains('R');
                    }
                    _ => operands.push(arg.clone()),
                }
            }
            let (value, targets) = if reference {
                (None, &operands[..])
            } else {
                match operands.split_first() {
                    Some((value, targets)) => (Some(value.clone()), targets),
                    None => return Vec::new(),
                }
            };
            let op = match name {
                "chmod" => Op::Mode {
                    spec: to_value(value.flatten()),
                    umask,
                },
                "chgrp" => Op::Owner {
                    user: None,
                    group: Some(value.flatten().map_or(Value::Unknown, |g| parse_owner(&g))),
                },
                _ => {
                    let (user, group) = match value.flatten() {
                        None => (Some(Value::Unknown), Some(Value::Unknown)),
                        Some(spec) => split_owner(&spec),
                    };
                    Op::Owner { user, group }
                }
            };
            paths(targets)
                .into_iter()
                .map(|p| effect(p, recursive, op.clone()))
                .collect()
        }
        "setcap" => {
            let mut out = Vec::new();
            let mut rest = args.iter();
            let mut pending_caps: Option<Value<Option<String>>> = None;
            while let Some(arg) = rest.next() {
                match (arg.as_deref(), &pending_caps) {
                    (Some("-v"), None) => return Vec::new(),
                    (Some("-q" | "-f"), None) => {}
                    (Some("-n"), None) => {
                        rest.next();
                    }
                    (Some("-r"), None) => pending_caps = Some(Value::Known(None)),
                    (Some("-"), None) => pending_caps = Some(Value::Unknown),
                    (caps, None) => {
                        pending_caps =
                            Some(caps.map_or(Value::Unknown, |c| Value::Known(Some(c.to_string()))))
                    }
                    (path, Some(caps)) => {
                        if let Some(path) = path.and_then(normalize) {
                            out.push(effect(path, false, Op::Capability(caps.clone())));
                        }
                        pending_caps = None;
                    }
                }
            }
            out
        }
        "install" => install_effects(args, line),
        _ => Vec::new(),
    }
}

/// `chown USER[:GROUP]` (also `USER.GROUP`, `:GROUP`). `USER:` (the login group) is unknown.
fn split_owner(spec: &str) -> (Option<Value<Owner>>, Option<Value<Owner>>) {
    let (user, group) = match spec.split_once(':').or_else(|| spec.split_once('.')) {
        Some((user, group)) => (user, Some(group)),
        None => (spec, None),
    };
    let user = (!user.is_empty()).then(|| parse_owner(user));
    let group = match group {
        Some("") => Some(Value::Unknown),
        Some(group) => Some(parse_owner(group)),
        None => None,
    };
    (user, group)
}

/// `install [-d] [-m MODE] [-o USER] [-g GROUP] ...`: the created directories, or the
/// destination file, get the owner (when given) and the mode (0755 unless given).
fn install_effects(args: &[Option<String>], line: usize) -> Vec<Effect> {
    let install = InstallArgs::parse(args);
    let mut out = Vec::new();
    for path in install
        .destinations()
        .iter()
        .filter_map(|d| d.as_deref().and_then(normalize))
    {
        if install.user.is_some() || install.group.is_some() {
            out.push(Effect {
                path: path.clone(),
                recursive: false,
                op: Op::Owner {
                    user: install.user.clone(),
                    group: install.group.clone(),
                },
                line,
            });
        }
        out.push(Effect {
            path,
            recursive: false,
            op: Op::Mode {
                spec: install.mode.clone(),
                umask: 0,
            },
            line,
        });
    }
    out
}

/// What `install`'s arguments say about the metadata it sets, and where.
struct InstallArgs {
    directory: bool,
    mode: Value<String>,
    user: Option<Value<Owner>>,
    group: Option<Value<Owner>>,
    /// `-t DIR`; `Some(None)` when DIR is not known.
    target_dir: Option<Option<String>>,
    operands: Vec<Option<String>>,
}

type ArgIter<'a> = std::slice::Iter<'a, Option<String>>;

impl InstallArgs {
    fn parse(args: &[Option<String>]) -> InstallArgs {
        let mut install = InstallArgs {
            directory: false,
            mode: Value::Known("0755".to_string()),
            user: None,
            group: None,
            target_dir: None,
            operands: Vec::new(),
        };
        let mut rest = args.iter();
        while let Some(arg) = rest.next() {
            match arg.as_deref() {
                None => install.operands.push(None),
                Some(text) if text.starts_with("--") => install.long_option(text, &mut rest),
                Some(text) if text.starts_with('-') && text.len() > 1 => {
                    install.short_options(&text[1..], &mut rest)
                }
                Some(_) => install.operands.push(arg.clone()),
            }
        }
        install
    }

    /// `--mode=MODE`, `--mode MODE`, ...; options that change no metadata are skipped.
    fn long_option(&mut self, text: &str, rest: &mut ArgIter) {
        if let Some(value) = text.strip_prefix("--mode=") {
            self.mode = to_value(Some(value.to_string()));
        } else if let Some(value) = text.strip_prefix("--owner=") {
            self.user = Some(parse_owner(value));
        } else if let Some(value) = text.strip_prefix("--group=") {
            self.group = Some(parse_owner(value));
        } else if let Some(value) = text.strip_prefix("--target-directory=") {
            self.target_dir = Some(Some(value.to_string()));
        } else if text == "--directory" {
            self.directory = true;
        } else if text == "--mode" {
            self.mode = to_value(rest.next().cloned().flatten());
        } else if text == "--owner" || text == "--group" {
            let value = rest
                .next()
                .cloned()
                .flatten()
                .map_or(Value::Unknown, |v| parse_owner(&v));
            if text == "--owner" {
                self.user = Some(value);
            } else {
                self.group = Some(value);
            }
        }
    }

    /// Clustered short options; -m, -o, -g, -t take the rest of the word or the next.
    fn short_options(&mut self, flags: &str, rest: &mut ArgIter) {
        let mut take = |inline: &str| -> Option<String> {
            if inline.is_empty() {
                rest.next().cloned().flatten()
            } else {
                Some(inline.to_string())
            }
        };
        let owner = |value: Option<String>| value.map_or(Value::Unknown, |v| parse_owner(&v));
        for (i, c) in flags.char_indices() {
            let inline = &flags[i + c.len_utf8()..];
            match c {
                'm' => self.mode = to_value(take(inline)),
                'o' => self.user = Some(owner(take(inline))),
                'g' => self.group = Some(owner(take(inline))),
                't' => self.target_dir = Some(take(inline)),
                'S' => {
                    take(inline);
                }
                'd' => {
                    self.directory = true;
                    continue;
                }
                _ => continue,
            }
            // An option with a value took the rest of the word: the cluster ends.
            break;
        }
    }

    /// The paths whose metadata is set: the directories of `-d`, else each file's
    /// destination (`None` where it is not known).
    fn destinations(&self) -> Vec<Option<String>> {
        let into = |dir: &str, src: &str| {
            Some(format!(
                "{dir}/{}",
                Path::new(src).file_name()?.to_string_lossy()
            ))
        };
        let operands = &self.operands;
        if self.directory {
            operands.clone()
        } else if let Some(dir) = &self.target_dir {
            operands
                .iter()
                .map(|src| match (dir, src) {
                    (Some(dir), Some(src)) => into(dir, src),
                    _ => None,
                })
                .collect()
        } else if operands.len() == 2 {
            vec![operands[1].clone()]
        } else if let Some((Some(dir), sources)) = operands.split_last() {
            sources
                .iter()
                .map(|src| into(dir, src.as_deref()?))
                .collect()
        } else {
            Vec::new()
        }
    }
}

/// Shell pattern matching for `case`: `*`, `?`, `[...]` (with `!`/`^`), `\x`.
/// Whether the shell would expand this unquoted text as a pathname pattern: a lone `[` (the
/// test command) or `]` is not one, a bracket expression needs its closing `]`.
fn is_glob(text: &str) -> bool {
    text.contains(['*', '?'])
        || text
            .find('[')
            .is_some_and(|at| text[at + 1..].contains(']'))
}

fn glob_match(pattern: &str, text: &str) -> bool {
    fn inner(p: &[char], t: &[char]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some('*') => (0..=t.len()).any(|i| inner(&p[1..], &t[i..])),
            Some('?') => !t.is_empty() && inner(&p[1..], &t[1..]),
            Some('\\') if p.len() > 1 => t.first() == Some(&p[1]) && inner(&p[2..], &t[1..]),
            Some('[') => {
                let Some(close) = p.iter().skip(2).position(|&c| c == ']').map(|i| i + 2) else {
                    return t.first() == Some(&'[') && inner(&p[1..], &t[1..]);
                };
                let Some(&c) = t.first() else { return false };
                let mut set = &p[1..close];
                let negate = matches!(set.first(), Some('!' | '^'));
                if negate {
                    set = &set[1..];
                }
                let mut found = false;
                let mut i = 0;
                while i < set.len() {
                    if i + 2 < set.len() && set[i + 1] == '-' {
                        found |= set[i] <= c && c <= set[i + 2];
                        i += 3;
                    } else {
                        found |= set[i] == c;
                        i += 1;
                    }
                }
                found != negate && inner(&p[close + 1..], &t[1..])
            }
            Some(&c) => t.first() == Some(&c) && inner(&p[1..], &t[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    inner(&p, &t)
}

/// Variables whose values reach an effect command's words, directly or through other
/// variables and `for` loops.
fn relevant_variables(script: &List) -> HashSet<String> {
    let mut effect_vars = HashSet::new();
    let mut flows: Vec<(String, HashSet<String>)> = Vec::new();
    visit_list(script, &mut |command| match command {
        Command::Simple(simple) => {
            for (name, value) in &simple.assignments {
                flows.push((name.clone(), word_vars(value)));
            }
            let name = simple.words.first().and_then(Word::literal);
            if name
                .as_deref()
                .is_some_and(|n| EFFECT_COMMANDS.contains(&n))
            {
                for word in &simple.words {
                    effect_vars.extend(word_vars(word));
                }
            }
            // Function calls pass their arguments on as $1...: assume they may matter.
            if name.is_some_and(|n| !EFFECT_COMMANDS.contains(&n.as_str())) {
                for word in &simple.words[1..] {
                    flows.push(("1".into(), word_vars(word)));
                }
            }
        }
        Command::For {
            var,
            items: Some(items),
            ..
        } => {
            let vars = items.iter().flat_map(word_vars).collect();
            flows.push((var.clone(), vars));
        }
        _ => {}
    });
    // Positional parameters used in effect commands make every call argument relevant.
    let positional_used = effect_vars.iter().any(|v| v.parse::<usize>().is_ok());
    loop {
        let before = effect_vars.len();
        for (target, sources) in &flows {
            let reaches = effect_vars.contains(target) || (target == "1" && positional_used);
            if reaches {
                effect_vars.extend(sources.iter().cloned());
            }
        }
        if effect_vars.len() == before {
            return effect_vars;
        }
    }
}

fn word_vars(word: &Word) -> HashSet<String> {
    let mut out = HashSet::new();
    for part in &word.0 {
        match part {
            Part::Param { name, op, .. } => {
                out.insert(name.clone());
                if let Some((_, inner)) = op {
                    out.extend(word_vars(inner));
                }
            }
            Part::CommandSubst { text, .. } => {
                if let Ok(list) = parse::parse(text) {
                    visit_list(&list, &mut |command| {
                        if let Command::Simple(simple) = command {
                            for word in &simple.words {
                                out.extend(word_vars(word));
                            }
                        }
                    });
                }
            }
            _ => {}
        }
    }
    out
}

fn visit_list<'a>(list: &'a [AndOr], visit: &mut dyn FnMut(&'a Command)) {
    for and_or in list {
        for pipeline in std::iter::once(&and_or.first).chain(and_or.rest.iter().map(|(_, p)| p)) {
            for command in &pipeline.commands {
                visit_command(command, visit);
            }
        }
    }
}

fn visit_command<'a>(command: &'a Command, visit: &mut dyn FnMut(&'a Command)) {
    visit(command);
    match command {
        Command::Simple(_) => {}
        Command::If { arms, otherwise } => {
            for (cond, body) in arms {
                visit_list(cond, visit);
                visit_list(body, visit);
            }
            if let Some(list) = otherwise {
                visit_list(list, visit);
            }
        }
        Command::For { body, .. } => visit_list(body, visit),
        Command::Loop { cond, body, .. } => {
            visit_list(cond, visit);
            visit_list(body, visit);
        }
        Command::Case { arms, .. } => {
            for (_, body) in arms {
                visit_list(body, visit);
            }
        }
        Command::Group(list) => visit_list(list, visit),
        Command::Function { body, .. } => visit_command(body, visit),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A world where `/etc/flag` exists, `/usr/bin/tool` has a statoverride, `/bin/ping` is
    /// diverted to `/bin/ping.real`, setcap is installed and debconf says `q/yes` is `true`.
    struct Fake;

    impl World for Fake {
        fn has_statoverride(&self, path: &Path) -> bool {
            path == Path::new("/usr/bin/tool")
        }
        fn truename(&self, path: &Path) -> PathBuf {
            if path == Path::new("/bin/ping") {
                PathBuf::from("/bin/ping.real")
            } else {
                path.to_path_buf()
            }
        }
        fn command_exists(&self, name: &str) -> Option<bool> {
            (name == "setcap").then_some(true)
        }
        fn debconf(&self, question: &str) -> Option<String> {
            (question == "q/yes").then(|| "true".to_string())
        }
        fn file_test(&self, op: &str, path: &Path) -> Option<bool> {
            match (op, path.to_str()?) {
                (_, "/etc/flag") => Some(true),
                (_, p) if p.starts_with("/etc/") => Some(false),
                _ => None,
            }
        }
    }

    fn run(script: &str) -> Vec<Vec<String>> {
        let list = parse::parse(script).unwrap();
        let evaluation = evaluate(
            &list,
            &[Some("configure"), None],
            &[("DPKG_ROOT", "")],
            &Fake,
        );
        evaluation
            .scenarios
            .iter()
            .map(|scenario| {
                scenario
                    .iter()
                    .map(|e| {
                        let op = match &e.op {
                            Op::Mode { spec, .. } => format!("mode {spec:?}"),
                            Op::Owner { user, group } => format!("owner {user:?} {group:?}"),
                            Op::Capability(caps) => format!("caps {caps:?}"),
                        };
                        format!(
                            "{}{} {op}",
                            e.path.display(),
                            if e.recursive { " -R" } else { "" }
                        )
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn known_conditions_decide_and_unknown_ones_take_the_branch_that_acts() {
        let script = r#"
set -e
action="$1"
crondir=/var/spool/cron
if [ "$action" != configure ]; then
    exit 0
fi
if [ -d $crondir/crontabs ] ; then
    chown root:crontab $crondir/crontabs
    chmod 1730 $crondir/crontabs
fi
if [ -f /etc/staff-group-for-usr-local ]; then
    chmod 2775 /usr/local
fi
if [ -f /etc/flag ]; then perm=2755; else perm=755; fi
chmod $perm /srv/x
if ! dpkg-statoverride --list /usr/bin/tool >/dev/null; then
    dpkg-statoverride --update --add root shadow 2755 /usr/bin/tool
fi
if ! dpkg-statoverride --list /usr/bin/other >/dev/null; then
    dpkg-statoverride --update --add root '#42' 4754 /usr/bin/other
fi
[ -n "$2" ] && exit 0
chmod 600 /etc/after
"#;
        assert_eq!(
            run(script),
            vec![vec![
                "/var/spool/cron/crontabs owner Some(Known(Name(\"root\"))) Some(Known(Name(\"crontab\")))",
                "/var/spool/cron/crontabs mode Known(\"1730\")",
                "/srv/x mode Known(\"2755\")",
                "/usr/bin/other owner Some(Known(Name(\"root\"))) Some(Known(Id(42)))",
                "/usr/bin/other mode Known(\"4754\")",
                "/etc/after mode Known(\"600\")",
            ]]
        );
    }

    #[test]
    fn setcap_with_a_fallback_gives_two_scenarios_the_capability_first() {
        let script = r#"
PROGRAM=$(dpkg-divert --truename /bin/ping)
if [ "$1" = configure ]; then
    if command -v setcap > /dev/null; then
        if setcap cap_net_raw+ep $PROGRAM; then
            chmod u-s $PROGRAM
        else
            echo "Setcap failed on $PROGRAM, falling back to setuid" >&2
            chmod u+s $PROGRAM
        fi
    else
        chmod u+s $PROGRAM
    fi
fi
"#;
        assert_eq!(
            run(script),
            vec![
                vec![
                    "/bin/ping.real caps Known(Some(\"cap_net_raw+ep\"))".to_string(),
                    "/bin/ping.real mode Known(\"u-s\")".to_string(),
                ],
                vec!["/bin/ping.real mode Known(\"u+s\")".to_string()],
            ]
        );
    }

    #[test]
    fn functions_loops_debconf_and_unknown_values() {
        let script = r#"
set_perms() {
    chown "root:$2" "$DPKG_ROOT$1"
    chmod "$3" "$DPKG_ROOT/$1"
}
db_get q/yes
if [ "$RET" = true ]; then owner=man:man; mode=6755; else owner=root:root; mode=0755; fi
for x in man mandb; do
    chown $owner "/usr/bin/$x" || true
    chmod $mode "/usr/bin/$x"
done
set_perms /var/lib/x staff 2775
chgrp $(stat -c %g /usr/local) /usr/local/share/ca
chown -R man: /var/cache/man
install -d -oDebian-exim -gadm -m2750 /var/log/exim4
install --mode 644 /dev/null /etc/apparmor.d/local/x
for f in /var/log/*.log; do chmod 600 "$f"; done
chmod 644 relative/path
"#;
        let scenarios = run(script);
        assert_eq!(scenarios.len(), 1, "{scenarios:#?}");
        let expected = [
            "/usr/bin/man owner Some(Known(Name(\"man\"))) Some(Known(Name(\"man\")))",
            "/usr/bin/man mode Known(\"6755\")",
            "/usr/bin/mandb owner Some(Known(Name(\"man\"))) Some(Known(Name(\"man\")))",
            "/usr/bin/mandb mode Known(\"6755\")",
            "/var/lib/x owner Some(Known(Name(\"root\"))) Some(Known(Name(\"staff\")))",
            "/var/lib/x mode Known(\"2775\")",
            "/usr/local/share/ca owner None Some(Unknown)",
            "/var/cache/man -R owner Some(Known(Name(\"man\"))) Some(Unknown)",
            "/var/log/exim4 owner Some(Known(Name(\"Debian-exim\"))) Some(Known(Name(\"adm\")))",
            "/var/log/exim4 mode Known(\"2750\")",
            "/etc/apparmor.d/local/x mode Known(\"644\")",
        ];
        assert_eq!(scenarios[0], expected);
    }

    #[test]
    fn install_sets_the_metadata_of_each_destination() {
        let script = r#"
install -m 4755 -o root -g shadow /tmp/build/tool /usr/bin/tool
install -t /usr/lib/x -m0640 a/one /tmp/two
install --target-directory=/etc/y --group=adm -S .bak three
install -Dm755 --owner daemon src1 src2 /srv/dir
install -dgstaff /var/a /var/b
install -- /tmp/z /opt/z
"#;
        let scenarios = run(script);
        let expected = [
            "/usr/bin/tool owner Some(Known(Name(\"root\"))) Some(Known(Name(\"shadow\")))",
            "/usr/bin/tool mode Known(\"4755\")",
            "/usr/lib/x/one mode Known(\"0640\")",
            "/usr/lib/x/two mode Known(\"0640\")",
            "/etc/y/three owner None Some(Known(Name(\"adm\")))",
            "/etc/y/three mode Known(\"0755\")",
            "/srv/dir/src1 owner Some(Known(Name(\"daemon\"))) None",
            "/srv/dir/src1 mode Known(\"755\")",
            "/srv/dir/src2 owner Some(Known(Name(\"daemon\"))) None",
            "/srv/dir/src2 mode Known(\"755\")",
            "/var/a owner None Some(Known(Name(\"staff\")))",
            "/var/a mode Known(\"0755\")",
            "/var/b owner None Some(Known(Name(\"staff\")))",
            "/var/b mode Known(\"0755\")",
            "/opt/z mode Known(\"0755\")",
        ];
        assert_eq!(scenarios, vec![expected.to_vec()]);
    }

    #[test]
    fn a_fallback_after_or_is_a_second_outcome() {
        let script = "setcap cap_net_raw+ep /bin/x || chmod u+s /bin/x\n";
        assert_eq!(
            run(script),
            vec![
                vec!["/bin/x caps Known(Some(\"cap_net_raw+ep\"))".to_string()],
                vec!["/bin/x mode Known(\"u+s\")".to_string()],
            ]
        );
    }

    #[test]
    fn an_unknown_answer_keeps_both_ways() {
        let script = r#"
db_get q/unknown
if [ "$RET" = true ]; then mode=4755; else mode=0755; fi
chmod $mode /usr/bin/x
case "$2" in
    1.*) chmod 700 /var/lib/y ;;
    *) : ;;
esac
"#;
        let scenarios = run(script);
        assert_eq!(
            scenarios,
            vec![
                vec![
                    "/usr/bin/x mode Known(\"4755\")".to_string(),
                    "/var/lib/y mode Known(\"700\")".to_string()
                ],
                vec![
                    "/usr/bin/x mode Known(\"0755\")".to_string(),
                    "/var/lib/y mode Known(\"700\")".to_string()
                ],
            ]
        );
    }
}
