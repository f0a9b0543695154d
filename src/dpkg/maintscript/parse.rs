//! A tolerant parser for the POSIX shell that Debian maintainer scripts are written in: enough
//! structure (`if`, `case`, `for`, `while`, functions, `&&`/`||`, pipelines) and enough of the
//! word syntax (quotes, `$VAR`, `${VAR:-x}`, `$(...)`, backquotes, here-documents,
//! redirections) to find the `chmod`/`chown`/`setcap` lines and the conditions around them.
//!
//! It does not execute anything and does not expand anything: [`super::eval`] does that, over
//! the tree built here. Redirections are dropped (they change no file metadata that matters
//! here), here-document bodies are skipped, and arithmetic `$((...))` is kept opaque.
//! Bash extensions beyond `function NAME` and `[[ ]]` (read as a command word) are not
//! understood; a script that does not parse is reported by the caller, never guessed at.

use std::fmt;

/// A piece of a word.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    /// Literal text; `quoted` text is never field-split or globbed.
    Literal { text: String, quoted: bool },
    /// `$NAME`, `${NAME}`, `$1`, `$@`, with an optional `${NAME:-word}`-style operator.
    Param {
        name: String,
        op: Option<(ParamOp, Word)>,
        quoted: bool,
    },
    /// `$(...)` or `` `...` ``: the inner script text.
    CommandSubst { text: String, quoted: bool },
    /// `$((...))`, or a `${...}` form not understood: its value is never known.
    Opaque,
}

/// The `${NAME<op>word}` operators whose value can be worked out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamOp {
    /// `:-` (`colon`) or `-`: the word when unset (or empty).
    Default { colon: bool },
    /// `:+` or `+`: the word when set (and not empty), else nothing.
    Alternative { colon: bool },
    /// `:=` or `=`: like `Default`, and assigns.
    Assign { colon: bool },
}

/// One shell word before expansion.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Word(pub Vec<Part>);

impl Word {
    /// The word's text when it is a plain literal (a keyword, a function name).
    pub fn literal(&self) -> Option<String> {
        let mut out = String::new();
        for part in &self.0 {
            match part {
                Part::Literal { text, .. } => out.push_str(text),
                _ => return None,
            }
        }
        Some(out)
    }

    /// Unquoted literal text only: what a reserved word must be.
    fn bare(&self) -> Option<&str> {
        match self.0.as_slice() {
            [Part::Literal {
                text,
                quoted: false,
            }] => Some(text),
            _ => None,
        }
    }
}

