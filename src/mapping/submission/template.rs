//! Document templates: the XML of an outbound message (a claim to a fund) filled from
//! the message header and a canonical JSON document, with every value XML-escaped,
//! optional parts and repeated parts. Compiled once; the dialect lives in the template,
//! never in Rust.
//!
//! Syntax (one tag per `{{ }}`):
//! - `{{form.claimant.officialName}}`, `{{messageId}}`: a value; absent or `null` is an
//!   error (wrap optional values in an `#if`); a list or an object is an error.
//! - `{{#if form.claimant.email}} … {{else}} … {{/if}}`: the part when the value is
//!   present and neither `null` nor `false`; `{{#if path == "text"}}` and `!=` compare a
//!   value with a literal.
//! - `{{#each form.children as child}} … {{child.vn}} … {{/each}}`: the part once per
//!   item of a list (none when the list is absent or `null`).
//!
//! A block tag alone on its line takes its line with it, so the output keeps the
//! template's layout. Paths start at a header name, `routing`, `form` or a loop variable
//! in scope; anything else is refused when the mapping loads.

use serde_json::Value;

use crate::mapping::request::push_escaped;

/// The header values a template may name at its top level (besides `routing`, `form`
/// and loop variables).
pub(crate) const HEADER_NAMES: &[&str] = &[
    "senderId",
    "recipientId",
    "messageId",
    "businessProcessId",
    "messageDate",
    "messageType",
    "testDeliveryFlag",
    "productVersion",
];

/// A template that cannot be compiled: where (line of the template) and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line} of the template: {message}")]
pub struct TemplateSyntaxError {
    /// 1-based line within the template text.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// A document that does not fill the template: which placeholder, and why. Never the
/// value itself (it may be an AHV number or a name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct RenderError {
    /// The placeholder's path as written in the template (`form.claimant.vn`).
    pub path: String,
    /// What is wrong with its value.
    pub problem: RenderProblem,
}

/// Why a value does not fill its placeholder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RenderProblem {
    /// The value is absent or `null`.
    #[error("required value is missing")]
    Missing,
    /// A list or object where text is needed.
    #[error("is a list or an object, not a value")]
    NotScalar,
    /// `#each` over something that is not a list.
    #[error("is not a list")]
    NotList,
}

#[derive(Clone, Debug)]
struct Path {
    /// Index into the loop-variable stack, or `None` for the top-level scope.
    var: Option<usize>,
    /// Steps after the root (for a top-level path: the root name first).
    steps: Vec<String>,
    /// As written, for errors.
    display: String,
}

#[derive(Clone, Debug)]
enum Cond {
    Present,
    Equals(String),
    Differs(String),
}

#[derive(Clone, Debug)]
enum Node {
    Text(String),
    Value(Path),
    If {
        path: Path,
        cond: Cond,
        then: Vec<Node>,
        otherwise: Vec<Node>,
    },
    Each {
        path: Path,
        body: Vec<Node>,
    },
}

/// A compiled document template.
#[derive(Clone, Debug)]
pub struct DocumentTemplate {
    nodes: Vec<Node>,
    size_hint: usize,
}

#[derive(Debug)]
enum Token {
    Text(String),
    Tag { text: String, line: usize },
}

impl DocumentTemplate {
    /// Parses `text`; unknown roots, unbalanced blocks and malformed tags are refused.
    /// (Well-formedness is checked by the caller on [`DocumentTemplate::sample`].)
    pub fn compile(text: &str) -> Result<DocumentTemplate, TemplateSyntaxError> {
        let text = text.trim_start();
        let mut tokens = tokenize(text)?;
        trim_standalone(&mut tokens);
        let mut parser = Parser {
            tokens: &tokens,
            at: 0,
            vars: Vec::new(),
        };
        let (nodes, end) = parser.block()?;
        if let Some((tag, line)) = end {
            return Err(syntax(line, format!("{{{{{tag}}}}} closes nothing")));
        }
        Ok(DocumentTemplate {
            nodes,
            size_hint: text.len() + 256,
        })
    }

    /// The document for `header` (an object of [`HEADER_NAMES`] and `routing`) and
    /// `form` (the canonical JSON document).
    pub fn render(&self, header: &Value, form: &Value) -> Result<String, RenderError> {
        let mut out = String::with_capacity(self.size_hint);
        let mut r = Renderer {
            header,
            form,
            vars: Vec::new(),
        };
        r.nodes(&self.nodes, &mut out)?;
        Ok(out)
    }

    /// A rendering with every value `x`, every `#if` part taken (`taken`) or not, and
    /// every `#each` part once (or never): both must be well-formed XML.
    pub fn sample(&self, taken: bool) -> String {
        let mut out = String::with_capacity(self.size_hint);
        sample_nodes(&self.nodes, taken, &mut out);
        out
    }
}

