//! A check of alerting-rule label and annotation templates, after Go's
//! `text/template` parser as Prometheus runs it (`ParseTest`): actions
//! closed, quoted strings and comments terminated, parentheses balanced,
//! `if`/`range`/`with`/`define`/`block` closed by `end`, `else`, `break`
//! and `continue` where they belong, every function one that Prometheus
//! defines and every variable declared (`$labels`, `$externalLabels`,
//! `$externalURL` and `$value` are, as Prometheus prepends them).
//!
//! It is not a full parser: the shapes of arguments (e.g. a `define`
//! without a name string) are not checked, so some templates Go refuses
//! pass here; none that Go accepts is refused. Messages are Go's:
//! `template: __alert_<name>:<line>: <message>`.

/// Functions a Prometheus template may call: Go's builtins and those
/// `template.NewTemplateExpander` adds.
const FUNCTIONS: &[&str] = &[
    // text/template builtins.
    "and",
    "call",
    "html",
    "index",
    "slice",
    "js",
    "len",
    "not",
    "or",
    "print",
    "printf",
    "println",
    "urlquery",
    "eq",
    "ge",
    "gt",
    "le",
    "lt",
    "ne",
    // Prometheus.
    "query",
    "first",
    "label",
    "value",
    "strvalue",
    "args",
    "reReplaceAll",
    "safeHtml",
    "match",
    "title",
    "toUpper",
    "toLower",
    "graphLink",
    "tableLink",
    "sortByLabel",
    "stripPort",
    "stripDomain",
    "humanize",
    "humanize1024",
    "humanizeDuration",
    "humanizePercentage",
    "humanizeTimestamp",
    "toTime",
    "toDuration",
    "now",
    "pathPrefix",
    "externalURL",
    "parseDuration",
    "urlQueryEscape",
    "tmpl",
];

/// Variables Prometheus declares before the template text.
const PREDEFINED: &[&str] = &["$", "$labels", "$externalLabels", "$externalURL", "$value"];