/// A simple command: assignments, then words (the first is the command name).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Simple {
    pub line: usize,
    pub assignments: Vec<(String, Word)>,
    pub words: Vec<Word>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Simple(Simple),
    /// `if C; then B; elif C2; then B2; else E; fi`
    If {
        arms: Vec<(List, List)>,
        otherwise: Option<List>,
    },
    /// `for VAR [in WORDS]; do BODY; done` (`items` is `None` without `in`: `"$@"`).
    For {
        var: String,
        items: Option<Vec<Word>>,
        body: List,
    },
    /// `while C; do B; done`, or `until` (`until: true`).
    Loop {
        cond: List,
        body: List,
        until: bool,
    },
    Case {
        word: Word,
        arms: Vec<(Vec<Word>, List)>,
    },
    /// `{ ...; }` or `( ... )`.
    Group(List),
    Function {
        name: String,
        body: Box<Command>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pipeline {
    pub negated: bool,
    pub commands: Vec<Command>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Connector {
    And,
    Or,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AndOr {
    pub first: Pipeline,
    pub rest: Vec<(Connector, Pipeline)>,
}

pub type List = Vec<AndOr>;

/// Why a script could not be read, with the line where it went wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub what: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.what)
    }
}

/// How deep brackets and compound commands may nest. Debian's scripts stay under 10; the
/// lexer, the parser and the walk all recurse once per level, on a worker's 2 MiB stack.
pub const MAX_NESTING: usize = 64;

/// Parses a whole script.
pub fn parse(text: &str) -> Result<List, ParseError> {
    check_nesting(text)?;
    let tokens = Lexer::new(text).tokens()?;
    let mut parser = Parser { tokens, at: 0 };
    let list = parser.list(&[])?;
    match parser.peek() {
        None => Ok(list),
        Some(token) => Err(parser.error(format!("unexpected {}", token.kind))),
    }
}

/// Refuses a script nested deeper than [`MAX_NESTING`] before anything recurses on it: a
/// rough count of `(`, `{` (also `$(`, `${`) and `if`/`case`/`do` against their closers, outside
/// single quotes and comments. It overcounts at worst (a `case` pattern's `)` is not matched),
/// which only matters for scripts no package ships.
fn check_nesting(text: &str) -> Result<(), ParseError> {
    let mut depth: usize = 0;
    let mut line = 1;
    let mut previous = '\n';
    let mut word = String::new();
    let mut chars = text.chars().peekable();
    let mut single = false;
    let mut comment = false;
    let keyword = |word: &mut String, depth: &mut usize| {
        match word.as_str() {
            "if" | "case" | "do" => *depth += 1,
            "fi" | "esac" | "done" => *depth = depth.saturating_sub(1),
            _ => {}
        }
        word.clear();
    };
    while let Some(c) = chars.next() {
        let after = std::mem::replace(&mut previous, c);
        if c == '\n' {
            line += 1;
            comment = false;
        }
        if comment {
            continue;
        }
        if single {
            single = c != '\'';
            continue;
        }
        match c {
            '\'' => single = true,
            '\\' => {
                chars.next();
            }
            // A comment starts a word; `$#` and `${#x}` are no comments.
            '#' if after.is_whitespace() || after == ';' => comment = true,
            '(' | '{' => depth += 1,
            ')' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        if c.is_alphanumeric() || c == '_' {
            word.push(c);
        } else {
            keyword(&mut word, &mut depth);
        }
        if depth > MAX_NESTING {
            return Err(ParseError {
                line,
                what: format!("nested more than {MAX_NESTING} levels deep: refused"),
            });
        }
    }
    keyword(&mut word, &mut depth);
    Ok(())
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    Word(Word),
    Op(&'static str),
    Newline,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kind::Word(word) => match word.literal() {
                Some(text) => write!(f, "'{text}'"),
                None => write!(f, "a word"),
            },
            Kind::Op(op) => write!(f, "'{op}'"),
            Kind::Newline => write!(f, "end of line"),
        }
    }
}

#[derive(Clone, Debug)]
struct Token {
    kind: Kind,
    line: usize,
}

/// Operators, longest first so `;;` wins over `;`.
const OPERATORS: &[&str] = &["&&", "||", ";;", ";&", ";", "&", "|", "(", ")"];

struct Lexer {
    chars: Vec<char>,
    at: usize,
    line: usize,
    /// Here-document delimiters seen on this line: (delimiter, strip leading tabs).
    pending_heredocs: Vec<(String, bool)>,
}

impl Lexer {
    fn new(text: &str) -> Lexer {
        Lexer {
            chars: text.chars().collect(),
            at: 0,
            line: 1,
            pending_heredocs: Vec::new(),
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.at + offset).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.get(self.at).copied()?;
        self.at += 1;
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn error(&self, what: impl Into<String>) -> ParseError {
        ParseError {
            line: self.line,
            what: what.into(),
        }
    }

    fn tokens(mut self) -> Result<Vec<Token>, ParseError> {
        let mut out = Vec::new();
        while let Some(c) = self.peek() {
            match c {
                ' ' | '\t' | '\r' => {
                    self.bump();
                }
                '\\' if self.peek_at(1) == Some('\n') => {
                    self.bump();
                    self.bump();
                }
                '#' => {
                    while self.peek().is_some_and(|c| c != '\n') {
                        self.bump();
                    }
                }
                '\n' => {
                    let line = self.line;
                    self.bump();
                    self.skip_heredoc_bodies()?;
                    out.push(Token {
                        kind: Kind::Newline,
                        line,
                    });
                }
                '<' | '>' => self.redirection()?,
                _ => {
                    if let Some(op) = self.operator() {
                        // `&>` and `&>>` are bash redirections, not a background `&`.
                        if op == "&" && self.peek() == Some('>') {
                            self.redirection()?;
                            continue;
                        }
                        out.push(Token {
                            kind: Kind::Op(op),
                            line: self.line,
                        });
                        continue;
                    }
                    let line = self.line;
                    let word = self.word()?;
                    // `2>/dev/null`: digits right before a redirection name a descriptor.
                    if matches!(self.peek(), Some('<' | '>')) {
                        if let Some(text) = word.bare() {
                            if text.chars().all(|c| c.is_ascii_digit()) {
                                self.redirection()?;
                                continue;
                            }
                        }
                    }
                    out.push(Token {
                        kind: Kind::Word(word),
                        line,
                    });
                }
            }
        }
        Ok(out)
    }

    fn operator(&mut self) -> Option<&'static str> {
        for op in OPERATORS {
            let matches = op
                .chars()
                .enumerate()
                .all(|(i, c)| self.peek_at(i) == Some(c));
            if matches {
                for _ in 0..op.len() {
                    self.bump();
                }
                return Some(op);
            }
        }
        None
    }

    /// Consumes a redirection operator (`>`, `>>`, `>|`, `>&`, `<`, `<&`, `<>`, `<<`, `<<-`,
    /// `<<<`, bash's `&>` and `&>>`) and its target word or here-document delimiter.
    fn redirection(&mut self) -> Result<(), ParseError> {
        let mut op = String::new();
        if self.peek() == Some('&') {
            op.push('&');
            self.bump();
        }
        let Some(first) = self.bump() else {
            return Err(self.error("redirection without an operator"));
        };
        op.push(first);
        match (first, self.peek()) {
            ('>', Some(c @ ('>' | '|' | '&'))) | ('<', Some(c @ ('&' | '>'))) => {
                op.push(c);
                self.bump();
            }
            ('<', Some('<')) => {
                op.push('<');
                self.bump();
                if let Some(c @ ('-' | '<')) = self.peek() {
                    op.push(c);
                    self.bump();
                }
            }
            _ => {}
        }
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.bump();
        }
        if self.peek().is_none_or(|c| c == '\n') {
            return Err(self.error(format!("redirection '{op}' without a target")));
        }
        let target = self.word()?;
        if op == "<<" || op == "<<-" {
            let delimiter: String = target
                .0
                .iter()
                .map(|part| match part {
                    Part::Literal { text, .. } => text.clone(),
                    Part::Param { name, .. } => format!("${name}"),
                    _ => String::new(),
                })
                .collect();
            self.pending_heredocs.push((delimiter, op == "<<-"));
        }
        Ok(())
    }

    /// After a newline: the bodies of the here-documents opened on the line just ended.
    fn skip_heredoc_bodies(&mut self) -> Result<(), ParseError> {
        for (delimiter, strip_tabs) in std::mem::take(&mut self.pending_heredocs) {
            loop {
                if self.peek().is_none() {
                    return Err(self.error(format!("here-document '{delimiter}' never ends")));
                }
                let mut line = String::new();
                while let Some(c) = self.peek() {
                    self.bump();
                    if c == '\n' {
                        break;
                    }
                    line.push(c);
                }
                let line = if strip_tabs {
                    line.trim_start_matches('\t')
                } else {
                    &line
                };
                if line == delimiter {
                    break;
                }
            }
        }
        Ok(())
    }

    fn is_word_end(c: char) -> bool {
        matches!(
            c,
            ' ' | '\t' | '\r' | '\n' | ';' | '&' | '|' | '(' | ')' | '<' | '>'
        )
    }

    fn word(&mut self) -> Result<Word, ParseError> {
        let mut parts: Vec<Part> = Vec::new();
        let mut literal = String::new();
        let flush = |parts: &mut Vec<Part>, literal: &mut String, quoted: bool| {
            if !literal.is_empty() {
                parts.push(Part::Literal {
                    text: std::mem::take(literal),
                    quoted,
                });
            }
        };
        while let Some(c) = self.peek() {
            if Self::is_word_end(c) {
                break;
            }
            match c {
                '\\' => {
                    self.bump();
                    match self.bump() {
                        Some('\n') => {}
                        Some(escaped) => {
                            flush(&mut parts, &mut literal, false);
                            parts.push(Part::Literal {
                                text: escaped.to_string(),
                                quoted: true,
                            });
                        }
                        None => literal.push('\\'),
                    }
                }
                '\'' => {
                    flush(&mut parts, &mut literal, false);
                    self.bump();
                    let mut text = String::new();
                    loop {
                        match self.bump() {
                            Some('\'') => break,
                            Some(c) => text.push(c),
                            None => return Err(self.error("unterminated single quote")),
                        }
                    }
                    parts.push(Part::Literal { text, quoted: true });
                }
                '"' => {
                    flush(&mut parts, &mut literal, false);
                    self.bump();
                    self.double_quoted(&mut parts)?;
                }
                '$' => {
                    flush(&mut parts, &mut literal, false);
                    parts.push(self.dollar(false)?);
                }
                '`' => {
                    flush(&mut parts, &mut literal, false);
                    parts.push(self.backquote(false)?);
                }
                _ => {
                    literal.push(c);
                    self.bump();
                }
            }
        }
        flush(&mut parts, &mut literal, false);
        if parts.is_empty() {
            // `""`: an empty word that still counts as a word.
            parts.push(Part::Literal {
                text: String::new(),
                quoted: true,
            });
        }
        Ok(Word(parts))
    }

    fn double_quoted(&mut self, parts: &mut Vec<Part>) -> Result<(), ParseError> {
        let mut literal = String::new();
        let mut any = false;
        loop {
            let Some(c) = self.peek() else {
                return Err(self.error("unterminated double quote"));
            };
            match c {
                '"' => {
                    self.bump();
                    break;
                }
                '\\' => {
                    self.bump();
                    match self.bump() {
                        Some(c @ ('$' | '`' | '"' | '\\')) => literal.push(c),
                        Some('\n') => {}
                        Some(c) => {
                            literal.push('\\');
                            literal.push(c);
                        }
                        None => return Err(self.error("unterminated double quote")),
                    }
                }
                '$' | '`' => {
                    if !literal.is_empty() {
                        parts.push(Part::Literal {
                            text: std::mem::take(&mut literal),
                            quoted: true,
                        });
                    }
                    any = true;
                    let part = if c == '$' {
                        self.dollar(true)?
                    } else {
                        self.backquote(true)?
                    };
                    parts.push(part);
                }
                _ => {
                    literal.push(c);
                    self.bump();
                }
            }
        }
        if !literal.is_empty() || !any {
            parts.push(Part::Literal {
                text: literal,
                quoted: true,
            });
        }
        Ok(())
    }

    fn backquote(&mut self, quoted: bool) -> Result<Part, ParseError> {
        self.bump();
        let mut text = String::new();
        loop {
            match self.bump() {
                Some('`') => break,
                Some('\\') => match self.bump() {
                    Some(c @ ('`' | '\\' | '$')) => text.push(c),
                    Some(c) => {
                        text.push('\\');
                        text.push(c);
                    }
                    None => return Err(self.error("unterminated backquote")),
                },
                Some(c) => text.push(c),
                None => return Err(self.error("unterminated backquote")),
            }
        }
        Ok(Part::CommandSubst { text, quoted })
    }

    fn dollar(&mut self, quoted: bool) -> Result<Part, ParseError> {
        self.bump();
        match self.peek() {
            Some('(') if self.peek_at(1) == Some('(') => {
                self.bump();
                self.bump();
                self.balanced(')', 2)?;
                Ok(Part::Opaque)
            }
            Some('(') => {
                self.bump();
                let text = self.balanced(')', 1)?;
                Ok(Part::CommandSubst { text, quoted })
            }
            Some('{') => {
                self.bump();
                let inner = self.balanced('}', 1)?;
                Ok(parse_braced(&inner, quoted))
            }
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {
                let mut name = String::new();
                while let Some(c) = self.peek() {
                    if c.is_ascii_alphanumeric() || c == '_' {
                        name.push(c);
                        self.bump();
                    } else {
                        break;
                    }
                }
                Ok(Part::Param {
                    name,
                    op: None,
                    quoted,
                })
            }
            Some(c) if c.is_ascii_digit() || "@*#?$!-".contains(c) => {
                self.bump();
                Ok(Part::Param {
                    name: c.to_string(),
                    op: None,
                    quoted,
                })
            }
            // A lone `$` is literal.
            _ => Ok(Part::Literal {
                text: "$".into(),
                quoted,
            }),
        }
    }

    /// Text up to the `depth`-th unmatched `close`, skipping quoted parts; the closers are
    /// consumed and not returned.
    fn balanced(&mut self, close: char, depth: usize) -> Result<String, ParseError> {
        let open = if close == ')' { '(' } else { '{' };
        let mut level = depth;
        let mut text = String::new();
        let start = self.line;
        let mut closers = 0;
        while let Some(c) = self.bump() {
            match c {
                '\\' => {
                    text.push(c);
                    if let Some(next) = self.bump() {
                        text.push(next);
                    }
                    continue;
                }
                '\'' => {
                    text.push(c);
                    loop {
                        match self.bump() {
                            Some('\'') => break,
                            Some(inner) => text.push(inner),
                            None => break,
                        }
                    }
                    text.push('\'');
                    continue;
                }
                '"' => {
                    text.push(c);
                    while let Some(inner) = self.bump() {
                        text.push(inner);
                        if inner == '\\' {
                            if let Some(next) = self.bump() {
                                text.push(next);
                            }
                        } else if inner == '"' {
                            break;
                        }
                    }
                    continue;
                }
                c if c == open => level += 1,
                c if c == close => {
                    level -= 1;
                    if level < depth {
                        closers += 1;
                    }
                    if level == 0 {
                        // Drop the closers that belong to the opening `$((` / `$(` / `${`.
                        for _ in 1..closers {
                            text.pop();
                        }
                        return Ok(text);
                    }
                }
                _ => {}
            }
            text.push(c);
        }
        Err(ParseError {
            line: start,
            what: format!("'{close}' never closes"),
        })
    }
}