fn syntax(line: usize, message: impl Into<String>) -> TemplateSyntaxError {
    TemplateSyntaxError {
        line,
        message: message.into(),
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, TemplateSyntaxError> {
    let mut tokens = Vec::new();
    let mut rest = text;
    let mut line = 1;
    while let Some(start) = rest.find("{{") {
        let before = &rest[..start];
        line += before.matches('\n').count();
        tokens.push(Token::Text(before.to_owned()));
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| syntax(line, "a '{{' is never closed"))?;
        let tag = &after[..end];
        if tag.contains('\n') {
            return Err(syntax(line, "a tag spans lines"));
        }
        tokens.push(Token::Tag {
            text: tag.trim().to_owned(),
            line,
        });
        rest = &after[end + 2..];
    }
    tokens.push(Token::Text(rest.to_owned()));
    Ok(tokens)
}

fn is_block(tag: &str) -> bool {
    tag.starts_with('#') || tag.starts_with('/') || tag == "else"
}

/// A block tag with only blanks before it on its line and only blanks up to the end of
/// the line after it takes that whole line with it.
fn trim_standalone(tokens: &mut [Token]) {
    for i in 1..tokens.len().saturating_sub(1) {
        let Token::Tag { text, .. } = &tokens[i] else {
            continue;
        };
        if !is_block(text) {
            continue;
        }
        let (Token::Text(before), Token::Text(after)) = (&tokens[i - 1], &tokens[i + 1]) else {
            continue;
        };
        let line_start = before.rfind('\n').map_or(0, |p| p + 1);
        let blank_before = before[line_start..].chars().all(|c| c == ' ' || c == '\t');
        // At the very start of the template there is no newline before: only then may
        // the line start at offset 0.
        let starts_line = before.contains('\n') || (i == 1 && blank_before);
        let Some(nl) = after.find('\n') else {
            continue;
        };
        let blank_after = after[..nl]
            .chars()
            .all(|c| c == ' ' || c == '\t' || c == '\r');
        if blank_before && starts_line && blank_after {
            if let Token::Text(before) = &mut tokens[i - 1] {
                before.truncate(line_start);
            }
            if let Token::Text(after) = &mut tokens[i + 1] {
                after.replace_range(..=nl, "");
            }
        }
    }
}

struct Parser<'t> {
    tokens: &'t [Token],
    at: usize,
    vars: Vec<String>,
}

impl Parser<'_> {
    /// Nodes up to the end or to a closing tag (`/if`, `/each`, `else`), returned with it.
    #[allow(clippy::type_complexity)]
    fn block(&mut self) -> Result<(Vec<Node>, Option<(String, usize)>), TemplateSyntaxError> {
        let mut nodes = Vec::new();
        while let Some(token) = self.tokens.get(self.at) {
            self.at += 1;
            let (tag, line) = match token {
                Token::Text(t) => {
                    if !t.is_empty() {
                        nodes.push(Node::Text(t.clone()));
                    }
                    continue;
                }
                Token::Tag { text, line } => (text.as_str(), *line),
            };
            if tag.starts_with('/') || tag == "else" {
                return Ok((nodes, Some((tag.to_owned(), line))));
            }
            if let Some(rest) = tag.strip_prefix("#if ") {
                nodes.push(self.if_block(rest.trim(), line)?);
            } else if let Some(rest) = tag.strip_prefix("#each ") {
                nodes.push(self.each_block(rest.trim(), line)?);
            } else if tag.starts_with('#') {
                return Err(syntax(
                    line,
                    format!("unknown block {{{{{tag}}}}}; known: #if, #each"),
                ));
            } else {
                nodes.push(Node::Value(self.path(tag, line)?));
            }
        }
        Ok((nodes, None))
    }

    fn if_block(&mut self, spec: &str, line: usize) -> Result<Node, TemplateSyntaxError> {
        let (path, cond) = if let Some((p, lit)) = spec.split_once("==") {
            (p.trim(), Cond::Equals(literal(lit, line)?))
        } else if let Some((p, lit)) = spec.split_once("!=") {
            (p.trim(), Cond::Differs(literal(lit, line)?))
        } else {
            (spec, Cond::Present)
        };
        let path = self.path(path, line)?;
        let (then, end) = self.block()?;
        let (otherwise, end) = match end {
            Some((t, _)) if t == "else" => self.block()?,
            other => (Vec::new(), other),
        };
        if !matches!(end, Some((t, _)) if t == "/if") {
            return Err(syntax(line, "this #if is not closed by {{/if}}"));
        }
        Ok(Node::If {
            path,
            cond,
            then,
            otherwise,
        })
    }

    fn each_block(&mut self, spec: &str, line: usize) -> Result<Node, TemplateSyntaxError> {
        let Some((path, var)) = spec.split_once(" as ") else {
            return Err(syntax(line, "write {{#each LIST as NAME}}"));
        };
        let var = var.trim();
        if !is_name(var) || self.vars.iter().any(|v| v == var) || is_root(var) {
            return Err(syntax(
                line,
                format!("{var:?} is not a free name for the loop variable"),
            ));
        }
        let path = self.path(path.trim(), line)?;
        self.vars.push(var.to_owned());
        let (body, end) = self.block()?;
        self.vars.pop();
        match end {
            Some((t, _)) if t == "/each" => Ok(Node::Each { path, body }),
            _ => Err(syntax(line, "this #each is not closed by {{/each}}")),
        }
    }

    fn path(&self, text: &str, line: usize) -> Result<Path, TemplateSyntaxError> {
        let steps: Vec<&str> = text.split('.').collect();
        if !steps.iter().all(|s| is_name(s)) {
            return Err(syntax(
                line,
                format!("{text:?} is not a path like form.a.b"),
            ));
        }
        let root = steps[0];
        if let Some(i) = self.vars.iter().rposition(|v| v == root) {
            return Ok(Path {
                var: Some(i),
                steps: steps[1..].iter().map(|s| (*s).to_owned()).collect(),
                display: text.to_owned(),
            });
        }
        if !is_root(root) {
            let mut known: Vec<&str> = HEADER_NAMES.to_vec();
            known.extend(["routing", "form"]);
            known.extend(self.vars.iter().map(String::as_str));
            return Err(syntax(
                line,
                format!("unknown name {root:?}; known: {}", known.join(", ")),
            ));
        }
        Ok(Path {
            var: None,
            steps: steps.iter().map(|s| (*s).to_owned()).collect(),
            display: text.to_owned(),
        })
    }
}