/// Checks `text` as the template of alert `alert`.
pub(crate) fn check(text: &str, alert: &str) -> Result<(), String> {
    let mut p = Parser {
        vars: PREDEFINED.iter().map(|v| v.to_string()).collect(),
        blocks: Vec::new(),
    };
    p.run(text)
        .map_err(|(line, msg)| format!("template: __alert_{alert}:{line}: {msg}"))
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Var(String),
    /// `.`, `.Field`, `$x.Field`'s `.Field`, literals: operands that need
    /// no check.
    Operand,
    Pipe,
    Declare,
    Assign,
    Comma,
    LParen,
    RParen,
    Char(char),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Block {
    If,
    Range,
    With,
    Define,
    /// `{{block "name" pipeline}}`.
    Named,
}

struct Parser {
    vars: Vec<String>,
    /// Open control structures and how many variables were declared
    /// before each (its variables go out of scope at its `end`).
    blocks: Vec<(Block, usize)>,
}

type Fail = (usize, String);

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

impl Parser {
    fn run(&mut self, text: &str) -> Result<(), Fail> {
        let chars: Vec<char> = text.chars().collect();
        let mut i = 0;
        let mut line = 1;
        // Text up to the next action.
        while let Some(open) = find(&chars, i, "{{") {
            line += count_newlines(&chars[i..open]);
            let start_line = line;
            let mut j = open + 2;
            // `{{- ` trims the text before; the dash needs a space after.
            if chars.get(j) == Some(&'-') && chars.get(j + 1).is_some_and(|c| is_space(*c)) {
                j += 2;
            }
            if starts_with(&chars, j, "/*") {
                let Some(close) = find(&chars, j + 2, "*/") else {
                    return Err((start_line, "unclosed comment".into()));
                };
                line += count_newlines(&chars[j..close]);
                let mut k = close + 2;
                if starts_with(&chars, k, " -") {
                    k += 2;
                }
                if !starts_with(&chars, k, "}}") {
                    return Err((line, "comment ends before closing delimiter".into()));
                }
                i = k + 2;
                continue;
            }
            let (tokens, end, end_line) = lex_action(&chars, j, line)?;
            self.action(&tokens, line)?;
            line = end_line;
            i = end;
        }
        if !self.blocks.is_empty() {
            return Err((line, "unexpected EOF".into()));
        }
        Ok(())
    }

    fn declared(&self, v: &str) -> bool {
        self.vars.iter().any(|d| d == v)
    }

    /// One action's tokens.
    fn action(&mut self, toks: &[Tok], line: usize) -> Result<(), Fail> {
        let fail = |msg: String| Err((line, msg));
        let keyword = match toks.first() {
            None => return fail("missing value for command".into()),
            Some(Tok::Ident(w)) => w.as_str(),
            Some(_) => "",
        };
        match keyword {
            "if" | "range" | "with" => {
                let block = match keyword {
                    "if" => Block::If,
                    "range" => Block::Range,
                    _ => Block::With,
                };
                self.blocks.push((block, self.vars.len()));
                if toks.len() == 1 {
                    return fail(format!("missing value for {keyword}"));
                }
                self.pipeline(&toks[1..], line)
            }
            "else" => {
                match self.blocks.last() {
                    Some((Block::If | Block::Range | Block::With, _)) => {}
                    _ => return fail("unexpected {{else}}".into()),
                }
                match toks.get(1) {
                    None => Ok(()),
                    Some(Tok::Ident(w)) if w == "if" || w == "with" => {
                        if toks.len() == 2 {
                            return fail(format!("missing value for {w}"));
                        }
                        self.pipeline(&toks[2..], line)
                    }
                    Some(_) => fail("unexpected token in else".into()),
                }
            }
            "end" => match self.blocks.pop() {
                Some((_, vars)) => {
                    self.vars.truncate(vars);
                    if toks.len() > 1 {
                        return fail("unexpected token in end".into());
                    }
                    Ok(())
                }
                None => fail("unexpected {{end}}".into()),
            },
            "define" | "block" => {
                let block = if keyword == "define" {
                    Block::Define
                } else {
                    Block::Named
                };
                self.blocks.push((block, self.vars.len()));
                self.operands(&toks[1..], line)
            }
            "template" => self.operands(&toks[1..], line),
            "break" | "continue" => {
                if !self.blocks.iter().any(|(b, _)| *b == Block::Range) {
                    return fail(format!("{{{{{keyword}}}}} outside {{{{range}}}}"));
                }
                Ok(())
            }
            _ => self.pipeline(toks, line),
        }
    }

    /// `[$x[, $y] :=|=] command | command ...`.
    fn pipeline(&mut self, toks: &[Tok], line: usize) -> Result<(), Fail> {
        let mut rest = toks;
        // Declarations: `$x :=`, `$i, $e :=`, or an assignment `$x =`.
        let decl_end = toks
            .iter()
            .position(|t| matches!(t, Tok::Declare | Tok::Assign));
        if let Some(end) = decl_end {
            let names = &toks[..end];
            let all_vars = !names.is_empty()
                && names
                    .iter()
                    .enumerate()
                    .all(|(k, t)| matches!(t, Tok::Var(_)) == (k % 2 == 0))
                && names.len() % 2 == 1
                && names.iter().skip(1).step_by(2).all(|t| *t == Tok::Comma);
            if all_vars {
                let declare = toks[end] == Tok::Declare;
                for t in names.iter().step_by(2) {
                    if let Tok::Var(v) = t {
                        if declare {
                            self.vars.push(v.clone());
                        } else if !self.declared(v) {
                            return Err((line, format!("undefined variable {}", crate::quote(v))));
                        }
                    }
                }
                rest = &toks[end + 1..];
            }
        }
        for command in rest.split(|t| *t == Tok::Pipe) {
            if command.is_empty() {
                return Err((line, "missing value for command".into()));
            }
            self.operands(command, line)?;
        }
        Ok(())
    }

    fn operands(&self, toks: &[Tok], line: usize) -> Result<(), Fail> {
        for t in toks {
            match t {
                Tok::Ident(f) => match f.as_str() {
                    "true" | "false" | "nil" => {}
                    _ if FUNCTIONS.contains(&f.as_str()) => {}
                    _ => {
                        return Err((line, format!("function {} not defined", crate::quote(f))));
                    }
                },
                Tok::Var(v) if !self.declared(v) => {
                    return Err((line, format!("undefined variable {}", crate::quote(v))));
                }
                Tok::Char(c) => {
                    return Err((
                        line,
                        format!("unexpected {} in operand", crate::quote(&c.to_string())),
                    ));
                }
                Tok::Declare | Tok::Assign => {
                    return Err((line, "unexpected assignment in operand".into()));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

fn starts_with(chars: &[char], at: usize, s: &str) -> bool {
    (at..).zip(s.chars()).all(|(k, c)| chars.get(k) == Some(&c))
}

fn find(chars: &[char], from: usize, s: &str) -> Option<usize> {
    (from..chars.len()).find(|&k| starts_with(chars, k, s))
}

fn count_newlines(chars: &[char]) -> usize {
    chars.iter().filter(|c| **c == '\n').count()
}

/// Lexes an action from `at` (past `{{` and any trim marker) up to its
/// `}}`; returns the tokens, the index past the delimiter and the line
/// there.
fn lex_action(
    chars: &[char],
    at: usize,
    mut line: usize,
) -> Result<(Vec<Tok>, usize, usize), Fail> {
    let mut toks = Vec::new();
    let mut i = at;
    let mut parens = 0usize;
    loop {
        // ` -}}` trims the text after; `}}` ends the action.
        let end = if starts_with(chars, i, " -}}") {
            Some(i + 4)
        } else if starts_with(chars, i, "}}") {
            Some(i + 2)
        } else {
            None
        };
        if let Some(end) = end {
            if parens > 0 {
                return Err((line, "unclosed left paren".into()));
            }
            return Ok((toks, end, line));
        }
        let Some(&c) = chars.get(i) else {
            return Err((line, "unclosed action".into()));
        };
        i += 1;
        match c {
            c if is_space(c) => {
                if c == '\n' {
                    line += 1;
                }
            }
            '=' => toks.push(Tok::Assign),
            ':' => {
                if chars.get(i) != Some(&'=') {
                    return Err((line, "expected :=".into()));
                }
                i += 1;
                toks.push(Tok::Declare);
            }
            '|' => toks.push(Tok::Pipe),
            ',' => toks.push(Tok::Comma),
            '"' => {
                loop {
                    match chars.get(i) {
                        None | Some('\n') => {
                            return Err((line, "unterminated quoted string".into()));
                        }
                        Some('\\') => i += 2,
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some(_) => i += 1,
                    }
                }
                toks.push(Tok::Operand);
            }
            '`' => {
                loop {
                    match chars.get(i) {
                        None => return Err((line, "unterminated raw quoted string".into())),
                        Some('`') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            if *ch == '\n' {
                                line += 1;
                            }
                            i += 1;
                        }
                    }
                }
                toks.push(Tok::Operand);
            }
            '\'' => {
                loop {
                    match chars.get(i) {
                        None | Some('\n') => {
                            return Err((line, "unterminated character constant".into()));
                        }
                        Some('\\') => i += 2,
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(_) => i += 1,
                    }
                }
                toks.push(Tok::Operand);
            }
            '$' => {
                let start = i - 1;
                while chars.get(i).is_some_and(|c| is_alnum(*c)) {
                    i += 1;
                }
                toks.push(Tok::Var(chars[start..i].iter().collect()));
            }
            '.' => {
                // `.`, `.Field`, or a number such as `.5`.
                while chars.get(i).is_some_and(|c| is_alnum(*c)) {
                    i += 1;
                }
                toks.push(Tok::Operand);
            }
            '(' => {
                parens += 1;
                toks.push(Tok::LParen);
            }
            ')' => {
                if parens == 0 {
                    return Err((line, "unexpected right paren".into()));
                }
                parens -= 1;
                toks.push(Tok::RParen);
            }
            c if c == '+' || c == '-' || c.is_ascii_digit() => {
                while chars
                    .get(i)
                    .is_some_and(|c| is_alnum(*c) || matches!(c, '.' | '+' | '-'))
                {
                    i += 1;
                }
                toks.push(Tok::Operand);
            }
            c if is_alnum(c) => {
                let start = i - 1;
                while chars.get(i).is_some_and(|c| is_alnum(*c)) {
                    i += 1;
                }
                toks.push(Tok::Ident(chars[start..i].iter().collect()));
            }
            c if c.is_ascii() && !c.is_ascii_control() => toks.push(Tok::Char(c)),
            c => {
                return Err((
                    line,
                    format!("unrecognized character in action: U+{:04X} '{c}'", c as u32),
                ));
            }
        }
    }
}