/// `${...}` contents: a name with an optional operator we understand, else opaque.
fn parse_braced(inner: &str, quoted: bool) -> Part {
    let name_len = inner
        .char_indices()
        .find(|&(i, c)| {
            !(c.is_ascii_alphanumeric() || c == '_' || (i == 0 && "@*#?$!-".contains(c)))
        })
        .map_or(inner.len(), |(i, _)| i);
    let (name, rest) = inner.split_at(name_len);
    if name.is_empty() {
        return Part::Opaque;
    }
    let op = if rest.is_empty() {
        None
    } else {
        let (colon, rest) = match rest.strip_prefix(':') {
            Some(rest) => (true, rest),
            None => (false, rest),
        };
        let (op, word) = match rest.chars().next() {
            Some('-') => (ParamOp::Default { colon }, &rest[1..]),
            Some('+') => (ParamOp::Alternative { colon }, &rest[1..]),
            Some('=') => (ParamOp::Assign { colon }, &rest[1..]),
            _ => return Part::Opaque,
        };
        let word = match Lexer::new(word).word_in_braces() {
            Ok(word) => word,
            Err(_) => return Part::Opaque,
        };
        Some((op, word))
    };
    Part::Param {
        name: name.to_string(),
        op,
        quoted,
    }
}

impl Lexer {
    /// The word of `${NAME:-word}`: everything up to the end, spaces included.
    fn word_in_braces(&mut self) -> Result<Word, ParseError> {
        let mut parts = Vec::new();
        while self.peek().is_some() {
            let word = self.word()?;
            parts.extend(word.0);
            if let Some(c) = self.peek() {
                parts.push(Part::Literal {
                    text: c.to_string(),
                    quoted: true,
                });
                self.bump();
            }
        }
        Ok(Word(parts))
    }
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

const RESERVED_ENDS: &[&str] = &["then", "elif", "else", "fi", "do", "done", "esac", "}"];

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn line(&self) -> usize {
        self.peek()
            .or_else(|| self.tokens.last())
            .map_or(1, |t| t.line)
    }