fn is_root(name: &str) -> bool {
    HEADER_NAMES.contains(&name) || name == "routing" || name == "form"
}

fn is_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn literal(text: &str, line: usize) -> Result<String, TemplateSyntaxError> {
    let t = text.trim();
    t.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .filter(|t| !t.contains('"'))
        .map(str::to_owned)
        .ok_or_else(|| syntax(line, format!("{t} is not a \"quoted\" literal")))
}

struct Renderer<'v> {
    header: &'v Value,
    form: &'v Value,
    vars: Vec<&'v Value>,
}

impl<'v> Renderer<'v> {
    fn lookup(&self, path: &Path) -> Option<&'v Value> {
        let (mut at, steps) = match path.var {
            Some(i) => (*self.vars.get(i)?, &path.steps[..]),
            None if path.steps[0] == "form" => (self.form, &path.steps[1..]),
            None => (self.header, &path.steps[..]),
        };
        for step in steps {
            at = at.get(step)?;
        }
        Some(at).filter(|v| !v.is_null())
    }

    fn nodes(&mut self, nodes: &'v [Node], out: &mut String) -> Result<(), RenderError> {
        for node in nodes {
            match node {
                Node::Text(t) => out.push_str(t),
                Node::Value(path) => {
                    let err = |problem| RenderError {
                        path: path.display.clone(),
                        problem,
                    };
                    let value = self.lookup(path).ok_or(err(RenderProblem::Missing))?;
                    let text = scalar(value).ok_or(err(RenderProblem::NotScalar))?;
                    push_escaped(out, &text);
                }
                Node::If {
                    path,
                    cond,
                    then,
                    otherwise,
                } => {
                    let value = self.lookup(path);
                    let taken = match cond {
                        Cond::Present => value.is_some_and(|v| *v != Value::Bool(false)),
                        Cond::Equals(lit) => value.and_then(scalar).is_some_and(|s| s == *lit),
                        Cond::Differs(lit) => value.and_then(scalar).is_none_or(|s| s != *lit),
                    };
                    self.nodes(if taken { then } else { otherwise }, out)?;
                }
                Node::Each { path, body } => {
                    let Some(value) = self.lookup(path) else {
                        continue;
                    };
                    let items = value.as_array().ok_or(RenderError {
                        path: path.display.clone(),
                        problem: RenderProblem::NotList,
                    })?;
                    for item in items {
                        self.vars.push(item);
                        let result = self.nodes(body, out);
                        self.vars.pop();
                        result?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// A string as is; a number or a boolean as JSON writes it; nothing for the rest.
fn scalar(v: &Value) -> Option<std::borrow::Cow<'_, str>> {
    match v {
        Value::String(s) => Some(s.as_str().into()),
        Value::Number(n) => Some(n.to_string().into()),
        Value::Bool(b) => Some(if *b { "true" } else { "false" }.into()),
        _ => None,
    }
}

fn sample_nodes(nodes: &[Node], taken: bool, out: &mut String) {
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Value(_) => out.push('x'),
            Node::If {
                then, otherwise, ..
            } => sample_nodes(if taken { then } else { otherwise }, taken, out),
            Node::Each { body, .. } => {
                if taken {
                    sample_nodes(body, taken, out);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn render(template: &str, form: Value) -> Result<String, RenderError> {
        let t = DocumentTemplate::compile(template).expect("compiles");
        t.render(
            &json!({"messageId": "m-1", "routing": {"rule": "r"}}),
            &form,
        )
    }

    #[test]
    fn values_are_escaped_and_optional_parts_follow_the_document() {
        let t = "<a>{{messageId}}{{#if form.x}}<x>{{form.x}}</x>{{/if}}</a>";
        assert_eq!(
            render(t, json!({"x": "<&\"'>"})).expect("renders"),
            "<a>m-1<x>&lt;&amp;&quot;&apos;&gt;</x></a>"
        );
        assert_eq!(render(t, json!({})).expect("renders"), "<a>m-1</a>");
        assert_eq!(
            render(t, json!({"x": null})).expect("renders"),
            "<a>m-1</a>"
        );
    }

    #[test]
    fn lists_repeat_their_part_with_the_loop_variable() {
        let t = "<a>{{#each form.kids as k}}<k n=\"{{k.n}}\">{{routing.rule}}</k>{{/each}}</a>";
        let out = render(t, json!({"kids": [{"n": 1}, {"n": "two"}]})).expect("renders");
        assert_eq!(out, "<a><k n=\"1\">r</k><k n=\"two\">r</k></a>");
        assert_eq!(render(t, json!({})).expect("renders"), "<a></a>");
        let err = render(t, json!({"kids": {"n": 1}})).expect_err("not a list");
        assert_eq!(err.problem, RenderProblem::NotList);
        assert_eq!(err.path, "form.kids");
    }

    #[test]
    fn comparisons_and_else_choose_a_part() {
        let t = "{{#if form.k == \"a\"}}A{{else}}{{#if form.k != \"b\"}}C{{else}}B{{/if}}{{/if}}";
        assert_eq!(render(t, json!({"k": "a"})).expect("a"), "A");
        assert_eq!(render(t, json!({"k": "b"})).expect("b"), "B");
        assert_eq!(render(t, json!({})).expect("none"), "C");
        assert_eq!(render(t, json!({"k": true})).expect("bool"), "C");
    }

    #[test]
    fn missing_values_and_objects_are_errors_naming_the_placeholder_not_the_value() {
        let err = render("<a>{{form.vn}}</a>", json!({})).expect_err("missing");
        assert_eq!(err.to_string(), "form.vn: required value is missing");
        let err = render("<a>{{form.p}}</a>", json!({"p": {"secret": "756"}})).expect_err("object");
        assert!(!err.to_string().contains("756"), "{err}");
        assert_eq!(err.problem, RenderProblem::NotScalar);
    }

    #[test]
    fn block_tags_alone_on_their_line_take_the_line_with_them() {
        let t = "<a>\n  {{#if form.x}}\n  <x/>\n  {{/if}}\n</a>\n";
        assert_eq!(
            render(t, json!({"x": 1})).expect("x"),
            "<a>\n  <x/>\n</a>\n"
        );
        assert_eq!(render(t, json!({})).expect("none"), "<a>\n</a>\n");
    }

    #[test]
    fn bad_templates_are_refused_with_their_line() {
        let cases = [
            ("<a>\n{{form.x</a>", 2, "never closed"),
            ("<a>{{nobody.x}}</a>", 1, "unknown name \"nobody\""),
            ("<a>\n\n{{#if form.x}}</a>", 3, "not closed"),
            ("<a>{{/if}}</a>", 1, "closes nothing"),
            ("<a>{{#each form.x}}{{/each}}</a>", 1, "as NAME"),
            ("{{#each form.x as form}}{{/each}}", 1, "not a free name"),
            ("{{#while form.x}}", 1, "unknown block"),
            ("{{#if form.x == a}}{{/if}}", 1, "quoted"),
            ("{{form..x}}", 1, "not a path"),
            (
                "{{#each form.a as k}}{{/each}}{{k.x}}",
                1,
                "unknown name \"k\"",
            ),
        ];
        for (text, line, needle) in cases {
            let err = DocumentTemplate::compile(text).expect_err(text);
            assert_eq!(err.line, line, "{text}: {err}");
            assert!(err.message.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn samples_take_every_part_or_none() {
        let t = DocumentTemplate::compile(
            "<a>{{#if form.x}}<x>{{form.x}}</x>{{else}}<y/>{{/if}}{{#each form.l as i}}<i/>{{/each}}</a>",
        )
        .expect("compiles");
        assert_eq!(t.sample(true), "<a><x>x</x><i/></a>");
        assert_eq!(t.sample(false), "<a><y/></a>");
    }
}