    fn error(&self, what: String) -> ParseError {
        ParseError {
            line: self.line(),
            what,
        }
    }

    fn peek_reserved(&self) -> Option<&str> {
        match &self.peek()?.kind {
            Kind::Word(word) => word.bare(),
            _ => None,
        }
    }

    fn peek_op(&self) -> Option<&'static str> {
        match self.peek()?.kind {
            Kind::Op(op) => Some(op),
            _ => None,
        }
    }

    fn skip_newlines(&mut self) {
        while matches!(self.peek().map(|t| &t.kind), Some(Kind::Newline)) {
            self.at += 1;
        }
    }

    fn expect_reserved(&mut self, word: &str) -> Result<(), ParseError> {
        self.skip_newlines();
        if self.peek_reserved() == Some(word) {
            self.at += 1;
            Ok(())
        } else {
            let found = self
                .peek()
                .map_or("end of script".to_string(), |t| t.kind.to_string());
            Err(self.error(format!("expected '{word}', found {found}")))
        }
    }

    fn expect_op(&mut self, op: &str) -> Result<(), ParseError> {
        if self.peek_op() == Some(op) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.error(format!("expected '{op}'")))
        }
    }

    /// Commands up to one of `stops` (a reserved word), `)`, `;;` or the end.
    fn list(&mut self, stops: &[&str]) -> Result<List, ParseError> {
        let mut list = Vec::new();
        loop {
            self.skip_newlines();
            let Some(token) = self.peek() else { break };
            match &token.kind {
                Kind::Op(")" | ";;" | ";&") => break,
                Kind::Op(";" | "&") => {
                    self.at += 1;
                    continue;
                }
                _ => {}
            }
            if let Some(word) = self.peek_reserved() {
                if stops.contains(&word) || RESERVED_ENDS.contains(&word) {
                    break;
                }
            }
            list.push(self.and_or()?);
            if let Some(";" | "&") = self.peek_op() {
                self.at += 1;
            }
        }
        Ok(list)
    }

    fn and_or(&mut self) -> Result<AndOr, ParseError> {
        let first = self.pipeline()?;
        let mut rest = Vec::new();
        loop {
            let connector = match self.peek_op() {
                Some("&&") => Connector::And,
                Some("||") => Connector::Or,
                _ => break,
            };
            self.at += 1;
            self.skip_newlines();
            rest.push((connector, self.pipeline()?));
        }
        Ok(AndOr { first, rest })
    }

    fn pipeline(&mut self) -> Result<Pipeline, ParseError> {
        let negated = self.peek_reserved() == Some("!");
        if negated {
            self.at += 1;
        }
        let mut commands = vec![self.command()?];
        while self.peek_op() == Some("|") {
            self.at += 1;
            self.skip_newlines();
            commands.push(self.command()?);
        }
        Ok(Pipeline { negated, commands })
    }

    fn command(&mut self) -> Result<Command, ParseError> {
        if self.peek_op() == Some("(") {
            self.at += 1;
            let list = self.list(&[])?;
            self.skip_newlines();
            self.expect_op(")")?;
            return Ok(Command::Group(list));
        }
        match self.peek_reserved() {
            Some("if") => return self.if_command(),
            Some("for") => return self.for_command(),
            Some(word @ ("while" | "until")) => {
                let until = word == "until";
                self.at += 1;
                let cond = self.list(&["do"])?;
                let body = self.do_group()?;
                return Ok(Command::Loop { cond, body, until });
            }
            Some("case") => return self.case_command(),
            Some("{") => {
                self.at += 1;
                let list = self.list(&[])?;
                self.expect_reserved("}")?;
                return Ok(Command::Group(list));
            }
            Some("function") => {
                self.at += 1;
                let Some(name) = self.peek_reserved().map(str::to_string) else {
                    return Err(self.error("expected a function name".into()));
                };
                self.at += 1;
                if self.peek_op() == Some("(") {
                    self.at += 1;
                    self.expect_op(")")?;
                }
                self.skip_newlines();
                let body = Box::new(self.command()?);
                return Ok(Command::Function { name, body });
            }
            _ => {}
        }
        // `name () compound`: a function definition.
        if let (Some(name), Some(Kind::Op("(")), Some(Kind::Op(")"))) = (
            self.peek_reserved().map(str::to_string),
            self.tokens.get(self.at + 1).map(|t| &t.kind),
            self.tokens.get(self.at + 2).map(|t| &t.kind),
        ) {
            self.at += 3;
            self.skip_newlines();
            let body = Box::new(self.command()?);
            return Ok(Command::Function { name, body });
        }
        self.simple()
    }

    fn simple(&mut self) -> Result<Command, ParseError> {
        let mut simple = Simple {
            line: self.line(),
            ..Simple::default()
        };
        while let Some(Token {
            kind: Kind::Word(word),
            ..
        }) = self.peek()
        {
            if simple.words.is_empty() {
                if let Some((name, value)) = split_assignment(word) {
                    simple.assignments.push((name, value));
                    self.at += 1;
                    continue;
                }
            }
            simple.words.push(word.clone());
            self.at += 1;
        }
        if simple.words.is_empty() && simple.assignments.is_empty() {
            let found = self
                .peek()
                .map_or("end of script".to_string(), |t| t.kind.to_string());
            return Err(self.error(format!("expected a command, found {found}")));
        }
        Ok(Command::Simple(simple))
    }

    fn if_command(&mut self) -> Result<Command, ParseError> {
        self.at += 1;
        let mut arms = Vec::new();
        let mut otherwise = None;
        loop {
            let cond = self.list(&["then"])?;
            self.expect_reserved("then")?;
            let body = self.list(&[])?;
            arms.push((cond, body));
            self.skip_newlines();
            match self.peek_reserved() {
                Some("elif") => {
                    self.at += 1;
                }
                Some("else") => {
                    self.at += 1;
                    otherwise = Some(self.list(&[])?);
                    self.expect_reserved("fi")?;
                    break;
                }
                _ => {
                    self.expect_reserved("fi")?;
                    break;
                }
            }
        }
        Ok(Command::If { arms, otherwise })
    }

    fn do_group(&mut self) -> Result<List, ParseError> {
        self.expect_reserved("do")?;
        let body = self.list(&[])?;
        self.expect_reserved("done")?;
        Ok(body)
    }

    fn for_command(&mut self) -> Result<Command, ParseError> {
        self.at += 1;
        let Some(var) = self.peek_reserved().map(str::to_string) else {
            return Err(self.error("expected a variable name after 'for'".into()));
        };
        self.at += 1;
        self.skip_newlines();
        let mut items = None;
        if self.peek_reserved() == Some("in") {
            self.at += 1;
            let mut words = Vec::new();
            while let Some(Token {
                kind: Kind::Word(word),
                ..
            }) = self.peek()
            {
                words.push(word.clone());
                self.at += 1;
            }
            items = Some(words);
        }
        if self.peek_op() == Some(";") {
            self.at += 1;
        }
        let body = self.do_group()?;
        Ok(Command::For { var, items, body })
    }

    fn case_command(&mut self) -> Result<Command, ParseError> {
        self.at += 1;
        let word = match self.peek() {
            Some(Token {
                kind: Kind::Word(word),
                ..
            }) => word.clone(),
            _ => return Err(self.error("expected a word after 'case'".into())),
        };
        self.at += 1;
        self.expect_reserved("in")?;
        let mut arms = Vec::new();
        loop {
            self.skip_newlines();
            if self.peek_reserved() == Some("esac") {
                self.at += 1;
                break;
            }
            if self.peek_op() == Some("(") {
                self.at += 1;
            }
            let mut patterns = Vec::new();
            loop {
                match self.peek() {
                    Some(Token {
                        kind: Kind::Word(word),
                        ..
                    }) => {
                        patterns.push(word.clone());
                        self.at += 1;
                    }
                    _ => return Err(self.error("expected a case pattern".into())),
                }
                match self.peek_op() {
                    Some("|") => self.at += 1,
                    Some(")") => {
                        self.at += 1;
                        break;
                    }
                    _ => return Err(self.error("expected ')' after a case pattern".into())),
                }
            }
            let body = self.list(&["esac"])?;
            arms.push((patterns, body));
            self.skip_newlines();
            match self.peek_op() {
                Some(";;" | ";&") => self.at += 1,
                _ => {
                    self.expect_reserved("esac")?;
                    break;
                }
            }
        }
        Ok(Command::Case { word, arms })
    }
}

/// `NAME=value` at the start of a simple command.
fn split_assignment(word: &Word) -> Option<(String, Word)> {
    let Some(Part::Literal {
        text,
        quoted: false,
    }) = word.0.first()
    else {
        return None;
    };
    let (name, value) = text.split_once('=')?;
    let valid = name
        .chars()
        .enumerate()
        .all(|(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()));
    if name.is_empty() || !valid {
        return None;
    }
    let mut parts = Vec::new();
    if !value.is_empty() {
        parts.push(Part::Literal {
            text: value.to_string(),
            quoted: false,
        });
    }
    parts.extend(word.0[1..].iter().cloned());
    Some((name.to_string(), Word(parts)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(text: &str) -> Part {
        Part::Literal {
            text: text.into(),
            quoted: false,
        }
    }

    fn simple_words(list: &List) -> Vec<Vec<Word>> {
        let mut out = Vec::new();
        for and_or in list {
            for pipeline in std::iter::once(&and_or.first).chain(and_or.rest.iter().map(|r| &r.1)) {
                for command in &pipeline.commands {
                    if let Command::Simple(simple) = command {
                        out.push(simple.words.clone());
                    }
                }
            }
        }
        out
    }

    #[test]
    fn words_quotes_and_expansions() {
        let list =
            parse("chown \"root:$GROUP\" '/a b' ${X:-/c}/d $(dpkg-divert --truename /bin/ping)\n")
                .unwrap();
        let words = &simple_words(&list)[0];
        assert_eq!(words[0], Word(vec![lit("chown")]));
        assert_eq!(
            words[1].0,
            vec![
                Part::Literal {
                    text: "root:".into(),
                    quoted: true
                },
                Part::Param {
                    name: "GROUP".into(),
                    op: None,
                    quoted: true
                }
            ]
        );
        assert_eq!(words[2].literal().as_deref(), Some("/a b"));
        match &words[3].0[0] {
            Part::Param {
                name,
                op: Some((ParamOp::Default { colon: true }, word)),
                ..
            } => {
                assert_eq!(name, "X");
                assert_eq!(word.literal().as_deref(), Some("/c"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            words[4].0,
            vec![Part::CommandSubst {
                text: "dpkg-divert --truename /bin/ping".into(),
                quoted: false
            }]
        );
    }

    #[test]
    fn redirections_and_heredocs_are_dropped() {
        let script =
            "cat >/etc/x <<EOF\nchmod 777 /etc/shadow\nEOF\nchmod 2>/dev/null 600 /a >&2\n";
        let list = parse(script).unwrap();
        let words = simple_words(&list);
        assert_eq!(words.len(), 2);
        assert_eq!(words[0], vec![Word(vec![lit("cat")])]);
        let chmod: Vec<String> = words[1].iter().filter_map(Word::literal).collect();
        assert_eq!(chmod, ["chmod", "600", "/a"]);
    }

    #[test]
    fn compound_commands() {
        let script = r#"
set -e
f() {
    if ! dpkg-statoverride --list /x >/dev/null; then
        chgrp g /x
    elif [ -e /y ]; then :; else exit 1; fi
}
case "$1" in
    configure|reconfigure)
        for p in a b; do f "$p" || true; done
        ;;
    *) ;;
esac
while read A B; do echo $A; done < /etc/list
x=1 y="$x two"
"#;
        let list = parse(script).unwrap();
        assert_eq!(list.len(), 5);
        let Command::Function { name, body } = &list[1].first.commands[0] else {
            panic!("{:?}", list[1]);
        };
        assert_eq!(name, "f");
        let Command::Group(inner) = body.as_ref() else {
            panic!()
        };
        let Command::If { arms, otherwise } = &inner[0].first.commands[0] else {
            panic!()
        };
        assert_eq!(arms.len(), 2);
        assert!(arms[0].0[0].first.negated);
        assert!(otherwise.is_some());
        let Command::Case { arms, .. } = &list[2].first.commands[0] else {
            panic!()
        };
        assert_eq!(arms.len(), 2);
        assert_eq!(arms[0].0.len(), 2);
        let Command::Simple(assign) = &list[4].first.commands[0] else {
            panic!()
        };
        assert_eq!(assign.assignments.len(), 2);
        assert!(assign.words.is_empty());
    }

    #[test]
    fn bad_scripts_name_the_line() {
        let err = parse("if true; then\n  chmod 600 /a\n").unwrap_err();
        assert_eq!(err.line, 2, "{err}");
        assert!(parse("echo 'open\n").is_err());
        assert!(parse("cat <<EOF\nbody\n").is_err());
        assert!(parse("case x in a) ;; esac; fi\n").is_err());
    }
}
